"""Producer throughput next to a naive generator, measured in the same run.

The naive generator is the floor any producer is compared with: contract-shaped dicts with a
few random values, ``json.dumps`` per event, written to files of the same size. It simulates no
sessions and injects no defects, so the producer pays for realism; the target is a producer
throughput of at least 0.7 times the naive one.

    python -m benchmarks.producer_bench              # 200,000 events each
    python -m benchmarks.producer_bench --full       # 1,000,000 events each
    python -m benchmarks.producer_bench --events 50000 --repeat 3 --check
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickstream.contract import EVENT_TYPES
from producer import DEFAULT_MAX_EVENTS_PER_FILE, produce

TARGET_RATIO = 0.7
DEFAULT_EVENTS = 200_000
FULL_EVENTS = 1_000_000


def naive_generator(events: int, out: Path, per_file: int = DEFAULT_MAX_EVENTS_PER_FILE) -> None:
    """``events`` contract-shaped events, one ``json.dumps`` each, ``per_file`` lines a file."""
    rng = random.Random(0)
    clock = datetime(2026, 11, 2, 8, tzinfo=UTC)
    written = 0
    number = 0
    while written < events:
        count = min(per_file, events - written)
        lines = []
        for _ in range(count):
            clock += timedelta(milliseconds=rng.randint(1, 1000))
            product = rng.randint(1, 240)
            event = {
                "schema_version": 1,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": rng.choice(EVENT_TYPES),
                "event_ts": clock.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{clock.microsecond // 1000:03d}Z",
                "user": {
                    "user_id": f"u-{rng.randint(1, 99999):06d}",
                    "anonymous_id": f"a-{rng.getrandbits(64):016x}",
                    "email": "ann.archer1@example.com",
                    "session_id": f"s-{rng.getrandbits(64):016x}",
                    "is_logged_in": True,
                },
                "device": {
                    "type": "mobile",
                    "os": "iOS",
                    "browser": "Safari",
                    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
                    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 "
                    "Safari/604.1",
                    "screen": {"width": 390, "height": 844},
                },
                "geo": {
                    "ip": f"203.0.113.{rng.randint(1, 254)}",
                    "country": "GB",
                    "region": "England",
                    "city": "Leeds",
                    "timezone": "Europe/London",
                },
                "page": {
                    "url": f"https://shop.example/p/p-{product:04d}",
                    "path": f"/p/p-{product:04d}",
                    "referrer": None,
                    "title": "Trailhead boot",
                    "load_ms": rng.randint(80, 2500),
                },
                "properties": {
                    "product_id": f"p-{product:04d}",
                    "category": "shoes",
                    "price": rng.randint(500, 20000) / 100,
                    "quantity": 1,
                    "order_id": None,
                    "revenue": None,
                    "currency": "GBP",
                    "search_query": None,
                },
                "profile": None,
            }
            lines.append(json.dumps(event))
        number += 1
        (out / f"naive-{number:06d}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
        written += count


def producer_run(events: int, out: Path) -> None:
    produce(events=events, seed=42, sink=out, progress=False)


def _timed(run: Callable[[int, Path], None], events: int) -> float:
    out = Path(tempfile.mkdtemp(prefix="clickstream-bench-"))
    try:
        began = time.perf_counter()
        run(events, out)
        return time.perf_counter() - began
    finally:
        shutil.rmtree(out, ignore_errors=True)


def measure(events: int, repeat: int = 1) -> dict[str, float]:
    """Best-of-``repeat`` seconds for each generator, alternating so both see the same load."""
    best = {"producer": float("inf"), "naive": float("inf")}
    for _ in range(repeat):
        best["producer"] = min(best["producer"], _timed(producer_run, events))
        best["naive"] = min(best["naive"], _timed(naive_generator, events))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.producer_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        help=f"events per generator (default {DEFAULT_EVENTS:,})",
    )
    parser.add_argument("--full", action="store_true", help=f"{FULL_EVENTS:,} events")
    parser.add_argument("--repeat", type=int, default=1, help="runs each, best kept (default 1)")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when the ratio is below {TARGET_RATIO}"
    )
    args = parser.parse_args(argv)  # fmt: skip
    events = FULL_EVENTS if args.full else args.events
    if events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    seconds = measure(events, args.repeat)
    rates = {name: events / s for name, s in seconds.items()}
    ratio = rates["producer"] / rates["naive"]
    print(f"Producer throughput ({events:,} events, best of {args.repeat})")
    print(f"{'generator':<10} {'seconds':>9} {'events/s':>12}")
    for name in ("producer", "naive"):
        print(f"{name:<10} {seconds[name]:>9.2f} {rates[name]:>12,.0f}")
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(f"ratio producer/naive: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
    return 1 if args.check and ratio < TARGET_RATIO else 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
