"""A folder as the landing zone: a local directory, or a Unity Catalog volume on Databricks."""

from __future__ import annotations

import os
from pathlib import Path

from producer.errors import SinkConflict, SinkError
from producer.sinks import check_relpath

STAGING_DIR = "_staging"


class LocalSink:
    """Writes each file under ``_staging/`` first, then renames it into place.

    Why: a reader polling the landing folder must never see half a file. The staging folder sits
    inside the root (same filesystem, so the rename is atomic), starts with ``_`` (Spark and
    Auto Loader skip such paths) and staged names end in ``.tmp`` (never ``*.json``).

    The file's modification time is set to its simulated landing time before the rename: the
    pipeline reads it as the landing time for its late-event rule. Volumes under ``/Volumes``
    keep the time of the real write instead (``set_mtime=None`` detects them), which is what
    Auto Loader sees there anyway.
    """

    def __init__(self, root: str | os.PathLike[str], *, set_mtime: bool | None = None) -> None:
        self.root = Path(root).expanduser().absolute()
        if self.root.exists() and not self.root.is_dir():
            raise SinkError(f"landing path {self.root} exists and is not a directory")
        self.set_mtime = (
            not str(self.root).startswith("/Volumes/") if set_mtime is None else set_mtime
        )
        self._staging = self.root / STAGING_DIR

    def describe(self) -> str:
        return str(self.root)

    def write(self, relpath: str, data: bytes, landing_ms: int) -> bool:
        target = self.root / check_relpath(relpath)
        if target.exists():
            return self._same_as_existing(target, relpath, data)
        try:
            self._staging.mkdir(parents=True, exist_ok=True)
            staged = self._staging / f"{target.name}.{os.getpid()}.tmp"
            with open(staged, "wb") as handle:
                handle.write(data)
            if self.set_mtime:
                mtime_ns = landing_ms * 1_000_000
                os.utime(staged, ns=(mtime_ns, mtime_ns))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        except OSError as exc:
            raise SinkError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return True

    def _same_as_existing(self, target: Path, relpath: str, data: bytes) -> bool:
        try:
            same = target.stat().st_size == len(data) and target.read_bytes() == data
        except OSError as exc:
            raise SinkError(f"cannot read {target}: {exc.strerror or exc}") from exc
        if not same:
            raise SinkConflict(
                f"{relpath} already exists in {self.root} with different content; "
                "use another --out, --seed or --start, or remove the old files"
            )
        return False

    def close(self) -> None:
        # The (empty) staging folder stays: removing it could pull a folder from under a
        # reader that is listing the landing zone recursively at that moment.
        pass
