"""The manifest of a batch: what was written, and every injected defect.

A manifest is JSON Lines, one record per line, each with a ``record`` type:

* ``batch``  — seed, batch number, start clock, the defect rates and time constants used;
* ``file``   — per file: path (relative to the landing root), landing time, line count, MD5,
  and the ground truth per line: ``event_ids`` and ``kinds`` (null = clean), in line order;
* ``defect`` — one per injected defect: ``file``, ``line`` (1-based, counting every line) and
  ``kind``, plus the line's ``event_id`` when it has one;
* ``totals`` — lines, clean lines and the count per defect kind (every kind listed, zeros too).

Manifests live in ``_manifests/`` and end in ``.manifest.jsonl``: they never match ``*.json``,
and Spark and Auto Loader skip paths starting with ``_``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from producer import defects
from producer.assembler import PlannedFile
from producer.timefmt import compact_ts, format_ts, parse_ts

MANIFEST_DIR = "_manifests"
MANIFEST_SUFFIX = ".manifest.jsonl"


@dataclass(frozen=True)
class FileEntry:
    """What a manifest says about one file (its bytes are not kept)."""

    relpath: str
    landing_ms: int
    size: int
    md5: str
    event_ids: tuple[str | None, ...]
    kinds: tuple[str | None, ...]

    @classmethod
    def of(cls, planned: PlannedFile) -> FileEntry:
        return cls(
            relpath=planned.relpath,
            landing_ms=planned.landing_ms,
            size=len(planned.data),
            md5=hashlib.md5(planned.data).hexdigest(),
            event_ids=planned.event_ids,
            kinds=planned.kinds,
        )


def manifest_relpath(seed: int, batch: int, first_landing_ms: int) -> str:
    return (
        f"{MANIFEST_DIR}/clickstream-{compact_ts(first_landing_ms)}-s{seed}-b{batch:04d}"
        f"{MANIFEST_SUFFIX}"
    )


def build_manifest(
    *,
    seed: int,
    batch: int,
    batches: int,
    start_ms: int,
    rates: Mapping[str, float],
    files: Sequence[FileEntry],
) -> bytes:
    """The manifest of one batch, as bytes (deterministic: same files, same bytes)."""
    totals = dict.fromkeys(defects.DEFECT_KINDS, 0)
    head: dict[str, Any] = {
        "record": "batch",
        "seed": seed,
        "batch": batch,
        "batches": batches,
        "start": format_ts(start_ms),
        "files": len(files),
        "rates": {kind: rates.get(kind, 0.0) for kind in defects.DEFECT_KINDS},
        "late_min_behind_s": defects.LATE_MIN_BEHIND.total_seconds(),
        "late_max_behind_s": defects.LATE_MAX_BEHIND.total_seconds(),
        "future_min_ahead_s": defects.FUTURE_MIN_AHEAD.total_seconds(),
        "out_of_order_min_behind_s": defects.OUT_OF_ORDER_MIN_BEHIND.total_seconds(),
    }
    records: list[dict[str, Any]] = [head]
    defect_records: list[dict[str, Any]] = []
    lines = 0
    for entry in files:
        records.append(
            {
                "record": "file",
                "file": entry.relpath,
                "landing_time": format_ts(entry.landing_ms),
                "lines": len(entry.kinds),
                "bytes": entry.size,
                "md5": entry.md5,
                "event_ids": list(entry.event_ids),
                "kinds": list(entry.kinds),
            }
        )
        lines += len(entry.kinds)
        for number, (kind, event_id) in enumerate(
            zip(entry.kinds, entry.event_ids, strict=True), start=1
        ):
            if kind is not None:
                totals[kind] += 1
                defect_records.append(
                    {
                        "record": "defect",
                        "file": entry.relpath,
                        "line": number,
                        "kind": kind,
                        "event_id": event_id,
                    }
                )
    records.extend(defect_records)
    records.append(
        {
            "record": "totals",
            "lines": lines,
            "clean": lines - sum(totals.values()),
            "defects": totals,
        }
    )
    text = "\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records)
    return (text + "\n").encode("utf-8")


def read_manifest(data: bytes) -> list[dict[str, Any]]:
    """The records of a manifest (for tests, notebooks and the pipeline's accounting checks)."""
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def restore_landing_times(root: str | os.PathLike[str]) -> int:
    """Set each event file's modification time back to its landing time from the manifests.

    Git and most copies do not keep modification times, yet the pipeline reads a file's landing
    time from it (late-event rule). Returns the number of files touched; files the manifests
    list but that are missing are skipped.
    """
    base = os.fspath(root)
    manifest_dir = os.path.join(base, MANIFEST_DIR)
    names = sorted(os.listdir(manifest_dir)) if os.path.isdir(manifest_dir) else []
    touched = 0
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX):
            continue
        with open(os.path.join(manifest_dir, name), "rb") as handle:
            records = read_manifest(handle.read())
        for record in records:
            if record["record"] != "file":
                continue
            path = os.path.join(base, *record["file"].split("/"))
            if os.path.isfile(path):
                mtime_ns = parse_ts(record["landing_time"]) * 1_000_000
                os.utime(path, ns=(mtime_ns, mtime_ns))
                touched += 1
    return touched
