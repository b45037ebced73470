"""End to end on the shared local server: landing -> bronze -> silver -> gold, twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import pytest

from clickstream import config
from producer import produce

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
TABLES = (config.BRONZE_EVENTS, config.SILVER_EVENTS, config.MV_DAILY_ACTIVE_USERS)


def nonblank_lines(files: list[Path]) -> int:
    return sum(1 for f in files for line in f.read_bytes().split(b"\n") if line.strip())


def landed_json(landing: Path) -> str:
    """DuckDB's view of the landed files: independent of the project's own parsing."""
    pattern = str(landing / "**" / "*.json")
    return f"read_json_auto('{pattern}', format='newline_delimited')"


def distinct_event_ids(landing: Path) -> int:
    return duckdb.sql(f"SELECT count(DISTINCT event_id) FROM {landed_json(landing)}").fetchall()[0][
        0
    ]


@pytest.fixture(scope="module")
def sandbox(shared_settings):
    """One database for this module: the expensive two-run fixture is shared by its tests."""
    from lakehouse_testing import Sandbox

    database = "t_pipeline_slice"
    landing = shared_settings.home / "landings" / database
    landing.mkdir(parents=True, exist_ok=True)
    return Sandbox(shared_settings, database, landing)


@pytest.fixture(scope="module")
def two_runs(sandbox, lakehouse):
    """Land a batch, run, land a later batch, run again — in one process, one JVM."""
    # Clean events plus re-sent duplicates: every line is a valid event, some repeated.
    # Re-sends land in a later file than their original, so the batches span several files.
    rates = {"duplicate": 0.05}
    kw = {"clean": True, "defect_rates": rates, "max_events_per_file": 100}
    first = produce(events=600, seed=11, sink=sandbox.landing, start=START, **kw)
    runner = sandbox.runner(lakehouse)
    run1 = runner.run()
    assert run1.ok, run1.error
    silver_after_first = lakehouse.spark.table(f"{sandbox.database}.{config.SILVER_EVENTS}").count()
    second = produce(
        events=150,
        seed=12,
        sink=sandbox.landing,
        **kw,
        start=START + timedelta(hours=5),
    )
    run2 = runner.run()
    assert run2.ok, run2.error
    return {
        "first": first,
        "second": second,
        "run1": run1,
        "run2": run2,
        "silver_after_first": silver_after_first,
    }


def test_tables_are_delta_in_the_persistent_catalog(two_runs, sandbox, spark):
    for table in TABLES:
        detail = spark.sql(f"DESCRIBE DETAIL `{sandbox.database}`.`{table}`").collect()[0]
        assert detail["format"] == "delta", table
        location = Path(urlparse(detail["location"]).path)
        assert location.is_relative_to(sandbox.settings.warehouse), location
    names = {r.tableName for r in spark.sql(f"SHOW TABLES IN `{sandbox.database}`").collect()}
    assert set(TABLES) <= names
    # A second process (a new CLI invocation through the shared server) sees tables and rows.
    result = sandbox.cli("sql", f"SELECT count(*) AS n FROM {config.SILVER_EVENTS}", "--json")
    assert result.code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = spark.table(f"{sandbox.database}.{config.SILVER_EVENTS}").count()
    assert rows == [{"n": expected}]


def test_second_run_ingests_only_new_files(two_runs, sandbox, spark):
    landing = sandbox.landing
    first_files = [landing / f for f in two_runs["first"].files]
    second_files = [landing / f for f in two_runs["second"].files]
    bronze = f"`{sandbox.database}`.`{config.BRONZE_EVENTS}`"
    # Delta history: the last streaming commit of bronze wrote exactly the new files' lines.
    history = spark.sql(f"DESCRIBE HISTORY {bronze}").orderBy("version").collect()
    writes = [h for h in history if h["operation"] == "STREAMING UPDATE"]
    assert int(writes[-1]["operationMetrics"]["numOutputRows"]) == nonblank_lines(second_files)
    # Every row is stamped with the update that ingested it, and each file was read once.
    per_update = {
        r["_update_id"]: (r["n"], r["files"])
        for r in spark.sql(
            f"SELECT _update_id, count(*) AS n, count(DISTINCT _source_file) AS files "
            f"FROM {bronze} GROUP BY _update_id"
        ).collect()
    }
    assert per_update == {
        two_runs["run1"].update_id: (nonblank_lines(first_files), len(first_files)),
        two_runs["run2"].update_id: (nonblank_lines(second_files), len(second_files)),
    }


def test_silver_is_deduplicated(two_runs, sandbox, spark):
    silver = spark.table(f"`{sandbox.database}`.`{config.SILVER_EVENTS}`")
    landed_rows = duckdb.sql(f"SELECT count(*) FROM {landed_json(sandbox.landing)}").fetchall()[0][
        0
    ]
    assert landed_rows > distinct_event_ids(sandbox.landing), "the input must hold re-sent events"
    assert silver.count() == silver.select("event_id").distinct().count()
    assert silver.count() == distinct_event_ids(sandbox.landing)
    assert silver.count() > two_runs["silver_after_first"]


def test_gold_view_matches_silver(two_runs, sandbox, spark):
    db = sandbox.database
    gold = {
        r["event_date"]: (r["active_users"], r["events"])
        for r in spark.table(f"`{db}`.`{config.MV_DAILY_ACTIVE_USERS}`").collect()
    }
    expected = {
        r["d"]: (r["users"], r["n"])
        for r in spark.sql(
            f"SELECT to_date(event_ts) AS d, count(*) AS n, "
            f"count(DISTINCT coalesce(user.user_id, user.anonymous_id)) AS users "
            f"FROM `{db}`.`{config.SILVER_EVENTS}` GROUP BY 1"
        ).collect()
    }
    assert gold == expected and sum(n for _, n in gold.values()) > 0
    # The sandbox runner turns the local clustering bridge off (tests/gold checks it).
    assert two_runs["run2"].clustering == {}


def test_lineage_is_captured_from_the_definitions(two_runs, sandbox, spark):
    from clickstream.observability.lineage import Lineage

    lineage = two_runs["run2"].lineage
    # Exactly the datasets the update published (every one is a table of the database), beside
    # the event log the runner appends to and its views.
    from clickstream.observability import event_log

    tables = {r.tableName for r in spark.sql(f"SHOW TABLES IN `{sandbox.database}`").collect()}
    published = {n for n, kind in lineage.datasets.items() if kind != "temporary_view"}
    assert tables - published == {config.EVENT_LOG_TABLE, *event_log.VIEWS}
    assert published <= tables
    assert lineage.datasets[config.BRONZE_EVENTS] == "streaming_table"
    assert lineage.datasets[config.SILVER_EVENTS] == "streaming_table"
    assert lineage.datasets[config.MV_DAILY_ACTIVE_USERS] == "materialized_view"
    edges = {(e.source, e.target, e.streaming) for e in lineage.edges}
    assert {
        (f"files:{sandbox.landing}", config.BRONZE_EVENTS, True),
        (config.BRONZE_EVENTS, config.SILVER_EVENTS, True),  # the stream of new rows
        (config.BRONZE_EVENTS, config.SILVER_EVENTS, False),  # the snapshot de-dup reads
        (config.SILVER_EVENTS, config.MV_DAILY_ACTIVE_USERS, False),
    } <= edges
    # Every edge connects registered datasets (or the landing zone): nothing invented.
    for source, target, _ in edges:
        assert target in lineage.datasets
        assert source in lineage.datasets or source == f"files:{sandbox.landing}"
    # Every dataset is fed by at least one edge (bronze by the landing zone).
    assert {t for _, t, _ in edges} == set(lineage.datasets)
    stored = sandbox.settings.pipeline_storage(sandbox.database) / "lineage.json"
    assert Lineage.from_json(stored.read_text()) == lineage


def test_lineage_command_prints_the_graph(two_runs, sandbox):
    result = sandbox.cli("lineage")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = {
        f"files:{sandbox.landing} =stream=> {config.BRONZE_EVENTS} (streaming_table)",
        f"{config.SILVER_EVENTS} --read--> {config.MV_DAILY_ACTIVE_USERS} (materialized_view)",
        f"{config.BRONZE_EVENTS} --read--> {config.SILVER_EVENTS} (streaming_table)",
        f"{config.BRONZE_EVENTS} =stream=> {config.SILVER_EVENTS} (streaming_table)",
    }
    assert expected <= set(lines)
    assert len(lines) == len(set(lines)) == len(two_runs["run2"].lineage.edges)
