"""``clickstream produce``: the producer's sub-command."""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from dataclasses import asdict
from typing import Any

from clickstream.cli import CliError
from clickstream.config import LocalSettings
from producer import defects
from producer.api import (
    DEFAULT_EVENTS,
    DEFAULT_MAX_EVENTS_PER_FILE,
    DEFAULT_SEED,
    DEFAULT_SIMULATED_RATE,
    produce,
)
from producer.errors import ProducerError
from producer.sinks import Sink
from producer.sinks.local import LocalSink

SINKS = ("local", "azure")
CREDENTIALS = ("managed-identity", "default", "connection-string")

_RATES = ", ".join(f"{kind} {rate:g}" for kind, rate in defects.DEFAULT_RATES.items())
EPILOG = (
    textwrap.fill(f"defect kinds (default rate per line): {_RATES}", 92)
    + """

Settings may also come from the environment: CLICKSTREAM_SINK, CLICKSTREAM_AZURE_ACCOUNT_URL,
CLICKSTREAM_AZURE_CONTAINER, CLICKSTREAM_AZURE_CREDENTIAL, CLICKSTREAM_AZURE_PREFIX; the
connection-string credential reads AZURE_STORAGE_CONNECTION_STRING.
"""
)


def register(subparsers: Any) -> None:
    """Add ``produce`` to the ``clickstream`` command."""
    parser = subparsers.add_parser(
        "produce",
        help="write realistic clickstream events to the landing zone",
        description="Simulate a shop's visitors and write their events as NDJSON files, with "
        "late, duplicate, malformed and drifting lines mixed in (see --clean). Deterministic: "
        "the same --seed and --start give byte-identical files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Numbers are parsed by run() so that a bad value gets the one-line error of the CLI.
    parser.add_argument(
        "--events",
        metavar="N",
        default=str(DEFAULT_EVENTS),
        help=f"number of event lines in all (default {DEFAULT_EVENTS})",
    )
    parser.add_argument(
        "--seed",
        metavar="S",
        default=str(DEFAULT_SEED),
        help=f"random seed (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="landing folder of the local sink (default $CLICKSTREAM_HOME/landing)",
    )
    parser.add_argument(
        "--rate",
        metavar="EPS",
        help="events per second, simulated and real: files land at this pace; "
        f"default: as fast as possible, simulating {DEFAULT_SIMULATED_RATE:g} ev/s",
    )
    parser.add_argument(
        "--batches",
        metavar="K",
        default="1",
        help="split the events into K batches, one manifest each (default 1)",
    )
    parser.add_argument(
        "--max-events-per-file",
        metavar="M",
        default=str(DEFAULT_MAX_EVENTS_PER_FILE),
        help=f"lines per file at most (default {DEFAULT_MAX_EVENTS_PER_FILE})",
    )
    parser.add_argument(
        "--start",
        metavar="ISO|now",
        help="start of the simulated clock (default 2026-11-02T08:00:00Z)",
    )
    parser.add_argument("--clean", action="store_true", help="inject no defects at all")
    parser.add_argument(
        "--defect",
        metavar="KIND=RATE",
        action="append",
        default=[],
        help="set one defect kind's rate (0-1 or off; KIND may be 'all'); "
        "repeatable, applied after --clean",
    )
    parser.add_argument(
        "--sink",
        metavar="{local,azure}",
        default=os.environ.get("CLICKSTREAM_SINK", "local"),
        help="where files go (default local)",
    )
    parser.add_argument(
        "--account-url",
        metavar="URL",
        default=os.environ.get("CLICKSTREAM_AZURE_ACCOUNT_URL"),
        help="Azure: https://<account>.blob.core.windows.net",
    )
    parser.add_argument(
        "--container",
        metavar="NAME",
        default=os.environ.get("CLICKSTREAM_AZURE_CONTAINER"),
        help="Azure: the blob container (must exist)",
    )
    parser.add_argument(
        "--credential",
        metavar="{managed-identity,default,connection-string}",
        default=os.environ.get("CLICKSTREAM_AZURE_CREDENTIAL", "managed-identity"),
        help="Azure: how to authenticate (default managed-identity)",
    )
    parser.add_argument(
        "--prefix",
        metavar="PATH",
        default=os.environ.get("CLICKSTREAM_AZURE_PREFIX", ""),
        help="Azure: folder inside the container for the files (default: root)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it only shows on a terminal anyway)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON instead of a summary line"
    )
    parser.set_defaults(func=run)  # fmt: skip


def _number(flag: str, text: str | None, kind: type) -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise CliError(f"{flag} must be {noun}, got {text!r}") from None


def _sink(args: argparse.Namespace, settings: LocalSettings) -> Sink:
    if args.sink not in SINKS:
        raise CliError(f"--sink must be one of {', '.join(SINKS)}, got {args.sink!r}")
    if args.sink == "local":
        return LocalSink(args.out or settings.landing)
    if args.out:
        raise CliError(
            "--out is for the local sink; with --sink azure use --container and --prefix"
        )
    if args.credential not in CREDENTIALS:
        raise CliError(f"--credential must be one of {', '.join(CREDENTIALS)}")
    from producer.sinks.azure import AzureBlobSink

    return AzureBlobSink(
        account_url=args.account_url,
        container=args.container or "",
        credential=args.credential,
        prefix=args.prefix,
    )


def run(args: argparse.Namespace, settings: LocalSettings) -> int:
    events = _number("--events", args.events, int)
    seed = _number("--seed", args.seed, int)
    rate = _number("--rate", args.rate, float)
    batches = _number("--batches", args.batches, int)
    per_file = _number("--max-events-per-file", args.max_events_per_file, int)
    try:
        overrides = dict(defects.parse_defect_option(text) for text in args.defect)
        defects.resolve_rates(args.clean, overrides)  # fail on a bad kind before connecting
        sink = _sink(args, settings)
        try:
            result = produce(
                events=events,
                seed=seed,
                sink=sink,
                batches=batches,
                rate=rate,
                start=args.start,
                clean=args.clean,
                defect_rates=overrides,
                max_events_per_file=per_file,
                progress=False if args.no_progress else None,
            )
        finally:
            sink.close()
    except ProducerError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(result.summary())
    return 0
