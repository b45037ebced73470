"""Where produced files go. A sink stores one whole file at a time, atomically, never replacing a
different file of the same name: re-running the same batches is safe and creates no duplicates.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from producer.errors import SinkError


@runtime_checkable
class Sink(Protocol):
    def write(self, relpath: str, data: bytes, landing_ms: int) -> bool:
        """Store ``data`` at ``relpath`` (``/``-separated, relative to the sink's root).

        Returns True when the file was created, False when an identical file was already there
        (a retry or a re-run). Raises ``SinkConflict`` when a different file is there.
        """
        ...

    def describe(self) -> str:
        """Where files go, for messages (never with credentials or query strings)."""
        ...

    def close(self) -> None: ...


def check_relpath(relpath: str) -> str:
    """Refuse absolute paths and ``..``: a sink writes below its root only."""
    parts = relpath.split("/")
    if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise SinkError(f"invalid relative path {relpath!r}")
    return relpath


__all__ = ["Sink", "check_relpath"]
