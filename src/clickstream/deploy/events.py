"""Errors and expectation metrics out of Lakeflow pipeline events (the REST API's JSON).

Events come as the ``/api/2.0/pipelines/{id}/events`` endpoint returns them, ``details`` included
(the SDK's typed ``PipelineEvent`` drops ``details``, where the expectation metrics live):
``details.flow_progress.data_quality.expectations`` lists, per flow progress event, each
expectation's ``dataset``, ``name``, ``passed_records`` and ``failed_records``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Event = Mapping[str, Any]


@dataclass(frozen=True)
class ExpectationMetric:
    dataset: str
    name: str
    passed: int
    failed: int

    @property
    def failed_share(self) -> float:
        total = self.passed + self.failed
        return self.failed / total if total else 0.0


def for_update(events: Iterable[Event], update_id: str) -> list[Event]:
    return [e for e in events if (e.get("origin") or {}).get("update_id") == update_id]


def error_lines(events: Iterable[Event]) -> list[str]:
    """One line per ERROR event, oldest first, with the exceptions that caused it."""
    lines = []
    for event in sorted(events, key=lambda e: e.get("timestamp") or ""):
        if event.get("level") != "ERROR":
            continue
        origin = event.get("origin") or {}
        where = origin.get("flow_name") or origin.get("dataset_name") or event.get("event_type")
        line = f"{event.get('timestamp', '?')} {where}: {event.get('message', '').strip()}"
        for exc in (event.get("error") or {}).get("exceptions") or []:
            cause = f"{exc.get('class_name', '')}: {exc.get('message', '')}".strip(": ")
            if cause and cause not in line:
                line += f" | {cause}"
        lines.append(line)
    return lines


def expectation_metrics(events: Iterable[Event]) -> list[ExpectationMetric]:
    """Passed/failed records per (dataset, expectation), summed over the flow progress events."""
    totals: dict[tuple[str, str], list[int]] = {}
    for event in events:
        progress = (event.get("details") or {}).get("flow_progress") or {}
        for item in (progress.get("data_quality") or {}).get("expectations") or []:
            key = (str(item.get("dataset", "?")), str(item.get("name", "?")))
            counts = totals.setdefault(key, [0, 0])
            counts[0] += int(item.get("passed_records") or 0)
            counts[1] += int(item.get("failed_records") or 0)
    return [
        ExpectationMetric(dataset, name, passed, failed)
        for (dataset, name), (passed, failed) in sorted(totals.items())
    ]


def report_lines(events: Iterable[Event]) -> list[str]:
    """What the operator command prints after an update: errors, then expectations."""
    events = list(events)
    lines = []
    errors = error_lines(events)
    lines.append(f"errors: {len(errors)}")
    lines += [f"  {line}" for line in errors]
    metrics = expectation_metrics(events)
    lines.append(f"expectations: {len(metrics)}")
    if metrics:
        width = max(len(f"{m.dataset}.{m.name}") for m in metrics)
        for m in metrics:
            label = f"{m.dataset}.{m.name}".ljust(width)
            lines.append(
                f"  {label}  passed {m.passed:>10}  failed {m.failed:>10}  "
                f"({m.failed_share:.2%} failed)"
            )
    return lines
