"""Faults outside the pipeline: a producer killed mid-write, and an unusable lakehouse home."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lakehouse_testing import REPO, run_cli

from clickstream import config
from clickstream.query import stored_tables
from producer import produce

PRODUCE = {"events": 30_000, "seed": 77, "max_events_per_file": 3_000}
ATTEMPTS = 5


def visible_files(root: Path) -> dict[str, bytes]:
    """What a reader of the landing zone sees: every ``*.json`` (the pipeline's glob)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.json")}


def kill_during_a_write(root: Path) -> bool:
    """Start the producer CLI, SIGKILL it while a staged file is half written. True if caught."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKSTREAM_")}
    args = [f"--{k.replace('_', '-')}={v}" for k, v in PRODUCE.items()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "clickstream", "produce", "--no-progress", "--out", str(root),
         *args],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    staging = root / "_staging"
    caught = False
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                staged = [e for e in os.scandir(staging) if e.name.endswith(".tmp")]
            except FileNotFoundError:
                time.sleep(0.001)
                continue
            if any(e.stat().st_size > 0 for e in staged):
                proc.send_signal(signal.SIGKILL)
                caught = True
                break
    finally:
        if proc.poll() is None and not caught:
            proc.kill()
        proc.wait()
    return caught and proc.returncode == -signal.SIGKILL


def test_a_producer_killed_mid_write_leaves_no_partial_visible_file(tmp_path, tally):
    reference = tmp_path / "reference"
    produce(sink=reference, **PRODUCE)
    expected = visible_files(reference)
    for attempt in range(ATTEMPTS):
        root = tmp_path / f"killed-{attempt}"
        if kill_during_a_write(root):
            break
    else:
        pytest.fail(f"never caught the producer inside a write in {ATTEMPTS} attempts")
    tally.faults_injected += 1
    seen = visible_files(root)
    assert len(seen) < len(expected), "killed before the end"
    partial = [name for name, data in seen.items() if expected.get(name) != data]
    tally.rows_lost += len(partial)
    assert partial == [], "every visible file is whole, byte for byte"
    leftovers = [p.name for p in (root / "_staging").iterdir()]
    assert leftovers and all(n.endswith(".tmp") for n in leftovers), "the half file stays staged"


@pytest.fixture(scope="module")
def blocked_home(tmp_path_factory) -> Path:
    blocker = tmp_path_factory.mktemp("unusable") / "a-regular-file"
    blocker.write_text("not a folder")
    return blocker / "home"


def history(spark, database: str) -> dict[str, list[tuple[int, str]]]:
    out = {}
    for table in stored_tables(spark, database):
        name = f"`{database}`.`{table}`"
        out[name] = [
            (r["version"], r["operation"])
            for r in spark.sql(f"DESCRIBE HISTORY {name}").select("version", "operation").collect()
        ]
    return out


@pytest.mark.parametrize(
    "args",
    [("run",), ("sql", "SELECT 1"), ("produce", "--events", "10", "--no-progress")],
    ids=["run", "sql", "produce"],
)
def test_an_unusable_home_is_one_line_and_harms_no_existing_table(
    args, blocked_home, corpus_run, spark, tally
):
    _, sandbox, result = corpus_run
    assert result.ok, result.error
    before = history(spark, sandbox.database)
    failed = run_cli(*args, home=blocked_home, timeout=120)
    tally.faults_injected += 1
    assert failed.code == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clickstream: "), failed.stderr
    assert str(blocked_home) in lines[0] and "Not a directory" in lines[0]
    assert "Traceback" not in failed.stdout + failed.stderr
    assert history(spark, sandbox.database) == before, "Delta history of existing tables intact"
    assert before[f"`{sandbox.database}`.`{config.BRONZE_EVENTS}`"], "there was history to keep"
