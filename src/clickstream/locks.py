"""Process locks for a lakehouse home and for pipeline runs.

Embedded Derby lets one JVM own a metastore, and two runs of one pipeline corrupt its streaming
state, so both are guarded by ``flock`` locks. The kernel drops a ``flock`` when its holder dies,
so a lock file left by a dead process is simply taken over; the file's JSON only names the holder
for the error message.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class LockBusy(Exception):
    """The lock is held by another live process."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by process {holder.get('pid', '?')}")


def read_holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its (last) holder; empty when unreadable."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class FileLock:
    """An exclusive ``flock`` on ``path`` whose file records who holds it."""

    path: Path
    fd: int | None = None
    took_over_from: int | None = None

    def acquire(self, info: dict[str, Any], wait_seconds: float = 0.0) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        previous = read_holder(self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(self.path, read_holder(self.path)) from None
                time.sleep(0.2)
        prev_pid = previous.get("pid")
        if isinstance(prev_pid, int) and prev_pid != os.getpid():
            self.took_over_from = prev_pid
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "since": time.time(), **info}).encode())
        os.fsync(fd)
        self.fd = fd
        return self

    def rewrite(self, info: dict[str, Any]) -> None:
        """Replace the holder record (e.g. when a child process inherits the lock)."""
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, json.dumps(info).encode())
        os.fsync(self.fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
