"""Landing audit: files changed after bronze ingested them.

Spark's file source (and Auto Loader) remembers every file it has read by path and never reads
it again, so a file rewritten in place after ingestion is silently ignored: its new lines never
reach bronze. The audit compares what bronze recorded for each file (its modification time as
``_landed_at``) with the landing folder now, and names every file that changed or disappeared.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class AuditFinding:
    """One landed file whose current state differs from what bronze ingested."""

    path: Path
    problem: str  # "rewritten" or "missing"
    ingested_ms: int
    current_ms: int | None

    def message(self) -> str:
        if self.problem == "missing":
            return (
                f"landed file {self.path} was ingested into bronze but is no longer in the "
                "landing zone"
            )
        return (
            f"landed file {self.path} was rewritten after bronze ingested it (modified "
            f"{self.current_ms} ms, ingested as of {self.ingested_ms} ms since the epoch): the "
            "file source never re-reads a file it has seen, so the new content is NOT in "
            "bronze; land changed data as a new file"
        )


def local_path(source_file: str) -> Path:
    """A bronze ``_source_file`` URI (``file:/…``, percent-encoded) as a local path."""
    return Path(unquote(urlparse(source_file).path))


def compare(
    recorded: Mapping[Path, int], current: Mapping[Path, int | None]
) -> list[AuditFinding]:
    """Findings for each recorded file (path -> landed ms) whose current mtime differs or is
    gone (None). Pure, so that the rule is testable without Spark."""
    findings = []
    for path in sorted(recorded):
        now = current.get(path)
        if now is None:
            findings.append(AuditFinding(path, "missing", recorded[path], None))
        elif now != recorded[path]:
            findings.append(AuditFinding(path, "rewritten", recorded[path], now))
    return findings


def mtimes_ms(paths: Iterable[Path]) -> dict[Path, int | None]:
    out: dict[Path, int | None] = {}
    for path in paths:
        try:
            out[path] = os.stat(path).st_mtime_ns // 1_000_000
        except OSError:
            out[path] = None
    return out


def audit(spark: Any, bronze_table: str) -> list[AuditFinding]:
    """Compare each file bronze ingested from a local landing zone with the file now."""
    rows = spark.sql(
        f"SELECT _source_file, unix_millis(max(_landed_at)) AS landed_ms FROM {bronze_table} "
        "WHERE _source_file LIKE 'file:%' GROUP BY _source_file"
    ).collect()
    recorded = {local_path(r["_source_file"]): int(r["landed_ms"]) for r in rows}
    return compare(recorded, mtimes_ms(recorded))
