"""`clickstream databricks run|status|events` against a local server that speaks the REST API.

The command runs for real: the real argument parser, the real databricks-sdk WorkspaceClient with
host http://127.0.0.1:PORT and token auth, real HTTP. The server records what it was asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from deploy_support import ANN, PROD_VARS, REPO, SERVICE_PRINCIPAL, FakeWorkspace, iso

from clickstream.cli import main

DEV_ROOT = f"/Workspace/Users/{ANN.user_name}/.bundle/lakeflow_clickstream/dev"
FAILURE = "[TABLE_OR_VIEW_NOT_FOUND] The table `silver_events` cannot be found."


def pipeline_events(
    pipeline_id: str, *, failed: bool = False, padding: int = 0
) -> Callable[[str, int], list[dict[str, Any]]]:
    """The events an update logs: progress with expectation metrics, maybe an error."""

    def make(update_id: str, created: int) -> list[dict[str, Any]]:
        def event(second: int, **fields: Any) -> dict[str, Any]:
            return {
                "id": f"{update_id}-{second}",
                "timestamp": iso(created + second * 1000),
                "origin": {"pipeline_id": pipeline_id, "update_id": update_id},
                "level": "INFO",
                **fields,
            }

        def progress(second: int, expectations: list[tuple[str, int, int]]) -> dict[str, Any]:
            return event(
                second,
                event_type="flow_progress",
                message="Flow 'silver_events' has COMPLETED.",
                details={
                    "flow_progress": {
                        "status": "COMPLETED",
                        "data_quality": {
                            "dropped_records": 0,
                            "expectations": [
                                {
                                    "name": name,
                                    "dataset": "silver_events",
                                    "passed_records": passed,
                                    "failed_records": failed_records,
                                }
                                for name, passed, failed_records in expectations
                            ],
                        },
                    }
                },
            )

        events = [
            event(0, event_type="create_update", message="Update started by API call."),
            progress(2, [("valid_event_ts", 980, 20), ("known_event_type", 995, 5)]),
            progress(3, [("valid_event_ts", 490, 10)]),
        ]
        # Plain progress events, enough to need a second page of events.
        events += [
            event(4 + i, event_type="flow_progress", message="running") for i in range(padding)
        ]
        if failed:
            events.append(
                event(
                    9000,
                    event_type="flow_progress",
                    level="ERROR",
                    message="Flow 'gold_facts' has FAILED.",
                    origin={
                        "pipeline_id": pipeline_id,
                        "update_id": update_id,
                        "flow_name": "gold_facts",
                    },
                    error={
                        "fatal": True,
                        "exceptions": [
                            {
                                "class_name": "org.apache.spark.sql.AnalysisException",
                                "message": FAILURE,
                            }
                        ],
                    },
                )
            )
        # Another update's event in the same time window must not be reported.
        stranger = event(5, event_type="flow_progress", message="other update")
        stranger["origin"] = {"pipeline_id": pipeline_id, "update_id": "upd-other"}
        stranger["details"] = {
            "flow_progress": {
                "data_quality": {
                    "expectations": [
                        {
                            "name": "valid_event_ts",
                            "dataset": "silver_events",
                            "passed_records": 1,
                            "failed_records": 999,
                        }
                    ]
                }
            }
        }
        return [*events, stranger]

    return make


def cli(*args: str) -> int:
    return main(["databricks", *args, "--bundle-root", str(REPO), "--poll-seconds", "0"])


def api_requests(workspace: FakeWorkspace) -> list[Any]:
    return [r for r in workspace.requests if r.path.startswith("/api/")]


def test_run_pipeline_follows_the_update_and_reports_expectations(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata = workspace.deploy(DEV_ROOT)
    workspace.update_states = ["WAITING_FOR_RESOURCES", "RUNNING", "RUNNING", "COMPLETED"]
    workspace.next_update_events = pipeline_events(workspace.pipeline_id, padding=260)

    assert cli("run", "--pipeline", "--target", "dev") == 0

    out = capsys.readouterr().out
    # Every API call carried the token; the deployment was found through its metadata file.
    assert all(r.authorization == f"Bearer {workspace.token}" for r in api_requests(workspace))
    [export] = workspace.api("GET", r"/api/2\.0/workspace/export")
    assert export.query == {"path": [metadata], "direct_download": ["true"]}
    [start] = workspace.api("POST", rf"/api/2\.0/pipelines/{workspace.pipeline_id}/updates")
    assert start.body == {"full_refresh": False}
    polls = workspace.api("GET", rf"/api/2\.0/pipelines/{workspace.pipeline_id}/updates/upd-0001")
    assert len(polls) >= 4  # followed through every state, then read once more for the report
    assert out.index("WAITING_FOR_RESOURCES") < out.index(": RUNNING") < out.index(": COMPLETED")
    # Events: filtered from the update's start, then paged with the token alone.
    pages = workspace.api("GET", rf"/api/2\.0/pipelines/{workspace.pipeline_id}/events")
    assert len(pages) == 2
    assert pages[0].query["filter"][0].startswith("timestamp >= '")
    assert set(pages[1].query) == {"page_token", "max_results"}
    # Expectations summed over the update's progress events; the other update's left out.
    assert "update upd-0001: COMPLETED, 263 events" in out
    assert "errors: 0" in out
    assert "silver_events.known_event_type  passed        995  failed          5" in out
    assert "silver_events.valid_event_ts    passed       1470  failed         30" in out
    assert "999" not in out


def test_a_failed_update_prints_its_errors_and_exits_nonzero(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.deploy(DEV_ROOT)
    workspace.update_states = ["RUNNING", "FAILED"]
    workspace.next_update_events = pipeline_events(workspace.pipeline_id, failed=True)

    assert cli("run", "--pipeline", "--full-refresh", "--target", "dev") == 1

    out = capsys.readouterr().out
    [start] = workspace.api("POST", rf"/api/2\.0/pipelines/{workspace.pipeline_id}/updates")
    assert start.body == {"full_refresh": True}
    assert "update upd-0001: FAILED" in out
    assert "errors: 1" in out
    assert "gold_facts: Flow 'gold_facts' has FAILED." in out
    assert FAILURE in out


def test_run_job_passes_producer_parameters_and_reports_the_pipeline_update(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.deploy(DEV_ROOT)
    workspace.next_update_events = pipeline_events(workspace.pipeline_id)
    success = {"code": "SUCCESS", "type": "SUCCESS", "message": ""}
    workspace.run_states = [
        {"status": {"state": "QUEUED"}},
        {"status": {"state": "RUNNING"}, "update_state": "RUNNING"},
        {
            "status": {"state": "TERMINATED", "termination_details": success},
            "update_state": "COMPLETED",
            "tasks": [
                {
                    "task_key": "should_produce",
                    "status": {"state": "TERMINATED", "termination_details": success},
                },
                {
                    "task_key": "produce",
                    "status": {"state": "TERMINATED", "termination_details": success},
                },
                {
                    "task_key": "refresh_pipeline",
                    "status": {"state": "TERMINATED", "termination_details": success},
                },
            ],
        },
    ]

    assert cli("run", "--target", "dev", "--events", "500", "--seed", "3") == 0

    out = capsys.readouterr().out
    [run_now] = workspace.api("POST", r"/api/2\.\d/jobs/run-now")
    assert run_now.body == {"job_id": 101, "job_parameters": {"events": "500", "seed": "3"}}
    assert len(workspace.api("GET", r"/api/2\.\d/jobs/runs/get")) >= 3
    assert all(r.query["run_id"] == ["9001"] for r in workspace.api("GET", r".*/runs/get"))
    assert "run 9001 started events=500 seed=3" in out
    assert (
        out.index("run 9001: QUEUED")
        < out.index("run 9001: RUNNING")
        < out.index("run 9001: TERMINATED SUCCESS")
    )
    assert "task refresh_pipeline: TERMINATED SUCCESS" in out
    assert "update upd-0001: COMPLETED" in out
    assert "silver_events.valid_event_ts" in out


def test_a_failed_job_run_exits_nonzero(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.deploy(DEV_ROOT)
    failure = {"code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR", "message": "Task failed"}
    workspace.run_states = [
        {"status": {"state": "RUNNING"}},
        {
            "status": {"state": "TERMINATED", "termination_details": failure},
            "update_state": "FAILED",
        },
    ]

    assert cli("run", "--target", "dev") == 1

    [run_now] = workspace.api("POST", r"/api/2\.\d/jobs/run-now")
    assert run_now.body == {"job_id": 101}  # no producer parameters: the job's defaults
    assert "run 9001: TERMINATED RUN_EXECUTION_ERROR" in capsys.readouterr().out


def test_status_shows_updates_and_runs_and_fails_on_a_failed_update(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.deploy(DEV_ROOT)
    workspace.updates = [
        {"update_id": "upd-0002", "state": "FAILED", "creation_time": 1_790_000_060_000},
        {"update_id": "upd-0001", "state": "COMPLETED", "creation_time": 1_790_000_000_000},
    ]
    workspace.runs = [
        {
            "run_id": 9002,
            "job_id": 101,
            "start_time": 1_790_000_050_000,
            "trigger": "FILE_ARRIVAL",
            "status": {"state": "TERMINATED", "termination_details": {"code": "SUCCESS"}},
        },
    ]

    assert cli("status", "--target", "dev") == 1

    out = capsys.readouterr().out
    assert "clickstream" in out and "FAILED, health UNHEALTHY" in out
    assert out.index("upd-0002") < out.index("upd-0001")
    assert "run 9002  TERMINATED SUCCESS" in out and "FILE_ARRIVAL" in out
    [runs] = workspace.api("GET", r"/api/2\.\d/jobs/runs/list")
    assert runs.query["job_id"] == ["101"] and runs.query["limit"] == ["5"]

    workspace.updates[0]["state"] = "COMPLETED"
    assert cli("status", "--target", "dev") == 0


def test_events_reads_the_latest_update(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.deploy(DEV_ROOT)
    make = pipeline_events(workspace.pipeline_id, failed=True)
    workspace.updates = [
        {"update_id": "upd-0007", "state": "FAILED", "creation_time": 1_790_000_000_000}
    ]
    workspace.events = make("upd-0007", 1_790_000_000_000)

    assert cli("events", "--target", "dev") == 1

    out = capsys.readouterr().out
    assert "update upd-0007: FAILED" in out
    assert FAILURE in out
    assert "silver_events.valid_event_ts" in out


def test_an_undeployed_target_is_one_clear_line(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("status", "--target", "dev") == 1
    err = capsys.readouterr().err
    assert "target dev is not deployed" in err
    assert "databricks bundle deploy -t dev" in err
    assert "Traceback" not in err


def test_prod_is_found_under_the_service_principal(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata = workspace.deploy(
        f"/Workspace/Users/{SERVICE_PRINCIPAL}/.bundle/lakeflow_clickstream/prod"
    )
    workspace.updates = [
        {"update_id": "upd-0001", "state": "COMPLETED", "creation_time": 1_790_000_000_000}
    ]
    args = [f"--var={name}={value}" for name, value in PROD_VARS.items()]

    assert cli("status", "--target", "prod", *args) == 0

    [export] = workspace.api("GET", r"/api/2\.0/workspace/export")
    assert export.query["path"] == [metadata]


def test_prod_without_its_ci_variables_is_refused(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("status", "--target", "prod") == 1
    assert "run_as" in capsys.readouterr().err
    assert api_requests(workspace)[-1].path == "/api/2.0/preview/scim/v2/Me"


def test_permission_errors_surface_as_one_line(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.deploy(DEV_ROOT)
    message = "User ann.lee@example.com does not have Manage Run permissions on Job 101."
    workspace.failures[("POST", r"/api/2\.\d/jobs/run-now")] = (403, "PERMISSION_DENIED", message)

    assert cli("run", "--target", "dev") == 1

    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_rejected_token_fails(
    workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-wrong")
    assert cli("status", "--target", "dev") == 1
    assert "databricks:" in capsys.readouterr().err


def test_following_gives_up_after_the_timeout(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.deploy(DEV_ROOT)
    workspace.update_states = ["RUNNING"]

    assert cli("run", "--pipeline", "--target", "dev", "--timeout-minutes", "0") == 1

    assert "still RUNNING" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--target", "dev", "--full-refresh"),
        ("run", "--target", "dev", "--pipeline", "--events", "10"),
        ("status", "--target", "dev", "--var", "catalog"),
        ("status", "--target", "staging"),
    ],
)
def test_invalid_invocations_are_refused_before_anything_starts(
    workspace: FakeWorkspace, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    workspace.deploy(DEV_ROOT)
    assert cli(*args) == 1
    assert capsys.readouterr().err.startswith("clickstream: ")
    assert not workspace.api("POST", r".*")


def test_without_credentials_it_says_so(
    workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABRICKS_HOST")
    monkeypatch.delenv("DATABRICKS_TOKEN")
    assert cli("status", "--target", "dev") == 1
    assert capsys.readouterr().err.startswith("clickstream: databricks: ")
    assert not workspace.requests
