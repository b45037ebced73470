"""An independent reader of a produced landing tree: classifies every line by looking at it.

It does not use the producer's code paths: it parses, validates against the contract, compares
event ids across files and reads each file's modification time as its landing time, then names
the defect kind each line shows (or None for a clean line). Tests compare that with the manifests.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickstream.contract import validator

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass
class Line:
    file: str  # relative to the landing root, "/"-separated
    number: int  # 1-based
    raw: bytes
    landing_ms: int
    kind: str | None
    event: dict[str, Any] | None  # parsed, when the line parses


def parse_ts(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.astimezone(UTC).timestamp() * 1000 + 0.5)


def event_files(root: Path) -> list[tuple[str, int]]:
    """``*.json`` files under ``root`` (what the pipeline ingests), in landing order."""
    found = []
    for path in root.rglob("*.json"):
        landing_ms = os.stat(path).st_mtime_ns // 1_000_000
        found.append((path.relative_to(root).as_posix(), landing_ms))
    return sorted(found, key=lambda item: (item[1], item[0]))


def manifests(root: Path) -> list[dict[str, Any]]:
    """All manifest records under ``root``, manifest after manifest."""
    records: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.manifest.jsonl")):
        records.extend(json.loads(line) for line in path.read_text("utf-8").splitlines())
    return records


class Classifier:
    """Classifies the lines of one produced tree, file after file in landing order."""

    def __init__(self, late_min_behind_ms: int = 2 * HOUR_MS) -> None:
        self.validate = validator()
        self.late_min_behind_ms = late_min_behind_ms
        self.seen: dict[str, bytes] = {}  # event_id -> first line with it

    def tree(self, root: Path) -> list[Line]:
        lines: list[Line] = []
        for relpath, landing_ms in event_files(root):
            lines.extend(self.file(relpath, (root / relpath).read_bytes(), landing_ms))
        return lines

    def file(self, relpath: str, data: bytes, landing_ms: int) -> list[Line]:
        assert data.endswith(b"\n"), f"{relpath} does not end with a newline"
        out: list[Line] = []
        newest: int | None = None  # latest event time of the in-order lines so far in this file
        first_seen_here: dict[str, bytes] = {}
        for number, raw in enumerate(data[:-1].split(b"\n"), start=1):
            kind, event, ts = self._line(raw, landing_ms)
            in_order = kind in ("valid", "invalid", "rule_negative_price")
            if kind == "invalid":
                kind = self._schema_kind(event)
            elif kind == "valid":
                if newest is not None and ts < newest:
                    kind, in_order = "out_of_order", False
                else:
                    kind = None
            if in_order:
                newest = ts if newest is None else max(newest, ts)
            has_id = event is not None and isinstance(event.get("event_id"), str)
            if has_id and kind != "duplicate":
                first_seen_here.setdefault(event["event_id"], raw)
            out.append(Line(relpath, number, raw, landing_ms, kind, event))
        # Only lines of earlier files make a later line a duplicate.
        for event_id, raw in first_seen_here.items():
            self.seen.setdefault(event_id, raw)
        return out

    def _line(self, raw: bytes, landing_ms: int) -> tuple[str | None, dict | None, int]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "malformed_invalid_utf8", None, 0
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            return (
                ("malformed_truncated" if text.startswith("{") else "malformed_not_json"),
                None,
                0,
            )
        assert isinstance(event, dict), f"a line parsed to {type(event).__name__}"
        if event.get("event_id") is None:
            errors = list(self.validate.iter_errors(event))
            assert [tuple(e.absolute_path) for e in errors] == [("event_id",)], errors
            return "rule_missing_event_id", event, 0
        event_id = event["event_id"]
        if event_id in self.seen:
            assert self.seen[event_id] == raw, f"event {event_id} re-sent with different bytes"
            return "duplicate", event, 0
        ts = parse_ts(event["event_ts"])
        if ts >= landing_ms + DAY_MS:
            return "rule_future_event_time", event, ts
        if ts < landing_ms - self.late_min_behind_ms:
            return "late", event, ts
        if not self.validate.is_valid(event):
            return "invalid", event, ts
        price = (event.get("properties") or {}).get("price")
        if price is not None and price < 0:
            return "rule_negative_price", event, ts
        return "valid", event, ts

    def _schema_kind(self, event: dict[str, Any] | None) -> str:
        """The one drift or rule kind that the contract violations of ``event`` amount to."""
        errors = list(self.validate.iter_errors(event))
        by = {(e.validator, tuple(e.absolute_path)) for e in errors}
        if by == {("enum", ("event_type",))}:
            return "rule_unknown_event_type"
        validators = {v for v, _ in by}
        if validators <= {"type", "enum"}:
            paths = {p for _, p in by}
            assert len(paths) == 1, f"several type errors: {errors}"
            return (
                "drift_type_mismatch_top" if len(paths.pop()) == 1 else "drift_type_mismatch_nested"
            )
        if validators <= {"additionalProperties", "required"}:
            extra: set[tuple[tuple, str]] = set()
            missing: set[tuple[tuple, str]] = set()
            for e in errors:
                where = tuple(e.absolute_path)
                known = set(e.schema.get("properties", {}))
                if e.validator == "additionalProperties":
                    extra |= {(where, k) for k in e.instance if k not in known}
                else:
                    missing |= {(where, k) for k in e.schema["required"] if k not in e.instance}
            assert len(extra) == 1, f"expected one unexpected key: {errors}"
            ((where, key),) = extra
            if not missing:
                return "drift_unknown_field"
            assert {(w, k.lower()) for w, k in missing} == {(where, key.lower())}, (
                f"not a case mismatch: {errors}"
            )
            return "drift_case_mismatch"
        raise AssertionError(f"unclassifiable contract violations: {errors}")
