"""The event log, its views, the report and the terminal output, after real updates.

One module fixture lands two seeded batches and runs `clickstream run` after each, and in a second
database runs an update whose silver transform is deliberately broken (expect_or_fail trips), so
that the first database's report shows two complete updates.
Expected values come from the landed files, the Delta history and the tables themselves
(collected and counted in plain Python), never from the observability code under test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clickstream import config
from clickstream.observability.report import cell as report_cell
from clickstream.transforms.silver import FAULT_NULL_LINEAGE
from producer import produce

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DATABASE = "t_observability"
FAILED_DATABASE = "t_observability_failed"
SECTIONS = (
    "latest-update",
    "update-history",
    "rows-per-layer",
    "expectations",
    "quarantine",
    "late-duplicates",
    "throughput",
    "lineage",
    "accounting",
)
PLOTTED = tuple(s for s in SECTIONS if s not in ("latest-update", "accounting"))
OUTCOME = re.compile(r"^update (?P<id>[0-9a-f-]{36}) (?P<outcome>completed|FAILED)")


def landed_lines(landing: Path, files: tuple[str, ...]) -> int:
    """Non-blank lines of the files one producer run landed: bronze rows it must add."""
    return sum(
        sum(1 for line in (landing / f).read_bytes().split(b"\n") if line.strip()) for f in files
    )


@pytest.fixture(scope="module")
def obs(shared_settings, lakehouse, spark):
    from lakehouse_testing import Sandbox

    from clickstream.runner import PipelineRunner

    landing = shared_settings.home / "landings" / DATABASE
    landing.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(shared_settings, DATABASE, landing)
    kw = {"defect_rates": {"all": 0.02}, "max_events_per_file": 60}
    batches = [produce(events=120, seed=61, sink=landing, start=START, **kw)]
    first = sandbox.cli("run")
    assert first.code == 0, first.stderr
    batches.append(
        produce(events=60, seed=62, sink=landing, start=START + timedelta(hours=3), **kw)
    )
    second = sandbox.cli("run")
    assert second.code == 0, second.stderr
    ids = []
    for output in (first.stdout, second.stdout):
        outcome = OUTCOME.match(output.strip().splitlines()[-1])
        assert outcome and outcome["outcome"] == "completed", output[-2000:]
        ids.append(outcome["id"])
    report_path = shared_settings.home / "reports" / f"{DATABASE}-test.html"
    report = sandbox.cli("report", "--out", str(report_path))
    assert report.code == 0, report.stderr

    failed_landing = shared_settings.home / "landings" / FAILED_DATABASE
    failed_landing.mkdir(parents=True, exist_ok=True)
    failed_batch = produce(events=20, seed=63, sink=failed_landing, clean=True, start=START)
    broken = PipelineRunner(
        lakehouse,
        database=FAILED_DATABASE,
        landing=failed_landing,
        pipeline_settings={"inject_fault": FAULT_NULL_LINEAGE},
    ).run()
    assert not broken.ok
    return {
        "sandbox": sandbox,
        "batches": batches,
        "cli_runs": (first, second),
        "broken": broken,
        "failed_sandbox": Sandbox(shared_settings, FAILED_DATABASE, failed_landing),
        "failed_batch": failed_batch,
        "ids": ids,
        "report": report,
        "report_path": report_path,
    }


def q(spark, sql: str, db: str = DATABASE) -> list:
    return spark.sql(sql.replace("{db}", f"`{db}`")).collect()


def log_events(spark, update_id: str | None = None, db: str = DATABASE) -> list[dict]:
    where = f"WHERE origin.update_id = '{update_id}'" if update_id else ""
    rows = q(spark, f"SELECT * FROM {{db}}.pipeline_event_log {where}", db)
    events = [r.asDict(recursive=True) for r in rows]
    return sorted(events, key=lambda e: json.loads(e["sequence"])["control_plane_seq_no"])


def details(event: dict) -> dict:
    return json.loads(event["details"])


def completed_flows(spark, update_id: str, db: str = DATABASE) -> dict[str, dict]:
    """dataset -> flow_progress details of the flow's COMPLETED event in that update."""
    out = {}
    for event in log_events(spark, update_id, db):
        progress = details(event).get("flow_progress", {})
        if event["event_type"] == "flow_progress" and "metrics" in progress:
            assert progress["status"] == "COMPLETED"
            out[event["origin"]["dataset_name"]] = progress
    return out


def updates(obs) -> list[tuple[str, str, object]]:
    """(database, update id, the batch landed before it) of every update the fixture ran."""
    main = [(DATABASE, i, b) for i, b in zip(obs["ids"], obs["batches"], strict=True)]
    return [*main, (FAILED_DATABASE, obs["broken"].update_id, obs["failed_batch"])]


def test_the_event_log_has_every_update_in_databricks_shape(obs, spark):
    history = {r["update_id"]: r for r in q(spark, "SELECT * FROM {db}.v_run_history")}
    assert set(history) == set(obs["ids"])
    assert [history[i]["state"] for i in obs["ids"]] == ["COMPLETED", "COMPLETED"]
    failed = q(spark, "SELECT * FROM {db}.v_run_history", FAILED_DATABASE)
    assert [(r["update_id"], r["state"]) for r in failed] == [(obs["broken"].update_id, "FAILED")]
    columns = {f.name for f in spark.table(f"`{DATABASE}`.pipeline_event_log").schema.fields}
    assert {"id", "sequence", "origin", "timestamp", "message", "level", "error"} <= columns
    assert {"event_type", "details"} <= columns
    origin = spark.table(f"`{DATABASE}`.pipeline_event_log").schema["origin"].dataType
    assert {"pipeline_name", "update_id", "flow_name", "dataset_name"} <= set(origin.names)
    for db, update_id, _ in updates(obs):
        events = log_events(spark, update_id, db)
        types = Counter(e["event_type"] for e in events)
        assert types["create_update"] == 1
        assert types["flow_progress"] > 0 and types["dataset_definition"] > 0
        assert len({e["id"] for e in events}) == len(events)
        assert {e["origin"]["pipeline_name"] for e in events} == {config.PIPELINE_NAME}
        # The sequence orders the events of an update as their timestamps do.
        assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
        assert events[0]["event_type"] == "create_update"
        assert events[-1]["event_type"] == "update_progress"


def test_rows_per_dataset_equal_the_rows_each_delta_commit_added(obs, spark):
    covered: dict[tuple[str, str], list[int]] = {}
    for db, update_id, batch in updates(obs):
        flows = completed_flows(spark, update_id, db)
        # Ground truth for bronze: every line the batch landed, once.
        landing = obs["sandbox" if db == DATABASE else "failed_sandbox"].landing
        assert flows[config.BRONZE_EVENTS]["metrics"]["num_output_rows"] == landed_lines(
            landing, batch.files
        )
        for dataset, progress in flows.items():
            history = {
                r["version"]: r for r in q(spark, f"DESCRIBE HISTORY {{db}}.`{dataset}`", db)
            }
            added = 0
            for commit in progress["delta_commits"]:
                row = history[commit["version"]]
                assert row["operation"] == commit["operation"]
                added += int((row["operationMetrics"] or {}).get("numOutputRows", 0))
                covered.setdefault((db, dataset), []).append(commit["version"])
            assert progress["metrics"]["num_output_rows"] == added, (update_id, dataset)
    # Every commit that added rows is in exactly one update's record.
    for (db, dataset), versions in covered.items():
        adding = [
            r["version"]
            for r in q(spark, f"DESCRIBE HISTORY {{db}}.`{dataset}`", db)
            if int((r["operationMetrics"] or {}).get("numOutputRows", 0)) > 0
        ]
        assert sorted(adding) == sorted(v for v in versions if v in adding), dataset
        assert len(versions) == len(set(versions))
    # The failed flow committed nothing and reports no rows.
    assert config.SILVER_EVENTS not in completed_flows(
        spark, obs["broken"].update_id, FAILED_DATABASE
    )


def test_expectation_metrics_per_rule_equal_the_quarantine_counts(obs, spark):
    quarantine = q(spark, "SELECT _update_id, failed_rules FROM {db}.silver_quarantine")
    silver = q(spark, "SELECT _update_id, _rescued_data FROM {db}.silver_events")
    bronze = Counter(r["_update_id"] for r in q(spark, "SELECT _update_id FROM {db}.bronze_events"))
    metrics = q(spark, "SELECT * FROM {db}.v_expectation_metrics")
    assert {m["update_id"] for m in metrics} == set(obs["ids"])
    assert q(spark, "SELECT * FROM {db}.v_expectation_metrics", FAILED_DATABASE) == [], (
        "no counts for a flow that failed"
    )
    for update_id in obs["ids"]:
        expected = Counter(
            rule for r in quarantine if r["_update_id"] == update_id for rule in r["failed_rules"]
        )
        mine = {m["expectation"]: m for m in metrics if m["update_id"] == update_id}
        drop = {name: m for name, m in mine.items() if m["action"] == "drop"}
        assert {name: m["failed_records"] for name, m in drop.items() if m["failed_records"]} == (
            dict(expected)
        )
        for m in drop.values():
            assert m["passed_records"] + m["failed_records"] == bronze[update_id]
        kept = [r for r in silver if r["_update_id"] == update_id]
        rescued = mine["no_rescued_data"]
        assert rescued["failed_records"] == sum(1 for r in kept if r["_rescued_data"] is not None)
        assert rescued["passed_records"] + rescued["failed_records"] == len(kept)
    assert sum(m["failed_records"] for m in metrics if m["action"] == "drop") > 0, "defects seen"


def test_a_failed_update_is_recorded_as_error_naming_the_rule(obs, spark):
    update_id = obs["broken"].update_id
    events = log_events(spark, update_id, FAILED_DATABASE)
    final = [e for e in events if e["event_type"] == "update_progress"][-1]
    assert final["level"] == "ERROR"
    assert details(final) == {"update_progress": {"state": "FAILED"}}
    error = json.loads(final["error"])
    assert error["expectation"] == {"name": "has_lineage", "dataset": config.SILVER_EVENTS}
    # Spark may wrap the raised error (TASK_WRITE_FAILED); the rule's own message is kept too.
    assert any(
        "expectation has_lineage (expect_or_fail) failed on table silver_events" in e["message"]
        for e in error["exceptions"]
    )
    failed_flows = [
        e for e in events if e["event_type"] == "flow_progress" and e["level"] == "ERROR"
    ]
    assert failed_flows and all(
        e["origin"]["dataset_name"] == config.SILVER_EVENTS for e in failed_flows
    )
    assert json.loads(failed_flows[-1]["error"])["fatal"] is True
    # Flows the failure stopped (those the engine reports as skipped) are warnings.
    skipped = [e for e in events if details(e).get("flow_progress", {}).get("status") == "SKIPPED"]
    assert {e["level"] for e in skipped} <= {"WARN"}
    assert config.SILVER_EVENTS not in {e["origin"]["dataset_name"] for e in skipped}
    history = q(spark, "SELECT * FROM {db}.v_run_history", FAILED_DATABASE)
    assert history[0]["state"] == "FAILED" and "has_lineage" in history[0]["error"]

    shown = obs["failed_sandbox"].cli("events", "--update", update_id, "--level", "ERROR")
    assert shown.code == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert lines and all(" ERROR " in line for line in lines)
    assert len(lines) == sum(1 for e in events if e["level"] == "ERROR")
    assert "expectation has_lineage on silver_events" in lines[-1]


def test_lineage_is_exactly_the_registered_graph(obs, spark):
    from clickstream.observability.lineage import Lineage

    failed = obs["failed_sandbox"]
    stored = failed.settings.pipeline_storage(FAILED_DATABASE) / "lineage.json"
    assert Lineage.from_json(stored.read_text()) == obs["broken"].lineage
    sandbox = obs["sandbox"]
    lineage = Lineage.from_json(
        (sandbox.settings.pipeline_storage(DATABASE) / "lineage.json").read_text()
    )
    # The same definitions registered the same graph in both databases.
    assert lineage.datasets == obs["broken"].lineage.datasets
    assert {(e.flow, e.target) for e in lineage.edges} == {
        (e.flow, e.target) for e in obs["broken"].lineage.edges
    }
    tables = {
        t.name
        for t in spark.catalog.listTables(DATABASE)
        if t.tableType != "VIEW" and t.name != config.EVENT_LOG_TABLE
    }
    # Temporary views (gold's change feeds) are datasets of the graph with no table behind them.
    published = {n for n, kind in lineage.datasets.items() if kind != "temporary_view"}
    assert published == tables
    events = log_events(spark, obs["ids"][-1])
    defined = {
        e["origin"]["dataset_name"]: details(e)["dataset_definition"]["dataset_type"]
        for e in events
        if e["event_type"] == "dataset_definition"
    }
    assert defined == {name: kind.upper() for name, kind in lineage.datasets.items()}
    flows = {
        e["origin"]["flow_name"]: e["origin"]["dataset_name"]
        for e in events
        if e["event_type"] == "flow_definition"
    }
    assert flows == {e.flow: e.target for e in lineage.edges}
    for edge in lineage.edges:
        assert edge.source in lineage.datasets or edge.source == f"files:{sandbox.landing}"


# --- the report -------------------------------------------------------------------------------


class ReportParser(HTMLParser):
    """Sections of the report: their table rows (cell texts) and whether they hold an SVG."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current: str | None = None
        self.row: list[str] | None = None
        self.text: list[str] | None = None
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.current = attributes["id"]
            self.sections[self.current] = {"rows": [], "columns": [], "svg": False}
        elif self.current is None:
            return
        elif tag == "svg":
            self.sections[self.current]["svg"] = True
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.text = []

    def handle_endtag(self, tag: str) -> None:
        if self.current is None:
            return
        if tag in ("td", "th") and self.text is not None and self.row is not None:
            self.row.append("".join(self.text).strip())
            self.text = None
        elif tag == "tr" and self.row is not None:
            key = "columns" if self.in_head else "rows"
            self.sections[self.current][key].append(self.row)
            self.row = None
        elif tag == "thead":
            self.in_head = False
        elif tag == "section":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)




def rows_of(records, *columns) -> list[list[str]]:
    # The numbers come from the tables; only their printing is the report's own.
    return [[report_cell(r[c]) for c in columns] for r in records]


@pytest.fixture(scope="module")
def report(obs):
    assert obs["report"].stdout.strip().splitlines()[-1] == str(obs["report_path"])
    parser = ReportParser()
    parser.feed(obs["report_path"].read_text(encoding="utf-8"))
    return parser.sections


def table(report, section: str) -> list[list[str]]:
    rows = report[section]["rows"]
    return [] if rows == [["no data yet"]] else rows


def test_the_report_has_every_section_with_its_plot(report):
    assert list(report) == list(SECTIONS)
    for section in PLOTTED:
        assert report[section]["svg"], section
        assert table(report, section), section


def test_report_runs_and_latest_update_equal_the_run_history(obs, report, spark):
    history = q(spark, "SELECT * FROM {db}.v_run_history ORDER BY started_at")
    assert [r["update_id"] for r in history] == obs["ids"]
    columns = ("update_id", "started_at", "state", "duration_s", "rows_written", "errors")
    assert table(report, "update-history") == rows_of(history, *columns)
    assert table(report, "latest-update") == rows_of(history[-1:], *columns, "error")
    # rows written = the rows of the completed flows' commits in the log
    for record in history:
        flows = completed_flows(spark, record["update_id"])
        assert record["rows_written"] == sum(
            f["metrics"]["num_output_rows"] for f in flows.values()
        )


def test_report_rows_per_layer_equal_the_table_counts(report, spark):
    tables = [t.name for t in spark.catalog.listTables(DATABASE) if t.tableType != "VIEW"]
    counts = {t: spark.table(f"`{DATABASE}`.`{t}`").count() for t in tables}
    rows = table(report, "rows-per-layer")
    assert {r[1]: int(r[2]) for r in rows} == counts
    assert {r[1]: r[0] for r in rows} == {t: config.layer_of(t) for t in tables}


def test_report_expectations_and_quarantine_equal_the_tables(report, spark):
    metrics = q(spark, "SELECT * FROM {db}.v_expectation_metrics ORDER BY timestamp, expectation")
    assert table(report, "expectations") == rows_of(
        metrics,
        "update_id",
        "timestamp",
        "expectation",
        "action",
        "passed_records",
        "failed_records",
    )
    quarantine = Counter(
        rule
        for r in q(spark, "SELECT failed_rules FROM {db}.silver_quarantine")
        for rule in r["failed_rules"]
    )
    assert {r[0]: int(r[1]) for r in table(report, "quarantine")} == dict(quarantine)


def test_report_late_duplicates_and_accounting_equal_the_accounting_table(report, spark):
    rows = q(spark, "SELECT _update_id, outcome FROM {db}.event_accounting")
    per_update = Counter((r["_update_id"], r["outcome"]) for r in rows)
    totals = Counter(r["outcome"] for r in rows)
    shown_rows = table(report, "late-duplicates")
    assert {r[0] for r in shown_rows} == {r["_update_id"] for r in rows}
    for update_id, late, duplicates, bronze_rows in shown_rows:
        assert int(late) == per_update[(update_id, "late")]
        assert int(duplicates) == per_update[(update_id, "duplicate")]
        assert int(bronze_rows) == sum(n for (u, _), n in per_update.items() if u == update_id)
    expected = [
        len(rows),
        totals["silver"],
        totals["quarantine"],
        totals["duplicate"],
        totals["late"],
        totals["unaccounted"],
        totals["conflict"],
    ]
    holds = expected[0] == sum(expected[1:5]) and expected[5] == expected[6] == 0
    assert table(report, "accounting") == [[*map(str, expected), "yes" if holds else "no"]]


def test_report_throughput_and_lineage_equal_the_log_and_the_graph(obs, report, spark):
    from clickstream.observability.lineage import Lineage

    flows = q(spark, "SELECT * FROM {db}.v_flow_throughput ORDER BY completed_at, flow_name")
    assert table(report, "throughput") == rows_of(
        flows,
        "update_id",
        "flow_name",
        "input_rows",
        "output_rows",
        "duration_s",
        "rows_per_second",
    )
    bronze_input = [f for f in flows if f["flow_name"] == config.BRONZE_EVENTS]
    # The file source counts whole files: one input row per landed file.
    assert [f["input_rows"] for f in bronze_input] == [len(b.files) for b in obs["batches"]]
    sandbox = obs["sandbox"]
    lineage = Lineage.from_json(
        (sandbox.settings.pipeline_storage(DATABASE) / "lineage.json").read_text()
    )
    expected = sorted(
        (
            "landing files" if e.source.startswith("files:") else e.source,
            e.target,
            e.flow,
            "stream" if e.streaming else "read",
        )
        for e in lineage.edges
    )
    assert sorted(tuple(r) for r in table(report, "lineage")) == expected


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(), reason="Debian's chromium not installed"
)
def test_the_report_renders_in_a_headless_browser(obs):
    from PIL import Image

    shot = obs["report_path"].with_suffix(".png")
    subprocess.run(
        [
            shutil.which("chromium") or "/usr/bin/chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            obs["report_path"].as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    with Image.open(shot) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
    painted = sum(histogram[:200])  # pixels clearly darker than the white page
    assert painted > 0.01 * grey.width * grey.height
    assert grey.getextrema()[0] < 100


def test_run_prints_progress_then_a_summary_table_then_the_outcome(obs):
    for run in obs["cli_runs"]:
        lines = run.stdout.strip().splitlines()
        assert OUTCOME.match(lines[-1])
        assert any(
            line.endswith("Flow spark_catalog.t_observability.bronze_events is RUNNING.")
            for line in lines
        )
        start = next(i for i, line in enumerate(lines) if "summary of update" in line)
        summary = "\n".join(lines[start:-1])
        for dataset in (config.BRONZE_EVENTS, config.SILVER_EVENTS, config.EVENT_ACCOUNTING):
            assert re.search(rf"{dataset}\s*│\s*COMPLETED", summary), summary
        assert "rows written" in summary and "expectation failures" in summary
