"""The notebooks in a workspace: `teaching.start` there drives the deployed pipeline.

The workspace side is FakeWorkspace (the REST endpoints the SDK calls, over real HTTP); the
"workspace's" Spark session is the tests' real shared server, where the Unity Catalog names of
the deployment are spark_catalog and two databases standing in for the two schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support import FakeWorkspace, iso

from clickstream import config, teaching, teaching_workspace
from clickstream.observability import event_log
from clickstream.teaching_workspace import WorkspaceLab, WorkspaceLabError

pytestmark = pytest.mark.spark

ENGINEERING = "t_wslab_engineering"
ANALYTICS = "t_wslab_analytics"


def deployed_files(tmp_path: Path, workspace: FakeWorkspace) -> Path:
    """A deployment's folders as a workspace holds them: files/ (synced) beside state/."""
    root = tmp_path / ".bundle" / "lakeflow_clickstream" / "dev"
    state = workspace.deploy(str(root))
    (root / "state").mkdir(parents=True)
    (root / "state" / "metadata.json").write_bytes(workspace.files[state])
    (root / "files").mkdir()
    return root / "files"


def conf(landing: Path) -> dict[str, Any]:
    return {
        "catalog": "spark_catalog",
        "schema": ENGINEERING,
        "configuration": {
            "clickstream.platform": "databricks",
            "clickstream.landing_path": str(landing),
            "clickstream.catalog": "spark_catalog",
            "clickstream.engineering_schema": ENGINEERING,
            "clickstream.analytics_schema": ANALYTICS,
        },
    }


def update_events(failed: bool = False):
    def make(update_id: str, created: int) -> list[dict[str, Any]]:
        def event(second: int, **fields: Any) -> dict[str, Any]:
            return {
                "id": f"{update_id}-{second}",
                "timestamp": iso(created + second * 1000),
                "origin": {"update_id": update_id, "flow_name": fields.pop("flow", None)},
                "level": fields.pop("level", "INFO"),
                **fields,
            }

        def definition(second: int, output: str, inputs: list[str], kind: str) -> dict:
            return event(
                second,
                flow=output,
                event_type="flow_definition",
                message=f"Flow '{output}' is defined.",
                details={
                    "flow_definition": {
                        "output_dataset": f"spark_catalog.{ENGINEERING}.{output}",
                        "input_datasets": [f"spark_catalog.{ENGINEERING}.{i}" for i in inputs],
                        "flow_type": kind,
                    }
                },
            )

        events = [
            definition(1, "silver_events", ["bronze_events"], "APPEND"),
            definition(2, "mv_funnel_daily", ["fact_sessions"], "COMPLETE"),
        ]
        if failed:
            events.append(
                event(
                    3,
                    event_type="update_progress",
                    level="ERROR",
                    message="Update failed: expectation has_event_id violated",
                )
            )
        return events

    return make


@pytest.fixture
def published(spark) -> Iterator[None]:
    """Tables the deployed pipeline would have published in the two schemas."""
    for schema in (ENGINEERING, ANALYTICS):
        spark.sql(f"DROP DATABASE IF EXISTS `{schema}` CASCADE")
        spark.sql(f"CREATE DATABASE `{schema}`")
    spark.sql(f"CREATE TABLE `{ENGINEERING}`.silver_events (event_id STRING) USING delta")
    spark.sql(f"INSERT INTO `{ENGINEERING}`.silver_events VALUES ('e1'), ('e2'), ('e3')")
    spark.sql(f"CREATE TABLE `{ANALYTICS}`.dim_user (user_key STRING, tier STRING) USING delta")
    spark.sql(f"INSERT INTO `{ANALYTICS}`.dim_user VALUES ('u1', 'gold'), ('u2', 'free')")
    event_log.ensure_table(spark, ENGINEERING)
    yield
    # The shared session: its short-name views must not shadow other tests' tables.
    for view in spark.sql("SHOW VIEWS IN default").collect():
        if view.isTemporary:
            spark.catalog.dropTempView(view.viewName)
    spark.sql("USE spark_catalog.default")
    for schema in (ENGINEERING, ANALYTICS):
        spark.sql(f"DROP DATABASE IF EXISTS `{schema}` CASCADE")


@pytest.fixture
def lab(workspace, tmp_path, spark, published) -> WorkspaceLab:
    from databricks.sdk import WorkspaceClient

    workspace.pipeline_spec = conf(tmp_path / "volume")
    workspace.update_states = ["QUEUED", "RUNNING", "COMPLETED"]
    workspace.next_update_events = update_events()
    files = deployed_files(tmp_path, workspace)
    started = teaching_workspace.start(
        "04_gold_star_schema_and_scd2", files, spark, WorkspaceClient()
    )
    started.poll_seconds = 0.01
    return started


def test_start_finds_this_deployments_pipeline_and_its_names(capsys, lab, workspace) -> None:
    assert lab.pipeline.pipeline_id == workspace.pipeline_id
    assert lab.names == config.DatabricksNames("spark_catalog", ENGINEERING, ANALYTICS)
    assert lab.table("dim_user") == f"spark_catalog.{ANALYTICS}.dim_user"
    assert lab.table("silver_events") == f"spark_catalog.{ENGINEERING}.silver_events"
    assert not lab.local
    assert "nothing is reset" in capsys.readouterr().out


def test_short_names_resolve_in_both_schemas(lab) -> None:
    assert lab.sql("SELECT count(*) AS n FROM silver_events")["n"][0] == 3
    assert lab.sql("SELECT tier FROM dim_user ORDER BY user_key")["tier"].tolist() == [
        "gold",
        "free",
    ]
    # The monitoring views run over the deployment's published event log.
    assert list(lab.sql("SELECT * FROM v_run_history").columns)[:2] == ["update_id", "started_at"]
    counts = dict(lab.table_counts().itertuples(index=False))
    assert counts["silver_events"] == 3 and counts["dim_user"] == 2
    assert "bronze_events" not in counts  # not published: left out, not an error
    assert lab.history("silver_events")["operation"].tolist()[-1] == "WRITE"


def test_run_starts_an_update_of_the_deployed_pipeline_and_follows_it(lab, workspace) -> None:
    update = lab.run(full_refresh=True)
    assert update.ok and update.state == "COMPLETED" and update.error is None
    started = workspace.api("POST", r"/api/2\.0/pipelines/[^/]+/updates")
    assert [r.body for r in started] == [{"full_refresh": True}]
    edges = {(e.source, e.target, e.streaming) for e in update.lineage.edges}
    assert edges == {
        ("bronze_events", "silver_events", True),
        ("fact_sessions", "mv_funnel_daily", False),
    }
    assert lab.updates == [update]
    assert teaching.verdict("06", lab, 1) == (True, "exercise 06: correct")


def test_a_failed_update_reports_the_event_logs_error(lab, workspace, capsys) -> None:
    workspace.update_states = ["RUNNING", "FAILED"]
    workspace.next_update_events = update_events(failed=True)
    update = lab.run()
    assert not update.ok
    # The operator command's line: when, where (the event type: no flow failed) and why.
    assert update.error.endswith(
        " update_progress: Update failed: expectation has_event_id violated"
    )
    assert "update 1: FAILED — " in capsys.readouterr().out


def test_settings_belong_to_the_bundle_not_the_notebook(lab) -> None:
    with pytest.raises(WorkspaceLabError, match=r"databricks\.yml"):
        lab.run(watermark_delay="5 minutes")


def test_produce_lands_in_the_volume_and_keeps_what_is_there(lab, tmp_path) -> None:
    volume = tmp_path / "volume"
    (volume / "2026").mkdir(parents=True)
    (volume / "2026" / "earlier.json").write_text('{"event_id": "x"}\n')
    result = lab.produce(events=40, seed=5)
    assert (volume / "2026" / "earlier.json").exists()
    lines = [
        line
        for rel in result.files
        for line in (volume / rel).read_bytes().split(b"\n")
        if line.strip()
    ]
    assert len(lines) >= 40  # every event, plus the producer's duplicates


def test_a_pipeline_id_in_the_environment_wins(tmp_path) -> None:
    assert teaching_workspace.pipeline_id_for(tmp_path, {"CLICKSTREAM_PIPELINE_ID": "p-1"}) == "p-1"


def test_no_deployment_state_says_what_to_do(tmp_path) -> None:
    with pytest.raises(WorkspaceLabError, match="CLICKSTREAM_PIPELINE_ID"):
        teaching_workspace.pipeline_id_for(tmp_path / "files", {})


def test_a_pipeline_without_clickstream_configuration_is_refused(workspace, tmp_path) -> None:
    from databricks.sdk import WorkspaceClient

    workspace.pipeline_spec = {"catalog": "main", "configuration": {}}
    with pytest.raises(WorkspaceLabError, match=r"clickstream\.catalog"):
        teaching_workspace.describe_pipeline(WorkspaceClient(), workspace.pipeline_id)


def test_teaching_start_in_a_databricks_runtime_opens_the_workspace_lab(monkeypatch) -> None:
    opened = []
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "client.4.0")
    monkeypatch.setattr(
        teaching_workspace, "start", lambda notebook, files: opened.append((notebook, files))
    )
    teaching.start("03_silver_quality_and_privacy")
    assert opened == [("03_silver_quality_and_privacy", teaching.PROJECT_ROOT)]
