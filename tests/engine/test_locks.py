"""Home and run locks: held while the holder lives, taken over after it dies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clickstream.locks import FileLock, LockBusy

HOLD = (
    "import sys,time; from pathlib import Path; from clickstream.locks import FileLock; "
    "FileLock(Path(sys.argv[1])).acquire({'kind':'test'}); print('ok', flush=True); time.sleep(60)"
)


def test_busy_while_holder_lives_then_free(tmp_path):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(LockBusy) as busy:
            FileLock(path).acquire({"kind": "me"})
        assert busy.value.holder["pid"] == holder.pid and busy.value.holder["kind"] == "test"
    finally:
        holder.kill()
        holder.wait()
    lock = FileLock(path).acquire({"kind": "me"})
    assert lock.took_over_from == holder.pid
    assert json.loads(path.read_text())["kind"] == "me"
    lock.release()
    assert path.read_text() == ""


def test_wait_gives_up_with_the_holder_named(tmp_path):
    path = tmp_path / "y.lock"
    first = FileLock(path).acquire({"kind": "first"})
    try:
        with pytest.raises(LockBusy, match="held by process"):
            FileLock(path).acquire({"kind": "second"}, wait_seconds=0.5)
    finally:
        first.release()
