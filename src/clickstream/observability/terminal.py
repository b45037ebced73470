"""What ``clickstream run`` shows while an update works and after it: progress and a summary.

On a terminal a live table follows each flow's state; elsewhere (pipes, CI logs, tests) the run's
events are printed one per line, as before, so that logs stay greppable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from clickstream.runner import RunEvent, UpdateResult

_FLOW = re.compile(r"^Flow '?(?P<flow>[^' ]+)'? (?:is |has )?(?P<state>[A-Z_]+)")
STATE_STYLES = {
    "COMPLETED": "green",
    "FAILED": "bold red",
    "SKIPPED": "yellow",
    "RUNNING": "cyan",
    "STARTING": "cyan",
}


class RunProgress:
    """Receives the run's events (``on_event``) and shows them."""

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.console = console or Console()
        self.quiet = quiet
        self.flows: dict[str, str] = {}
        self.live: Live | None = None

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal and not self.quiet:
            self.live = Live(self._table(), console=self.console, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def _table(self) -> Table:
        table = Table(title="pipeline update", title_justify="left", expand=False)
        table.add_column("flow")
        table.add_column("state")
        for flow, state in self.flows.items():
            table.add_row(flow, f"[{STATE_STYLES.get(state, 'white')}]{state}[/]")
        if not self.flows:
            table.add_row("(loading definitions)", "")
        return table

    def on_event(self, event: RunEvent) -> None:
        match = _FLOW.match(event.message)
        if match:
            self.flows[match["flow"].split(".")[-1]] = match["state"]
        if self.quiet:
            return
        line = f"{event.timestamp:%H:%M:%S} {event.message}"
        if self.live is not None:
            self.live.console.print(line, markup=False, highlight=False)
            self.live.update(self._table())
        else:
            print(line, flush=True)


def flow_summaries(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset: final state, rows written, expectation failures, duration (from the log)."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["event_type"] != "flow_progress":
            continue
        details = json.loads(event["details"]).get("flow_progress", {})
        dataset = event["origin"]["dataset_name"] or event["origin"]["flow_name"]
        row = rows.setdefault(
            dataset,
            {"dataset": dataset, "state": "", "rows": None, "failures": None, "seconds": None},
        )
        row["state"] = details.get("status", row["state"])
        metrics = details.get("metrics")
        if metrics:
            row["rows"] = metrics.get("num_output_rows")
            if metrics.get("duration_ms") is not None:
                row["seconds"] = metrics["duration_ms"] / 1000
        quality = details.get("data_quality")
        if quality:
            row["failures"] = sum(e["failed_records"] for e in quality["expectations"])
    return list(rows.values())


def print_summary(result: UpdateResult, console: Console | None = None) -> None:
    """The summary table after an update (nothing when the event log was not written)."""
    summaries = flow_summaries(result.log_events)
    if not summaries:
        return
    console = console or Console(width=None if Console().is_terminal else 100)
    table = Table(title=f"summary of update {result.update_id[:8]} ({result.status.lower()})")
    for name, justify in (
        ("dataset", "left"),
        ("state", "left"),
        ("rows written", "right"),
        ("expectation failures", "right"),
        ("duration (s)", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]

    def show(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    for row in summaries:
        style = STATE_STYLES.get(row["state"], "white")
        table.add_row(
            row["dataset"],
            f"[{style}]{row['state']}[/]",
            show(row["rows"]),
            show(row["failures"]),
            show(row["seconds"]),
        )
    console.print(table)
