"""What the deployment tests share: the repo's bundle, the identities and variables CI uses, and
FakeWorkspace, the server side of the Databricks REST endpoints `clickstream databricks` calls."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickstream.deploy.bundle import CurrentUser

REPO = Path(__file__).resolve().parents[2]
ANN = CurrentUser("ann.lee@example.com", "Ann Lee")
SERVICE_PRINCIPAL = "6f0c0b1e-5d1a-4c8e-9a51-2b7f3c9d0e11"
# What the deploy workflow supplies for prod (GitHub environment variables).
PROD_VARS = {
    "service_principal_id": SERVICE_PRINCIPAL,
    "landing_storage_location": "abfss://landing@clickstreamprod.dfs.core.windows.net/events",
    "notify_email": "data-oncall@example.com",
}
VARIABLES = {"prod": PROD_VARS}


def mutate(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in ``path``; the text must be there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- a local Databricks workspace ---------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None
    authorization: str | None


def iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class FakeWorkspace:
    """The server side of the few REST endpoints the operator command calls.

    It answers as a workspace does: JSON bodies, ``{"error_code", "message"}`` errors, a bearer
    token required on every API call, paged events. Runs and updates move through the states
    queued in ``run_states`` / ``update_states``, one per poll, the last one sticking.
    """

    token: str = "dapi-local-test-token"
    user: dict[str, Any] = field(
        default_factory=lambda: {"userName": ANN.user_name, "displayName": ANN.display_name}
    )
    files: dict[str, bytes] = field(default_factory=dict)
    job_id: int = 101
    pipeline_id: str = "6d9c1c8e-pipe-4d0b-9d43-clickstream"
    run_states: list[dict[str, Any]] = field(default_factory=list)
    update_states: list[str] = field(default_factory=list)
    # Events of every update, as the events endpoint returns them (any order).
    events: list[dict[str, Any]] = field(default_factory=list)
    # Events the next update (started either way) will have logged.
    next_update_events: Callable[[str, int], list[dict[str, Any]]] | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)  # newest first
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    # (method, path regex) -> (HTTP status, error_code, message), answered instead.
    failures: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # The pipeline's settings as GET /pipelines/{id} returns them under "spec" (None: omitted).
    pipeline_spec: dict[str, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- set-up helpers

    def deploy(self, root_path: str) -> str:
        """Write the metadata.json `databricks bundle deploy` leaves in the state folder."""
        path = f"{root_path}/state/metadata.json"
        metadata = {
            "version": 1,
            "config": {
                "bundle": {"name": "lakeflow_clickstream"},
                "workspace": {"file_path": f"{root_path}/files"},
                "resources": {
                    "jobs": {"clickstream": {"id": str(self.job_id), "relative_path": "x"}},
                    "pipelines": {"clickstream": {"id": self.pipeline_id, "relative_path": "y"}},
                },
            },
        }
        self.files[path] = json.dumps(metadata).encode()
        return path

    def api(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # -- the endpoints

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        for (fail_method, fail_path), (status, code, message) in self.failures.items():
            if fail_method == method and re.fullmatch(fail_path, path):
                return status, {"error_code": code, "message": message}
        one = {k: v[0] for k, v in query.items()}
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", r"/api/2\.0/preview/scim/v2/Me", lambda: self.user),
            ("GET", r"/api/2\.0/workspace/export", lambda: self._export(one)),
            ("POST", r"/api/2\.[12]/jobs/run-now", lambda: self._run_now(body)),
            ("GET", r"/api/2\.[12]/jobs/runs/get", lambda: self._get_run(one)),
            ("GET", r"/api/2\.[12]/jobs/runs/list", lambda: self._list_runs(one)),
            ("POST", r"/api/2\.0/pipelines/([^/]+)/updates", lambda p: self._start(p, body)),
            ("GET", r"/api/2\.0/pipelines/([^/]+)/updates/([^/]+)", self._get_update),
            ("GET", r"/api/2\.0/pipelines/([^/]+)/events", lambda p: self._events(p, query)),
            ("GET", r"/api/2\.0/pipelines/([^/]+)", self._get_pipeline),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(*match.groups())
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no API {method} {path}"}

    def _export(self, query: dict[str, str]) -> Any:
        if query.get("direct_download") != "true":
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "not a download"}
        content = self.files.get(query.get("path", ""))
        if content is None:
            message = f"Path ({query.get('path')}) doesn't exist."
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": message}
        return 200, content  # raw bytes, as direct_download answers

    def _pipeline_known(self, pipeline_id: str) -> Any:
        if pipeline_id != self.pipeline_id:
            message = f"Pipeline {pipeline_id} does not exist."
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": message}
        return None

    def _new_update(self, full_refresh: bool, cause: str) -> str:
        update_id = f"upd-{len(self.updates) + 1:04d}"
        created = int(time.time() * 1000)
        self.updates.insert(
            0,
            {
                "update_id": update_id,
                "state": "QUEUED",
                "creation_time": created,
                "full_refresh": full_refresh,
                "cause": cause,
            },
        )
        if self.next_update_events:
            self.events += self.next_update_events(update_id, created)
        return update_id

    def _start(self, pipeline_id: str, body: dict[str, Any] | None) -> Any:
        if error := self._pipeline_known(pipeline_id):
            return error
        full_refresh = bool((body or {}).get("full_refresh"))
        return {"update_id": self._new_update(full_refresh, "API_CALL"), "request_id": "r-1"}

    def _get_update(self, pipeline_id: str, update_id: str) -> Any:
        if error := self._pipeline_known(pipeline_id):
            return error
        for update in self.updates:
            if update["update_id"] == update_id:
                if update is self.updates[0] and self.update_states:
                    update["state"] = _next(self.update_states)
                return {"update": {**update, "pipeline_id": pipeline_id}}
        return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such update"}

    def _get_pipeline(self, pipeline_id: str) -> Any:
        if error := self._pipeline_known(pipeline_id):
            return error
        latest = [
            {
                "update_id": u["update_id"],
                "state": u["state"],
                "creation_time": iso(u["creation_time"]),
            }
            for u in self.updates
        ]
        state = "FAILED" if latest and latest[0]["state"] == "FAILED" else "IDLE"
        health = "UNHEALTHY" if state == "FAILED" else "HEALTHY"
        answer = {
            "pipeline_id": pipeline_id,
            "name": "[dev ann_lee] clickstream",
            "state": state,
            "health": health,
            "latest_updates": latest,
        }
        if self.pipeline_spec is not None:
            answer["spec"] = {"id": pipeline_id, **self.pipeline_spec}
        return answer

    def _events(self, pipeline_id: str, query: dict[str, list[str]]) -> Any:
        if error := self._pipeline_known(pipeline_id):
            return error
        one = {k: v[0] for k, v in query.items()}
        if "page_token" in one:
            if set(one) - {"page_token", "max_results"}:
                message = "page_token is mutually exclusive with other fields but max_results"
                return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": message}
            offset, since = json.loads(base64.b64decode(one["page_token"]))
        else:
            offset, since = 0, None
            if "filter" in one:
                found = re.fullmatch(r"timestamp >= '([^']+)'", one["filter"])
                if not found:
                    return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "filter"}
                since = found.group(1)
        size = int(one.get("max_results", 25))
        selected = sorted(
            (e for e in self.events if since is None or e["timestamp"] >= since),
            key=lambda e: e["timestamp"],
            reverse=True,  # the API's default order: newest first
        )
        page = selected[offset : offset + size]
        answer: dict[str, Any] = {"events": page}
        if offset + size < len(selected):
            token = json.dumps([offset + size, since]).encode()
            answer["next_page_token"] = base64.b64encode(token).decode()
        return answer

    def _run_now(self, body: dict[str, Any] | None) -> Any:
        if not body or body.get("job_id") != self.job_id:
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Job not found"}
        run_id = 9000 + len(self.runs) + 1
        start = int(time.time() * 1000)
        self.runs.insert(
            0,
            {
                "run_id": run_id,
                "job_id": self.job_id,
                "start_time": start,
                "trigger": "ONE_TIME",
                "job_parameters": [
                    {"name": name, "value": value}
                    for name, value in (body.get("job_parameters") or {}).items()
                ],
                "run_page_url": f"https://workspace.example/jobs/{self.job_id}/runs/{run_id}",
                "status": {"state": "QUEUED"},
            },
        )
        # The job's pipeline task starts an update of the pipeline.
        self._new_update(False, "JOB_TASK")
        return {"run_id": run_id, "number_in_job": run_id}

    def _get_run(self, query: dict[str, str]) -> Any:
        for run in self.runs:
            if str(run["run_id"]) == query.get("run_id"):
                if run is self.runs[0] and self.run_states:
                    step = dict(_next(self.run_states))
                    # The pipeline task's update moves along with the run.
                    update_state = step.pop("update_state", None)
                    if update_state and self.updates:
                        self.updates[0]["state"] = update_state
                    run.update(step)
                return run
        return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Run does not exist"}

    def _list_runs(self, query: dict[str, str]) -> Any:
        runs = [r for r in self.runs if str(r["job_id"]) == query.get("job_id")]
        limit = int(query.get("limit", 20))
        return {"runs": runs[:limit], "has_more": len(runs) > limit}


def _next(queue: list[Any]) -> Any:
    """The next queued state; the last one stays."""
    return queue.pop(0) if len(queue) > 1 else queue[0]
