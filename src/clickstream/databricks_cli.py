"""``clickstream databricks run|status|events --target T``: operate a deployed bundle.

* ``run``    — start the job (producer, then pipeline) or, with ``--pipeline``, one pipeline
               update; follow it to the end, print the event log's errors and expectation
               metrics; exit 1 unless it succeeded.
* ``status`` — the pipeline's latest updates and the job's latest runs; exit 1 if the latest
               of either failed.
* ``events`` — errors and expectation metrics of one update (default: the latest); exit 1 if
               that update failed.

Authentication is the Databricks SDK's unified auth (``DATABRICKS_HOST`` with a token, OAuth,
Azure CLI, a ``--profile`` of ~/.databrickscfg ...). The deployment is the one ``databricks
bundle deploy -t T`` made, found through the bundle's state in the workspace.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clickstream.cli import CliError
from clickstream.config import LocalSettings
from clickstream.deploy import events as event_report
from clickstream.deploy.bundle import BUNDLE_FILE, BundleError, load_bundle, resolve

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from clickstream.deploy.remote import Deployment

_FAILED_UPDATE = frozenset({"FAILED", "CANCELED"})


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", "-t", help="bundle target (default: the bundle's default)")
    common.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bundle variable, as `databricks bundle --var` (also read: BUNDLE_VAR_<name>)",
    )
    common.add_argument("--profile", help="~/.databrickscfg profile (default: SDK unified auth)")
    common.add_argument("--bundle-root", help="folder of databricks.yml (default: found upward)")
    common.add_argument(
        "--poll-seconds", type=float, default=10.0, help="seconds between status checks"
    )
    common.add_argument(
        "--timeout-minutes", type=float, default=120.0, help="give up following after this long"
    )

    parser = subparsers.add_parser(
        "databricks",
        help="run and watch the deployed bundle on Databricks",
        description="Operate the deployed Databricks bundle: run the job or a pipeline update, "
        "show the latest updates and runs, print an update's errors and expectation metrics.",
    )
    commands = parser.add_subparsers(dest="databricks_command", required=True, metavar="ACTION")

    run = commands.add_parser("run", parents=[common], help="start the job or a pipeline update")
    run.add_argument(
        "--pipeline", action="store_true", help="start a pipeline update instead of the job"
    )
    run.add_argument("--full-refresh", action="store_true", help="with --pipeline: recompute all")
    run.add_argument("--events", type=int, help="job: land this many events first (default 0)")
    run.add_argument("--seed", type=int, help="job: producer seed")
    run.add_argument("--batches", type=int, help="job: producer batches (files)")
    run.add_argument("--no-wait", action="store_true", help="start it and return")
    run.set_defaults(func=cmd_run)

    status = commands.add_parser("status", parents=[common], help="latest updates and runs")
    status.set_defaults(func=cmd_status)

    events = commands.add_parser("events", parents=[common], help="errors and expectations")
    events.add_argument("--update-id", help="default: the latest update")
    events.add_argument("--max-events", type=int, default=2000, help="events to read at most")
    events.set_defaults(func=cmd_events)


# --- commands -------------------------------------------------------------------------------


def _translated_errors(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Expected failures (bundle, workspace answers, credentials) become one-line CliErrors."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, settings: LocalSettings) -> int:
        from clickstream.deploy.remote import RemoteError

        try:
            from databricks.sdk.errors import DatabricksError
        except ImportError:
            raise CliError(
                "the databricks command needs the SDK: "
                "pip install 'lakeflow-clickstream[databricks]'"
            ) from None
        try:
            return command(args)
        except BundleError as exc:
            raise CliError(f"bundle: {'; '.join(exc.problems)}") from None
        except RemoteError as exc:
            raise CliError(str(exc)) from None
        except DatabricksError as exc:
            raise CliError(f"databricks: {exc}") from None

    return run


@_translated_errors
def cmd_run(args: argparse.Namespace) -> int:
    from clickstream.deploy import remote

    if args.pipeline and any(v is not None for v in (args.events, args.seed, args.batches)):
        raise CliError("--events/--seed/--batches drive the job's producer; drop --pipeline")
    if args.full_refresh and not args.pipeline:
        raise CliError("--full-refresh needs --pipeline (the job always refreshes incrementally)")
    client, deployment = _connect(args)
    timeout = args.timeout_minutes * 60
    if args.pipeline:
        update_id = remote.start_update(
            client, deployment.pipeline_id, full_refresh=args.full_refresh
        )
        print(f"pipeline {deployment.pipeline_id}: update {update_id} started")
        if args.no_wait:
            return 0
        state = remote.wait_for_update(
            client,
            deployment.pipeline_id,
            update_id,
            poll_seconds=args.poll_seconds,
            timeout_seconds=timeout,
            on_state=lambda s: print(f"  update {update_id}: {s}", flush=True),
        )
        ok = _print_update_events(client, deployment, update_id, max_events=2000)
        return 0 if state == "COMPLETED" and ok else 1

    parameters = {
        name: str(value)
        for name, value in (("events", args.events), ("seed", args.seed), ("batches", args.batches))
        if value is not None
    }
    run_id = remote.run_job(client, deployment.job_id, parameters)
    print(f"job {deployment.job_id}: run {run_id} started {_params(parameters)}".rstrip())
    if args.no_wait:
        return 0
    run = remote.wait_for_run(
        client,
        run_id,
        poll_seconds=args.poll_seconds,
        timeout_seconds=timeout,
        on_state=lambda s: print(f"  run {run_id}: {s}", flush=True),
    )
    for task in run.tasks or []:
        print(f"  task {task.task_key}: {remote.run_outcome(task).state}")
    if run.run_page_url:
        print(f"  {run.run_page_url}")
    # The pipeline task's update(s): those the pipeline created since the run started.
    started = run.start_time or 0
    updates_ok = True
    for update_id, _, _ in remote.updates_since(client, deployment.pipeline_id, started):
        updates_ok &= _print_update_events(client, deployment, update_id, max_events=2000)
    return 0 if remote.run_outcome(run).ok and updates_ok else 1


@_translated_errors
def cmd_status(args: argparse.Namespace) -> int:
    from clickstream.deploy import remote

    client, deployment = _connect(args)
    pipeline = client.pipelines.get(deployment.pipeline_id)
    state = pipeline.state.value if pipeline.state else "UNKNOWN"
    health = pipeline.health.value if pipeline.health else "-"
    print(f"pipeline {pipeline.name} ({deployment.pipeline_id}): {state}, health {health}")
    updates = remote.latest_updates(client, deployment.pipeline_id)
    for update_id, update_state, created in updates[:5]:
        print(f"  update {update_id}  {update_state:<22} {created}")
    failed = bool(updates) and updates[0][1] in _FAILED_UPDATE

    print(f"job {deployment.job_id}: latest runs")
    # islice: never ask for a page past the five runs shown.
    runs = itertools.islice(client.jobs.list_runs(job_id=deployment.job_id, limit=5), 5)
    for index, run in enumerate(runs):
        outcome = remote.run_outcome(run)
        started = _format_ms(run.start_time)
        trigger = run.trigger.value if run.trigger else "-"
        print(f"  run {run.run_id}  {outcome.state:<28} {started}  {trigger}")
        if index == 0 and outcome.done and not outcome.ok:
            failed = True
    return 1 if failed else 0


@_translated_errors
def cmd_events(args: argparse.Namespace) -> int:
    from clickstream.deploy import remote

    client, deployment = _connect(args)
    update_id = args.update_id
    if not update_id:
        updates = remote.latest_updates(client, deployment.pipeline_id)
        if not updates:
            raise CliError(f"pipeline {deployment.pipeline_id} has no updates yet")
        update_id = updates[0][0]
    ok = _print_update_events(client, deployment, update_id, max_events=args.max_events)
    return 0 if ok else 1


# --- helpers --------------------------------------------------------------------------------


def _connect(args: argparse.Namespace) -> tuple[WorkspaceClient, Deployment]:
    """The workspace client and this target's deployment (job and pipeline IDs)."""
    from databricks.sdk import WorkspaceClient

    from clickstream.deploy import remote

    files = load_bundle(_bundle_root(args.bundle_root))
    variables = _vars(args.var)
    try:
        client = WorkspaceClient(profile=args.profile) if args.profile else WorkspaceClient()
    except ValueError as exc:  # the SDK's way of saying it found no usable host or credentials
        raise CliError(f"databricks: {exc}") from None
    user = remote.current_user(client)
    resolved = resolve(files, args.target, user=user, variables=variables, environ=os.environ)
    return client, remote.find_deployment(client, resolved)


def _bundle_root(explicit: str | None) -> Path:
    if explicit:
        root = Path(explicit)
        if not (root / BUNDLE_FILE).is_file():
            raise CliError(f"no {BUNDLE_FILE} in {root}")
        return root
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / BUNDLE_FILE).is_file():
            return folder
    raise CliError(f"no {BUNDLE_FILE} here or above: run from the project or pass --bundle-root")


def _vars(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--var expects NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def _print_update_events(
    client: WorkspaceClient, deployment: Deployment, update_id: str, *, max_events: int
) -> bool:
    """Print one update's errors and expectations; False if the update failed.

    Errors alone don't fail it: a flow that failed and was retried logs an error, yet the update
    (and the data) can still complete.
    """
    from clickstream.deploy import remote

    info = client.pipelines.get_update(deployment.pipeline_id, update_id).update
    state = info.state.value if info and info.state else "UNKNOWN"
    since = _iso(info.creation_time) if info and info.creation_time else None
    events = remote.update_events(
        client, deployment.pipeline_id, update_id, since=since, max_events=max_events
    )
    print(f"update {update_id}: {state}, {len(events)} events")
    lines = event_report.report_lines(events)
    for line in lines:
        print(f"  {line}")
    return state not in _FAILED_UPDATE


def _params(parameters: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in parameters.items())


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _format_ms(epoch_ms: int | None) -> str:
    return _iso(epoch_ms) if epoch_ms else "-"


if __name__ == "__main__":  # pragma: no cover
    from clickstream.cli import main

    sys.exit(main(["databricks", *sys.argv[1:]]))
