"""The benchmark harness at tiny scale on the shared test server: its correctness, never speed.

One harness run (module fixture) serves every assertion: the results document carries every key
the issue names, the floor and both ingestion paths saw every landed line, the hand-written
streaming job and the pipeline hold the same silver rows, and the incremental update adds what
landed. One size and no clustering keep it to two pipeline updates: the scaling fit (three sizes)
and freshness (a live producer) are left to `make bench`, their arithmetic checked on plain
numbers below.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from benchmarks import profile, readme_table
from benchmarks.run import (
    REQUIRED_KEYS,
    STREAMING_TABLES,
    BenchConfig,
    growth_exponent,
    linear_fit,
    percentile,
    run_benchmarks,
    write_results,
)
from clickstream.observability import event_log

# Columns that differ between any two runs of the same files by design.
PER_RUN_COLUMNS = {"_ingested_at", "_update_id"}
# 600 events (one landed file); two pipeline updates: the size's, then the incremental one.
LARGE = 600
SMOKE = BenchConfig(
    scale=0.0006,
    sizes=(1_000_000,),
    fresh_full_pipeline=False,
    gold=False,
    baselines_on_smallest=False,
    freshness=False,
    clustering=False,
    database_prefix="t_bench",
)


@pytest.fixture(scope="module")
def results(lakehouse, shared_settings, tmp_path_factory):
    document = run_benchmarks(SMOKE, lakehouse=lakehouse, work=shared_settings.home / "bench")
    # What make bench writes, read back: the document must survive JSON.
    path = tmp_path_factory.mktemp("bench") / "results.json"
    write_results(document, path)
    return json.loads(path.read_text())


@pytest.mark.spark
def test_every_key_is_present(results):
    missing = [key for key in REQUIRED_KEYS if key not in results]
    assert missing == []
    assert results["git_sha"]
    for key in ("cores", "ram_gb", "cpu_model", "python", "java", "spark", "delta_spark"):
        assert results["machine"][key], key
    assert results["raw"]["sizes"] == [LARGE]
    # Freshness was skipped: said so, not invented.
    assert results["raw"]["freshness"] == {"skipped": True}
    assert results["freshness_p50_s"] is None and results["freshness_p95_s"] is None
    # One size: no fit, said so, not invented.
    unfitted = ("growth_exponent", "fixed_cost_s", "per_event_us")
    assert [results[k] for k in unfitted] == [None, None, None]
    measured = [k for k in REQUIRED_KEYS if not k.startswith("freshness_") and k not in unfitted]
    assert [k for k in measured if not isinstance(results[k], int | float)] == []
    assert results["peak_rss_mb"] > 0


@pytest.mark.spark
def test_every_landed_line_reaches_floor_and_both_bronzes(results):
    # The producer writes one event a line; ``rows`` were counted right after each run.
    for size in (LARGE,):
        lines = results["raw"]["produced"][str(size)]["events"]
        assert lines == size
        assert results["raw"]["ingestion"][str(size)]["pipeline"]["rows"]["bronze_events"] == lines
    case = results["raw"]["ingestion"][str(LARGE)]
    assert case["floor"]["rows"]["floor_events"] == LARGE
    assert case["handwritten"]["rows"]["bronze_events"] == LARGE


@pytest.mark.spark
def test_handwritten_counts_equal_the_pipeline(results):
    case = results["raw"]["ingestion"][str(LARGE)]
    assert case["handwritten"]["rows"] == case["pipeline"]["rows"]
    assert set(case["pipeline"]["rows"]) == set(STREAMING_TABLES)
    assert case["pipeline"]["rows"]["silver_events"] > 0


@pytest.mark.spark
def test_handwritten_silver_rows_equal_the_pipeline(results, spark):
    case = results["raw"]["ingestion"][str(LARGE)]
    # The incremental case later landed more files into the pipeline's database: compare the
    # rows of the first update (every row carries the update that ingested it).
    first_update = case["pipeline"]["update_id"]
    for table in STREAMING_TABLES:
        hand = spark.read.table(f"`{case['handwritten']['database']}`.{table}")
        pipe = spark.read.table(f"`{case['pipeline']['database']}`.{table}")
        pipe = pipe.where(pipe["_update_id"] == first_update)
        columns = [c for c in pipe.columns if c not in PER_RUN_COLUMNS]
        assert sorted(hand.columns) == sorted(pipe.columns), table
        assertDataFrameEqual(hand.select(columns), pipe.select(columns))


@pytest.mark.spark
def test_incremental_adds_the_extra_events(results):
    inc = results["raw"]["incremental"]
    before = results["raw"]["ingestion"][str(LARGE)]["pipeline"]["rows"]["bronze_events"]
    assert inc["rows_after_incremental"]["bronze_events"] == before + inc["incremental_events"]
    assert inc["incremental_events"] == round(LARGE * SMOKE.incremental_share)
    assert results["raw"]["pipeline_updates"] == 2
    # The incremental update's profile: each streaming flow ran one more batch, on the new rows.
    flows = inc["incremental_profile"]["flows"]
    assert {name.split(".")[-1] for name in flows} == set(STREAMING_TABLES)
    assert all(entry["batches"] >= 1 for entry in flows.values())
    bronze = next(e for n, e in flows.items() if n.endswith(".bronze_events"))
    assert bronze["input_rows"] >= 1  # the new file (or its lines, by the source's count)
    # The flows' wall time (side by side, counted once) fits in the update's.
    timed = inc["incremental_profile"]
    assert 0 < timed["flows_s"] <= timed["flows_busy_s"] + 1e-6
    assert timed["outside_flows_s"] >= 0


@pytest.mark.spark
def test_one_size_gives_no_fit_and_says_so(results):
    scaling = results["raw"]["scaling"]
    assert scaling["events"] == [LARGE] and math.isfinite(scaling["seconds"][0])
    assert scaling["a_s"] is None and "no fit" in scaling["note"]


@pytest.mark.spark
def test_clustering_off_in_both_paths(results, spark):
    case = results["raw"]["ingestion"][str(LARGE)]
    assert not case["pipeline"]["clustering"]
    for database in (case["pipeline"]["database"], case["handwritten"]["database"]):
        detail = spark.sql(f"DESCRIBE DETAIL `{database}`.silver_events").first()
        assert list(detail["clusteringColumns"]) == []


@pytest.mark.spark
def test_readme_table_renders_every_metric(results):
    text = readme_table.update(
        f"a\n{readme_table.BEGIN}\nPREVIOUS TABLE\n{readme_table.END}\nb\n", results
    )
    assert text.startswith(f"a\n{readme_table.BEGIN}\n| metric |")
    assert text.endswith(f"{readme_table.END}\nb\n")
    assert "PREVIOUS TABLE" not in text
    for key, _, _ in readme_table.ROWS:
        assert f"`{key}`" in text


def test_linear_fit_and_exponent_recover_known_numbers():
    ns = [100_000, 300_000, 1_000_000]
    ts = [12.0 + 3e-5 * n for n in ns]  # a = 12 s, b = 30 µs per event, k = 1
    a, b = linear_fit(ns, ts)
    assert a == pytest.approx(12.0)
    assert b == pytest.approx(3e-5)
    assert growth_exponent(ns, ts, a) == pytest.approx(1.0)
    quadratic = [5.0 + 1e-9 * n**2 for n in ns]
    assert growth_exponent(ns, quadratic, 5.0) == pytest.approx(2.0)
    assert growth_exponent(ns, [1.0, 1.0, 1.0], 1.0) is None
    assert growth_exponent(ns[:2], ts[:2], a) is None


def test_wall_time_of_flows_counts_overlapping_batches_once():
    # Four silver flows side by side for 3 s, then one more batch after a 1 s gap.
    spans = [(10.0, 13.0), (10.5, 12.0), (11.0, 13.0), (12.5, 13.0), (14.0, 15.5)]
    assert profile.wall_seconds(spans) == pytest.approx(4.5)
    assert profile.wall_seconds([]) == 0.0
    progress = {"timestamp": "2026-12-02T16:29:10.250Z", "durationMs": {"triggerExecution": 1500}}
    start, end = profile._span(progress)
    assert end - start == pytest.approx(1.5)
    assert start == pytest.approx(datetime(2026, 12, 2, 16, 29, 10, 250000, tzinfo=UTC).timestamp())


def test_profiles_read_only_what_was_logged_after_the_offsets(tmp_path):
    def progress(name: str) -> str:
        event = {
            "Event": event_log.PROGRESS_EVENT,
            "progress": {
                "name": name,
                "timestamp": "2026-12-02T16:29:10.000Z",
                "sources": [{"numInputRows": 5}],
                "durationMs": {"triggerExecution": 100},
            },
        }
        return json.dumps(event) + "\n"

    log = tmp_path / "eventlog_v2_app" / "events_1_app"
    log.parent.mkdir()
    log.write_text(progress("spark_catalog.t_old.silver_events"))
    since = event_log.event_log_offsets(tmp_path)
    with log.open("a") as handle:
        handle.write(progress("spark_catalog.t_new.silver_events"))
    assert set(profile.query_profile(tmp_path, "t_old")) == {"spark_catalog.t_old.silver_events"}
    assert profile.query_profile(tmp_path, "t_old", since) == {}
    assert (
        profile.query_profile(tmp_path, "t_new", since)["spark_catalog.t_new.silver_events"][
            "input_rows"
        ]
        == 5
    )


def test_percentiles_interpolate_between_ranks():
    values = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile([7.0], 95) == 7.0


@pytest.mark.spark
def test_profiles_cover_every_streaming_query(results):
    case = results["raw"]["ingestion"][str(LARGE)]
    pipeline = case["pipeline"]["profile"]
    assert {name.split(".")[-1] for name in pipeline} == set(STREAMING_TABLES)
    prefix = f"handwritten_{case['handwritten']['database']}_"
    hand = case["handwritten"]["profile"]
    assert {name.removeprefix(prefix) for name in hand} == set(STREAMING_TABLES)
    for entry in (*pipeline.values(), *hand.values()):
        assert entry["batches"] >= 1
        assert entry["ms"]["triggerExecution"] >= entry["ms"]["addBatch"] >= 0
