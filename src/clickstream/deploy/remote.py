"""The Databricks SDK calls behind ``clickstream databricks``: find, start and follow a deployment.

A deployment is found through the metadata the Databricks CLI writes next to the bundle's state
(``<state_path>/metadata.json``: the job and pipeline IDs of exactly this deployment), not by
name, so two developers' dev copies never get mixed up. Polling is ours rather than the SDK's
waiters so that progress can be printed and the interval chosen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clickstream.deploy.bundle import CurrentUser, ResolvedBundle

if TYPE_CHECKING:  # the SDK is the `databricks` extra; the CLI imports it only when used
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import BaseRun, Run, RunTask

# Resource keys in resources/*.yml that the command drives.
JOB_KEY = "clickstream"
PIPELINE_KEY = "clickstream"

UPDATE_DONE = frozenset({"COMPLETED", "FAILED", "CANCELED"})
_RUN_DONE = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
# One events page is at most this big; a page token then carries on.
EVENTS_PAGE = 250


class RemoteError(Exception):
    """The workspace answered, but not with what the command needs."""


@dataclass(frozen=True)
class Deployment:
    target: str
    job_id: int
    pipeline_id: str
    metadata_path: str


@dataclass(frozen=True)
class RunOutcome:
    done: bool
    ok: bool
    state: str


def current_user(client: WorkspaceClient) -> CurrentUser:
    me = client.current_user.me()
    return CurrentUser(user_name=me.user_name or "", display_name=me.display_name or "")


def find_deployment(client: WorkspaceClient, resolved: ResolvedBundle) -> Deployment:
    from databricks.sdk.errors import NotFound

    path = f"{resolved.workspace['state_path']}/metadata.json"
    try:
        raw = client.workspace.download(path).read()
    except NotFound:
        raise RemoteError(
            f"target {resolved.target} is not deployed (no {path}); "
            f"run: databricks bundle deploy -t {resolved.target}"
        ) from None
    return deployment_from_metadata(raw, resolved.target, path)


def deployment_from_metadata(raw: bytes | str, target: str, path: str) -> Deployment:
    """The job and pipeline IDs in a deployment's ``state/metadata.json``."""
    try:
        resources = json.loads(raw)["config"]["resources"]
        return Deployment(
            target=target,
            job_id=int(resources["jobs"][JOB_KEY]["id"]),
            pipeline_id=str(resources["pipelines"][PIPELINE_KEY]["id"]),
            metadata_path=path,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError(f"{path} does not name the clickstream job and pipeline ({exc})") from exc


def start_update(client: WorkspaceClient, pipeline_id: str, *, full_refresh: bool) -> str:
    response = client.pipelines.start_update(pipeline_id, full_refresh=full_refresh)
    if not response.update_id:
        raise RemoteError(f"pipeline {pipeline_id} started no update")
    return response.update_id


def wait_for_update(
    client: WorkspaceClient,
    pipeline_id: str,
    update_id: str,
    *,
    poll_seconds: float,
    timeout_seconds: float,
    on_state: Callable[[str], None],
) -> str:
    """Poll until the update is COMPLETED, FAILED or CANCELED; report each new state."""

    def state() -> str:
        update = client.pipelines.get_update(pipeline_id, update_id).update
        value = update.state if update else None
        return value.value if value else "UNKNOWN"

    return _poll(state, lambda s: s in UPDATE_DONE, poll_seconds, timeout_seconds, on_state)


def run_job(client: WorkspaceClient, job_id: int, parameters: Mapping[str, str]) -> int:
    waiter = client.jobs.run_now(job_id, job_parameters=dict(parameters) or None)
    run_id = waiter.response.run_id if waiter.response else None
    if run_id is None:
        raise RemoteError(f"job {job_id} started no run")
    return run_id


def run_outcome(run: Run | BaseRun | RunTask) -> RunOutcome:
    # `status` is the current field; `state` the older one, still filled on every run.
    if run.status and run.status.state:
        state = run.status.state.value
        details = run.status.termination_details
        code = details.code.value if details and details.code else ""
        done = state == "TERMINATED"
        return RunOutcome(done, done and code == "SUCCESS", f"{state} {code}".strip())
    life = run.state.life_cycle_state.value if run.state and run.state.life_cycle_state else ""
    result = run.state.result_state.value if run.state and run.state.result_state else ""
    done = life in _RUN_DONE
    return RunOutcome(done, done and result == "SUCCESS", f"{life} {result}".strip())


def wait_for_run(
    client: WorkspaceClient,
    run_id: int,
    *,
    poll_seconds: float,
    timeout_seconds: float,
    on_state: Callable[[str], None],
) -> Run:
    latest: dict[str, Run] = {}

    def state() -> str:
        latest["run"] = client.jobs.get_run(run_id)
        return run_outcome(latest["run"]).state

    def done(_: str) -> bool:
        return run_outcome(latest["run"]).done

    _poll(state, done, poll_seconds, timeout_seconds, on_state)
    return latest["run"]


def _poll(
    read: Callable[[], str],
    done: Callable[[str], bool],
    poll_seconds: float,
    timeout_seconds: float,
    on_state: Callable[[str], None],
) -> str:
    deadline = time.monotonic() + timeout_seconds
    last = None
    while True:
        state = read()
        if state != last:
            on_state(state)
            last = state
        if done(state):
            return state
        if time.monotonic() >= deadline:
            raise RemoteError(f"still {state} after {timeout_seconds:.0f}s; it goes on remotely")
        time.sleep(poll_seconds)


def latest_updates(client: WorkspaceClient, pipeline_id: str) -> list[tuple[str, str, str]]:
    """(update_id, state, creation_time) of the pipeline's latest updates, newest first."""
    pipeline = client.pipelines.get(pipeline_id)
    return [
        (u.update_id or "", u.state.value if u.state else "UNKNOWN", u.creation_time or "")
        for u in pipeline.latest_updates or []
    ]


def updates_since(
    client: WorkspaceClient, pipeline_id: str, since_ms: int
) -> list[tuple[str, str, str]]:
    """The updates created at or after ``since_ms`` (epoch ms): those a job run started."""
    updates = latest_updates(client, pipeline_id)
    picked = []
    for update in updates:
        created = _epoch_ms(update[2])
        if created is None:
            # A time we can't read: the newest update is the run's (runs don't overlap).
            return updates[:1]
        if created >= since_ms:
            picked.append(update)
    return picked


def _epoch_ms(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return None


def update_events(
    client: WorkspaceClient,
    pipeline_id: str,
    update_id: str,
    *,
    since: str | None = None,
    max_events: int = 2000,
) -> list[dict[str, Any]]:
    """The raw events of one update (``details`` included), oldest first."""
    events = [
        event
        for event in _events(client, pipeline_id, since=since, max_events=max_events)
        if (event.get("origin") or {}).get("update_id") == update_id
    ]
    return sorted(events, key=lambda e: e.get("timestamp") or "")


def _events(
    client: WorkspaceClient, pipeline_id: str, *, since: str | None, max_events: int
) -> Iterator[dict[str, Any]]:
    # The typed list_pipeline_events drops `details`; the same endpoint through the client's
    # own transport keeps it. A page token excludes every other parameter but max_results.
    query: dict[str, Any] = {"max_results": EVENTS_PAGE}
    if since:
        query["filter"] = f"timestamp >= '{since}'"
    path = f"/api/2.0/pipelines/{pipeline_id}/events"
    seen = 0
    while True:
        page = client.api_client.do("GET", path, query=query)
        for event in page.get("events") or []:
            yield event
            seen += 1
            if seen >= max_events:
                return
        token = page.get("next_page_token")
        if not token:
            return
        query = {"max_results": EVENTS_PAGE, "page_token": token}
