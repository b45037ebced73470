"""`make demo`: produce events, run the pipeline twice (the second incrementally), show results."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from clickstream import config, sqlout
from clickstream.config import LocalSettings
from clickstream.engine import Lakehouse
from clickstream.observability.report import write_report
from clickstream.query import run_query, table_counts
from clickstream.runner import PipelineRunner, UpdateResult

DEMO_START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _print_update(label: str, result: UpdateResult) -> None:
    outcome = "completed" if result.ok else f"FAILED: {result.error}"
    print(f"{label}: update {result.update_id} {outcome} in {result.duration_s:.1f} s")


def _show(spark: object, sql: str, database: str) -> None:
    columns, rows = run_query(spark, sql, database)
    print(sqlout.text_table(columns, rows))


def run_demo(settings: LocalSettings, events: int = 5000, seed: int = 42) -> int:
    from producer import produce

    started = time.monotonic()
    first = produce(events=events, seed=seed, sink=settings.landing, batches=2, start=DEMO_START)
    print(first.summary())
    with Lakehouse.open(settings) as lakehouse:
        print(f"engine: local Spark Connect ({lakehouse.mode}), home {settings.home}")
        runner = PipelineRunner(lakehouse)
        result = runner.run()
        _print_update("first run", result)
        if not result.ok:
            return 1
        # A later hour of the same site lands; the streaming tables read only the new files.
        more = produce(
            events=max(1, events // 5),
            seed=seed + 1,
            sink=settings.landing,
            start=DEMO_START + timedelta(hours=6),
        )
        print(more.summary())
        second = runner.run()
        _print_update("second run (incremental)", second)
        if not second.ok:
            return 1
        spark = lakehouse.spark
        db = settings.database
        print("\nrows per table:")
        counts = table_counts(spark, db)
        print(sqlout.text_table(["table", "rows"], counts))
        print("\nbronze rows per update (the second ingested only the new files):")
        _show(
            spark,
            f"SELECT _update_id, count(*) AS bronze_rows, count(_corrupt_record) AS corrupt "
            f"FROM {config.BRONZE_EVENTS} GROUP BY _update_id ORDER BY min(_ingested_at)",
            db,
        )
        print("\ndaily active users (gold):")
        _show(spark, f"SELECT * FROM {config.MV_DAILY_ACTIVE_USERS} ORDER BY event_date", db)
        print("\nupdates (pipeline_event_log):")
        _show(
            spark,
            "SELECT update_id, state, duration_s, rows_written FROM v_run_history "
            "ORDER BY started_at",
            db,
        )
        report = write_report(spark, settings, db)
    print(
        f"\ndemo finished in {time.monotonic() - started:.0f} s; query more with "
        f'`clickstream sql "SELECT …"` (home: {settings.home}). The report:'
    )
    print(report)
    return 0
