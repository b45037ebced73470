"""Exactly-once restarts: runs killed at each named fault point end equal to an uninterrupted run.

One lakehouse home of its own (each crash kills that home's JVM): the same landed files are run
there three times with a fault armed, each run killed at its point with SIGKILL of every process
group, then once more without a fault. The uninterrupted run of the same files runs on the shared
server. Every table of the restarted home must then hold exactly the rows of the uninterrupted
one (ingestion timestamps and update ids aside).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from lakehouse_testing import comparable, crash_run, home_table_dir
from pyspark.testing import assertDataFrameEqual

from clickstream import config, faults
from producer import produce

pytestmark = pytest.mark.spark

STREAMING_TABLES = config.STREAMING_TABLES
# (fault, evidence check) in the order the crash home runs them; each run also recovers the last.
SEQUENCE = (
    f"{faults.BRONZE_PARSE_LINE}@40",
    faults.SILVER_EVENTS_CHECKPOINT_COMMIT,
    faults.UPDATE_STREAMING_TABLES_DONE,
)


def run_command(home: Path, fault: str | None) -> subprocess.CompletedProcess:
    return crash_run(home, fault)


def batches(home: Path, table: str, log: str) -> set[int]:
    """Batch numbers in a streaming table's checkpoint log (``offsets`` or ``commits``)."""
    root = home / "pipelines" / "clickstream" / "_checkpoints"
    return {int(p.name) for p in root.glob(f"*/*/{table}/{table}/0/{log}/[0-9]*")}


def table_dir(home: Path, table: str) -> Path:
    return home_table_dir(home, table)


def data_commits(home: Path, table: str) -> list[dict]:
    """The Delta commits of a table that added data files, each as its list of actions."""
    log = table_dir(home, table) / "_delta_log"
    commits = []
    for path in sorted(log.glob("*.json")):
        actions = [json.loads(line) for line in path.read_text().splitlines() if line]
        if any("add" in a for a in actions):
            commits.append(actions)
    return commits


@pytest.fixture(scope="module")
def crash_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    home = tmp_path_factory.mktemp("crash-home")
    produce(events=600, seed=7, sink=home / "landing", batches=2, max_events_per_file=150)
    evidence: dict[str, object] = {}
    for fault in SEQUENCE:
        proc = run_command(home, fault)
        point = faults.parse(fault).point
        evidence[point] = {
            "returncode": proc.returncode,
            "stderr": proc.stderr,
            "hits": (home / "faults" / f"{point}.hits").read_bytes().count(b"."),
            "bronze_offsets": batches(home, config.BRONZE_EVENTS, "offsets"),
            "bronze_commits": batches(home, config.BRONZE_EVENTS, "commits"),
            "bronze_data_commits": len(data_commits(home, config.BRONZE_EVENTS)),
            "silver_offsets": batches(home, config.SILVER_EVENTS, "offsets"),
            "silver_commits": batches(home, config.SILVER_EVENTS, "commits"),
            "silver_data_commits": data_commits(home, config.SILVER_EVENTS),
            "streaming_done": all(
                batches(home, t, "offsets") == batches(home, t, "commits") != set()
                for t in STREAMING_TABLES
            ),
            "views_exist": table_dir(home, config.EVENT_ACCOUNTING).exists(),
        }
    final = run_command(home, None)
    assert final.returncode == 0, final.stderr[-3000:]
    return {"home": home, "evidence": evidence}


@pytest.fixture(scope="module")
def uninterrupted(crash_home, lakehouse) -> str:
    """The same landed files, run once without a fault on the shared server."""
    from clickstream.runner import PipelineRunner

    database = "t_crash_uninterrupted"
    landing = crash_home["home"] / "landing"
    result = PipelineRunner(lakehouse, database=database, landing=landing).run()
    assert result.ok, result.error
    return database


def test_bronze_parse_line_kills_mid_batch_before_the_delta_commit(crash_home) -> None:
    seen = crash_home["evidence"][faults.BRONZE_PARSE_LINE]
    assert seen["returncode"] == -signal.SIGKILL, seen["stderr"][-2000:]
    assert seen["hits"] >= 40
    # The micro-batch was planned (offsets logged) but neither its data nor its commit landed.
    assert seen["bronze_offsets"] == {0}
    assert seen["bronze_commits"] == set()
    assert seen["bronze_data_commits"] == 0


def test_silver_checkpoint_commit_kills_between_the_delta_and_the_checkpoint_commit(
    crash_home,
) -> None:
    seen = crash_home["evidence"][faults.SILVER_EVENTS_CHECKPOINT_COMMIT]
    assert seen["returncode"] == -signal.SIGKILL, seen["stderr"][-2000:]
    assert seen["hits"] == 1
    # The restart finished bronze's interrupted batch exactly once.
    assert seen["bronze_commits"] == seen["bronze_offsets"]
    assert seen["bronze_data_commits"] == len(seen["bronze_offsets"])
    # silver_events committed batch N to Delta (with the stream's transaction id), but the
    # checkpoint never marked N done: on restart the Delta sink must skip it, not write it twice.
    (commit,) = seen["silver_data_commits"]
    (txn,) = [a["txn"] for a in commit if "txn" in a]
    assert txn["version"] in seen["silver_offsets"]
    assert txn["version"] not in seen["silver_commits"]


def test_streaming_tables_done_kills_before_any_materialized_view(crash_home) -> None:
    seen = crash_home["evidence"][faults.UPDATE_STREAMING_TABLES_DONE]
    assert seen["returncode"] == -signal.SIGKILL, seen["stderr"][-2000:]
    assert seen["hits"] == 1
    assert seen["streaming_done"]
    assert not seen["views_exist"]


@pytest.mark.parametrize("table", [*STREAMING_TABLES, config.EVENT_ACCOUNTING])
def test_every_table_equals_the_uninterrupted_run(crash_home, uninterrupted, spark, table) -> None:
    restarted = spark.read.format("delta").load(str(table_dir(crash_home["home"], table)))
    expected = spark.read.table(f"{uninterrupted}.{table}")
    assert restarted.count() > 0
    # Invalid UTF-8 kept in _corrupt_record can't be collected as text: compare its bytes.
    assertDataFrameEqual(comparable(restarted), comparable(expected))
