"""The ``clickstream`` command."""

from __future__ import annotations

import argparse
import importlib
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from clickstream import faults
from clickstream.config import EVENT_LOG_TABLE, LocalSettings
from clickstream.engine import EngineError

# Sub-commands that live with the code they drive. Each module exposes
# ``register(subparsers) -> None``; the sub-parser it adds sets ``func(args, settings) -> int``.
EXTENSION_MODULES: tuple[str, ...] = (
    "producer.cli",  # clickstream produce
    "clickstream.databricks_cli",  # clickstream databricks run|status|events
    "clickstream.privacy.cli",  # clickstream forget-user
)


class CliError(Exception):
    """An expected failure: printed as one line, exit code 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _table_list(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def _stop_on_first_interrupt() -> threading.Event:
    """The first Ctrl-C (SIGINT) asks the loop to stop between updates; the second interrupts.

    An update interrupted half-way is safe (exactly-once restarts) but leaves its work to the
    next run, and a KeyboardInterrupt raised inside a blocking engine call may not unwind
    promptly: a stop between updates is the clean way out.
    """
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    return stop


def cmd_run(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream.engine import Lakehouse
    from clickstream.observability.terminal import RunProgress, print_summary
    from clickstream.runner import PipelineRunner, UpdateResult, run_continuously

    if args.continuous and args.full_refresh:
        raise CliError(
            "--continuous and --full-refresh don't mix: a loop of full refreshes "
            "would recompute everything in every update",
            code=2,
        )

    def show_result(result: UpdateResult) -> None:
        outcome = "completed" if result.ok else f"FAILED: {result.error}"
        print(f"update {result.update_id} {outcome} in {result.duration_s:.1f} s", flush=True)
        for warning in result.warnings:
            print(f"clickstream: warning: {warning}", file=sys.stderr, flush=True)

    with Lakehouse.open(settings) as lakehouse:
        runner = PipelineRunner(lakehouse)
        if args.continuous:
            scope = f" of {', '.join(args.refresh)}" if args.refresh else ""
            print(
                f"running an update{scope} every {args.interval:g} s; Ctrl-C stops after the "
                "current update (twice: at once)",
                flush=True,
            )
            stop = _stop_on_first_interrupt()
            results = run_continuously(
                runner,
                args.interval,
                args.max_updates,
                on_result=show_result,
                stop=stop,
                refresh=args.refresh or (),
            )
            if stop.is_set():
                print("clickstream: interrupted, stopped after the last update", file=sys.stderr)
                return 130
            return 0 if all(r.ok for r in results) else 1
        with RunProgress(quiet=args.quiet) as progress:
            result = runner.run(
                full_refresh_all=args.full_refresh,
                refresh=args.refresh or (),
                on_event=progress.on_event,
                wait_seconds=args.wait,
            )
        if not args.quiet:
            print_summary(result)
        show_result(result)
        return 0 if result.ok else 1


def cmd_sql(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream import sqlout
    from clickstream.engine import Lakehouse
    from clickstream.query import run_query

    with Lakehouse.open(settings) as lakehouse:
        columns, rows = run_query(lakehouse.spark, args.query, settings.database)
    if args.json:
        for line in sqlout.json_lines(columns, rows):
            print(line)
    else:
        print(sqlout.text_table(columns, rows))
    return 0


def cmd_server(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream import server

    if args.action == "start":
        started = time.monotonic()
        info = server.start(settings)
        print(
            f"{server.describe(info, settings.home)} (ready in {time.monotonic() - started:.1f} s)"
        )
    elif args.action == "stop":
        stopped = server.stop(settings)
        print(f"server for {settings.home} {'stopped' if stopped else 'was not running'}")
    else:
        info = server.status(settings)
        print(server.describe(info, settings.home))
        return 0 if info is not None else 3
    return 0


def cmd_reset(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream import server
    from clickstream.engine import busy_message
    from clickstream.locks import FileLock, LockBusy

    home = settings.home
    if not home.exists():
        print(f"nothing to delete: {home} does not exist")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"refusing to delete {home} without confirmation: pass --yes")
        answer = input(f"Delete the lakehouse home {home} and every table in it? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("kept")
            return 1
    server.stop(settings)
    try:
        FileLock(settings.owner_file).acquire({"kind": "reset"}).release()
    except LockBusy as busy:
        raise CliError(busy_message(settings, busy.holder)) from None
    shutil.rmtree(home)
    print(f"deleted {home}")
    return 0


def cmd_lineage(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream.observability.lineage import Lineage

    path = settings.pipeline_storage() / "lineage.json"
    if not path.is_file():
        raise CliError(f"no lineage yet for database {settings.database!r}: run `clickstream run`")
    lineage = Lineage.from_json(path.read_text())
    if args.json:
        print(lineage.to_json())
        return 0
    for edge in sorted(lineage.edges, key=lambda e: (e.target, e.source, e.streaming)):
        arrow = "=stream=>" if edge.streaming else "--read-->"
        kind = lineage.datasets.get(edge.target, "?")
        print(f"{edge.source} {arrow} {edge.target} ({kind})")
    return 0


def cmd_report(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream.engine import Lakehouse
    from clickstream.observability.report import write_report

    with Lakehouse.open(settings) as lakehouse:
        path = write_report(lakehouse.spark, settings, settings.database, args.out)
    print(path)
    return 0


def cmd_events(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream.engine import Lakehouse
    from clickstream.observability import event_log
    from clickstream.query import use_database

    with Lakehouse.open(settings) as lakehouse:
        use_database(lakehouse.spark, settings.database)
        if not lakehouse.spark.catalog.tableExists(f"{settings.database}.{EVENT_LOG_TABLE}"):
            raise CliError(
                f"no event log yet for database {settings.database!r}: run `clickstream run`"
            )
        events = event_log.read_events(
            lakehouse.spark, settings.database, args.update, args.level, args.limit
        )
    for line in event_log.tail_lines(events):
        print(line)
    return 0


def cmd_demo(args: argparse.Namespace, settings: LocalSettings) -> int:
    from clickstream.demo import run_demo

    return run_demo(settings, events=args.events, seed=args.seed)


def register_core(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser("run", help="run one pipeline update on everything landed so far")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--full-refresh", action="store_true", help="reset and recompute everything")
    mode.add_argument(
        "--refresh",
        type=_table_list,
        metavar="T,...",
        help="update only these datasets (with --continuous: in every update)",
    )
    # A loop of full refreshes would recompute everything each time: never what a user wants.
    run.add_argument(
        "--continuous",
        action="store_true",
        help="triggered updates in a loop until Ctrl-C (not with --full-refresh)",
    )
    run.add_argument("--interval", type=float, default=10.0, help="seconds between updates")
    run.add_argument("--max-updates", type=int, help="with --continuous: stop after N updates")
    run.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a running update to finish"
    )
    run.add_argument("--quiet", action="store_true", help="print only the outcome")
    run.set_defaults(func=cmd_run)

    sql = sub.add_parser("sql", help="query the local lakehouse")
    sql.add_argument("query", help="SQL; unqualified names resolve in the pipeline's database")
    sql.add_argument("--json", action="store_true", help="one JSON object per row")
    sql.set_defaults(func=cmd_sql)

    srv = sub.add_parser("server", help="the home's shared Spark Connect server")
    srv.add_argument("action", choices=["start", "stop", "status"])
    srv.set_defaults(func=cmd_server)

    reset = sub.add_parser("reset", help="delete the lakehouse home (asks first)")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    reset.set_defaults(func=cmd_reset)

    lineage = sub.add_parser("lineage", help="the dataset graph of the last update")
    lineage.add_argument("--json", action="store_true", help="datasets and edges as JSON")
    lineage.set_defaults(func=cmd_lineage)

    report = sub.add_parser(
        "report", help="write the observability report (HTML) and print its path"
    )
    report.add_argument("--out", type=Path, help="where to write it (default: <home>/reports/)")
    report.set_defaults(func=cmd_report)

    events = sub.add_parser("events", help="print the pipeline event log like a tail")
    events.add_argument("--update", metavar="ID", help="only this update")
    events.add_argument(
        "--level", type=str.upper, choices=["INFO", "WARN", "ERROR"], help="this level and worse"
    )
    events.add_argument("--limit", type=int, default=50, help="the last N events (default 50)")
    events.set_defaults(func=cmd_events)

    demo = sub.add_parser("demo", help="produce events, run the pipeline twice, show results")
    demo.add_argument("--events", type=int, default=5000)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clickstream",
        description="Real-time clickstream lakehouse on Spark Declarative Pipelines.",
    )
    parser.add_argument(
        "--home",
        help="lakehouse home (landing zone, warehouse, metastore, checkpoints); "
        "default $CLICKSTREAM_HOME or ./.lakehouse",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_core(sub)
    for module_name in EXTENSION_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = LocalSettings.from_env(args.home)
    try:
        faults.arm_command(settings.home / "faults")
        return int(args.func(args, settings) or 0)
    except faults.FaultConfigError as exc:
        print(f"clickstream: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"clickstream: {exc}", file=sys.stderr)
        return exc.code
    except EngineError as exc:
        print(f"clickstream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("clickstream: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
