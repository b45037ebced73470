"""expect_or_fail: a deliberately broken transform stops the update and commits nothing.

Bad events can never trigger a fail rule (they are quarantined), so the test injects a bug
through the test-only setting ``inject_fault``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from clickstream import config
from clickstream.transforms.silver import FAULT_NULL_LINEAGE
from producer import produce


def test_broken_transform_fails_the_update_naming_the_rule(sandbox, lakehouse, spark):
    from clickstream.runner import PipelineRunner

    produce(
        events=60,
        seed=5,
        sink=sandbox.landing,
        clean=True,
        start=datetime(2026, 11, 2, 8, tzinfo=UTC),
    )
    runner = PipelineRunner(
        lakehouse,
        database=sandbox.database,
        landing=sandbox.landing,
        # A failed flow is retried by default; once is enough to see it fail.
        pipeline_settings={
            "inject_fault": FAULT_NULL_LINEAGE,
            "spark.sql.pipelines.maxFlowRetryAttempts": "0",
        },
    )
    result = runner.run()
    assert not result.ok
    messages = [e.message for e in result.events]
    failure = next(m for m in messages if "expect_or_fail" in m)
    assert "expectation has_lineage (expect_or_fail) failed on table silver_events" in failure
    silver = f"`{sandbox.database}`.`{config.SILVER_EVENTS}`"
    assert spark.table(silver).count() == 0
    writes = [
        h
        for h in spark.sql(f"DESCRIBE HISTORY {silver}").collect()
        if h["operation"] == "STREAMING UPDATE"
    ]
    assert writes == []
    # Only that table stopped: bronze committed every line.
    bronze = spark.table(f"`{sandbox.database}`.`{config.BRONZE_EVENTS}`")
    assert bronze.count() == 60
