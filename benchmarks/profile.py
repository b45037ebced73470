"""Where a streaming run's time goes, from Spark's own event log (plain JSON lines).

Every micro-batch of every streaming query (a pipeline flow, or a hand-written query) logs a
``QueryProgressEvent`` with the query's name and its ``durationMs`` by step (``addBatch`` is the
write, ``queryPlanning``, ``getBatch``, ``latestOffset``, ``walCommit``, ``commitOffsets`` the
bookkeeping around it). Summed per query they show which flow, and which step, costs the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from clickstream.observability.event_log import progress_events


def query_profile(
    event_log_dir: Path, database: str, since: Mapping[Path, int] | None = None
) -> dict[str, dict[str, Any]]:
    """Per streaming query of ``database``: batches, input rows, and milliseconds by step."""
    queries: dict[str, dict[str, Any]] = {}
    for progress in progress_events(event_log_dir, since):
        name = progress.get("name") or ""
        if f".{database}." not in f".{name}." and f"_{database}_" not in name:
            continue
        entry = queries.setdefault(name, {"batches": 0, "input_rows": 0, "ms": {}, "spans": []})
        rows = sum(max(0, s.get("numInputRows") or 0) for s in progress.get("sources", []))
        if rows == 0:
            # Empty batches (e.g. after a table-property commit) still cost their bookkeeping.
            entry["empty_batches"] = entry.get("empty_batches", 0) + 1
        entry["batches"] += 1
        entry["input_rows"] += rows
        for step, ms in (progress.get("durationMs") or {}).items():
            entry["ms"][step] = entry["ms"].get(step, 0) + int(ms)
        entry["spans"].append(_span(progress))
    return queries


def _span(progress: dict[str, Any]) -> tuple[float, float]:
    """When a micro-batch ran: its start (the progress timestamp) and end, in epoch seconds."""
    start = datetime.fromisoformat(progress["timestamp"]).timestamp()
    return start, start + int((progress.get("durationMs") or {}).get("triggerExecution", 0)) / 1000


def wall_seconds(spans: Iterable[Sequence[float]]) -> float:
    """The time covered by any of ``spans``: flows run side by side, so their sum overstates."""
    covered, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop <= end:
            continue
        covered += stop - max(start, end)
        end = stop
    return covered


def profile_since(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What the queries logged between two ``query_profile`` readings (one update's share)."""
    delta: dict[str, dict[str, Any]] = {}
    for name, entry in after.items():
        old = before.get(name, {"batches": 0, "input_rows": 0, "ms": {}, "spans": []})
        batches = entry["batches"] - old["batches"]
        if batches <= 0:
            continue
        delta[name] = {
            "batches": batches,
            "input_rows": entry["input_rows"] - old["input_rows"],
            "ms": {k: v - old["ms"].get(k, 0) for k, v in entry["ms"].items()},
            # Batches are logged in order: the new ones follow the old ones.
            "spans": entry["spans"][len(old["spans"]) :],
        }
    return delta
