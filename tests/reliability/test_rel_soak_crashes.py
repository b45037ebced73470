"""The long tier (`make soak`): a crash at EVERY named fault point, on several seeds.

Per seed, one lakehouse home of its own runs the same landed files once per fault point (bronze,
silver, the update's phase boundary, gold's clustering step), each run killed there with SIGKILL
of every process group, and then once more without a fault. The same files run uninterrupted on
the shared server. Every stored table of every layer (bronze, silver, gold, BI, accounting) must
then hold exactly the rows of the uninterrupted run, ingestion timestamps and update ids aside.
The quick tier's version (three points, one seed) is tests/engine/test_crash_recovery.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from lakehouse_testing import comparable, crash_run, home_table_dir
from pyspark.testing import assertDataFrameEqual

from clickstream import config, faults
from clickstream.query import stored_tables
from producer import produce

pytestmark = pytest.mark.soak

SEEDS = (21, 22, 23)
# The run history differs by design (it records the crashes); everything else must match.
NOT_COMPARED = {config.EVENT_LOG_TABLE}


def sequence(seed: int) -> list[str]:
    """Every named point once, at a hit that varies with the seed."""
    nth = {
        faults.BRONZE_PARSE_LINE: 10 + 37 * (seed % 5),
        faults.SILVER_EVENTS_CHECKPOINT_COMMIT: 1,
        faults.UPDATE_STREAMING_TABLES_DONE: 1,
        faults.GOLD_CLUSTERING: 1 + seed % 4,
    }
    assert set(nth) == set(faults.POINTS), "a new fault point belongs in the soak tier"
    return [f"{point}@{n}" for point, n in nth.items()]


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def crashed(request, tmp_path_factory, lakehouse):
    """One seed: the crash home after every fault and a restart, and its uninterrupted twin."""
    from clickstream.runner import PipelineRunner

    seed = request.param
    home: Path = tmp_path_factory.mktemp(f"soak-crash-{seed}")
    produce(events=700, seed=seed, sink=home / "landing", batches=2, max_events_per_file=175)
    outcomes = {}
    for fault in sequence(seed):
        proc = crash_run(home, fault)
        point = faults.parse(fault).point
        outcomes[point] = (proc.returncode, proc.stderr[-2000:])
    final = crash_run(home, None)
    assert final.returncode == 0, final.stderr[-3000:]
    database = f"t_soak_uninterrupted_{seed}"
    result = PipelineRunner(lakehouse, database=database, landing=home / "landing").run()
    assert result.ok, result.error
    return {"seed": seed, "home": home, "outcomes": outcomes, "database": database}


def test_every_fault_point_really_killed_the_run(crashed, tally) -> None:
    tally.faults_injected += len(crashed["outcomes"])
    for point, (code, stderr) in crashed["outcomes"].items():
        assert code == -signal.SIGKILL, f"{point} (seed {crashed['seed']}): {stderr}"


def test_every_table_of_every_layer_equals_the_uninterrupted_run(crashed, spark, tally) -> None:
    tables = [t for t in stored_tables(spark, crashed["database"]) if t not in NOT_COMPARED]
    layers = {config.layer_of(t) for t in tables}
    assert {"bronze", "silver", "gold", "bi", "ops"} <= layers, layers
    for table in tables:
        restarted = spark.read.format("delta").load(str(home_table_dir(crashed["home"], table)))
        expected = spark.read.table(f"`{crashed['database']}`.`{table}`")
        missing = max(0, expected.count() - restarted.count())
        tally.rows_lost += missing
        assertDataFrameEqual(comparable(restarted), comparable(expected))
