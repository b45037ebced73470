"""``pipeline_event_log``: every local update recorded in the shape of Databricks' event log.

Databricks keeps one event log per pipeline (``id``, ``sequence``, ``origin``, ``timestamp``,
``message``, ``level``, ``error``, ``event_type``, ``details`` as JSON), so monitoring queries are
written against it. Open-source Spark reports much less, so the local log is assembled after each
update, only from what the update really left behind:

* the run's own event stream (flow states, failures with their error, the run's outcome);
* Spark's event log (streaming progress per flow: input rows, batch durations);
* the Delta commits each dataset made during the update (rows added, from ``DESCRIBE HISTORY``);
* the expectation outcomes the silver tables record: ``silver_quarantine.failed_rules`` for the
  drop rules, the warn rules re-evaluated on the rows silver kept (their columns stay in silver
  for exactly this reason).

No number is estimated: a metric the update did not report is absent from ``details``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickstream import config, quality
from clickstream.config import PipelineSettings

# Concurrent catalog queries while an update is recorded (latency-bound, not CPU-bound).
_QUERY_THREADS = 4

SCHEMA = (
    "id STRING, sequence STRING, "
    "origin STRUCT<pipeline_name: STRING, pipeline_id: STRING, update_id: STRING, "
    "flow_name: STRING, dataset_name: STRING, batch_id: BIGINT>, "
    "timestamp TIMESTAMP, message STRING, level STRING, maturity_level STRING, "
    "error STRING, event_type STRING, details STRING"
)

INFO, WARN, ERROR = "INFO", "WARN", "ERROR"
LEVELS = (INFO, WARN, ERROR)

# What the engine says about a flow or the run, one event per line of its stream.
_FLOW_STATE = re.compile(
    r"^Flow '?(?P<flow>[^' ]+)'? (?:is|has) (?P<state>[A-Z_]+)(?P<rest>.*)", re.DOTALL
)
_FLOW_SKIPPED = re.compile(r"^Flow '?(?P<flow>[^' ]+)'? (?P<state>SKIPPED)(?P<rest>.*)", re.DOTALL)
_NOT_RUN = frozenset({"EXCLUDED", "IDLE"})
_RUN_STATE = re.compile(r"^Run is (?P<state>[A-Z_]+)")
_ERROR_CLASS = re.compile(r"\[([A-Z_]+)\]")
# The message platform.expectations raises when an expect_or_fail rule trips.
_FAILED_EXPECTATION = re.compile(
    r"expectation (?P<name>\w+) \(expect_or_fail\) failed on table (?P<dataset>\w+)"
)
# Operations whose numOutputRows are rows added to the table.
_WRITES = (
    "STREAMING UPDATE",
    "WRITE",
    "CREATE TABLE AS SELECT",
    "REPLACE TABLE AS SELECT",
    "CREATE OR REPLACE TABLE AS SELECT",
    "MERGE",
)


def short_name(name: str) -> str:
    return name.replace("`", "").split(".")[-1]


@dataclass
class FlowRun:
    """What one flow did in one update, gathered from every source."""

    flow: str
    dataset: str
    states: list[tuple[datetime, str]] = field(default_factory=list)
    errors: list[tuple[datetime, str]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final_state(self) -> str | None:
        return self.states[-1][1] if self.states else None

    @property
    def duration_ms(self) -> int | None:
        starts = [t for t, s in self.states if s in ("STARTING", "PLANNING")]
        ends = [t for t, s in self.states if s in ("COMPLETED", "FAILED")]
        if not starts or not ends:
            return None
        return int((ends[-1] - starts[0]).total_seconds() * 1000)


# --- Spark's event log ---------------------------------------------------------------------------


def event_log_offsets(folder: Path) -> dict[Path, int]:
    """Current size of every file of Spark's event log: where this update's events begin."""
    if not folder.is_dir():
        return {}
    return {p: p.stat().st_size for p in folder.rglob("*") if p.is_file()}


LISTENER = "org.apache.spark.sql.streaming.StreamingQueryListener$"
PROGRESS_EVENT = LISTENER + "QueryProgressEvent"
STARTED_EVENT = LISTENER + "QueryStartedEvent"
TERMINATED_EVENT = LISTENER + "QueryTerminatedEvent"


def listener_events(
    folder: Path, since: Mapping[Path, int] | None, *kinds: str
) -> Iterator[dict[str, Any]]:
    """Spark listener events of these kinds (full event names) logged below ``folder`` after
    ``since``: the one reader of Spark's event log, for the run record and the benchmarks."""
    if not folder.is_dir():
        return
    wanted = set(kinds)
    # A cheap test on bytes first: the log is mostly task, stage and SQL plan events.
    markers = [kind.rsplit("$", 1)[-1].encode() for kind in kinds]
    files = (p for p in folder.rglob("events_*") if p.is_file() and not p.name.endswith(".crc"))
    for path in sorted(files):
        with path.open("rb") as handle:
            handle.seek((since or {}).get(path, 0))
            for line in handle:
                if not any(marker in line for marker in markers):
                    continue
                try:
                    event = json.loads(line)
                except ValueError:  # a line still being written, or cut by the offset
                    continue
                if isinstance(event, dict) and event.get("Event") in wanted:
                    yield event


def progress_events(
    folder: Path, since: Mapping[Path, int] | None = None
) -> Iterator[dict[str, Any]]:
    """Every streaming query progress (one per micro-batch) logged after ``since``."""
    for event in listener_events(folder, since, PROGRESS_EVENT):
        if isinstance(event.get("progress"), dict):
            yield event["progress"]


def streaming_progress(
    folder: Path, since: Mapping[Path, int], flow_names: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Streaming progress events written after ``since``, per flow (query name = flow name)."""
    wanted = set(flow_names)
    found: dict[str, list[dict[str, Any]]] = {}
    for progress in progress_events(folder, since):
        if progress.get("name") in wanted:
            found.setdefault(progress["name"], []).append(progress)
    return found


def wait_for_streams(
    folder: Path, since: Mapping[Path, int], flow_names: Iterable[str], timeout_s: float = 15.0
) -> bool:
    """Wait until every streaming query of these flows started after ``since`` is logged as
    terminated: Spark's listener bus writes the event log asynchronously, so the last progress
    of a flow may land just after the run reports the flow done. False on timeout."""
    wanted = set(flow_names)
    deadline = time.monotonic() + timeout_s
    while True:
        started: set[str] = set()
        ended: set[str] = set()
        for event in listener_events(folder, since, STARTED_EVENT, TERMINATED_EVENT):
            run_id = event.get("runId")
            if run_id is None:
                continue
            if event["Event"] == TERMINATED_EVENT:
                ended.add(run_id)
            elif event.get("name") in wanted:
                started.add(run_id)
        if started <= ended:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


# --- Delta commits -------------------------------------------------------------------------------


def delta_commits(
    spark: Any, table: str, started_at: datetime, ended_at: datetime
) -> list[dict[str, Any]]:
    """The commits ``table`` made between ``started_at`` and ``ended_at`` (oldest first).

    Runs of one pipeline are serialized by the runner's lock, so every commit of a pipeline
    table in that window belongs to this update.
    """
    start = started_at.astimezone(UTC).replace(tzinfo=None)
    end = ended_at.astimezone(UTC).replace(tzinfo=None)
    try:
        history = spark.sql(f"DESCRIBE HISTORY {table}").collect()
    except Exception:  # the table was never created (its flow failed before the first write)
        return []
    commits = []
    for row in history:
        if not start <= row["timestamp"] <= end:
            continue
        metrics = row["operationMetrics"] or {}
        added = int(metrics.get("numOutputRows", 0)) if row["operation"] in _WRITES else 0
        commits.append(
            {"version": int(row["version"]), "operation": row["operation"], "rows_added": added}
        )
    return sorted(commits, key=lambda c: c["version"])


# --- expectation outcomes ------------------------------------------------------------------------


def expectation_counts(
    spark: Any, database: str, update_id: str, rules: Sequence[quality.Rule]
) -> tuple[list[dict[str, Any]], int]:
    """Passed/failed records per rule of ``silver_events`` for the rows this update ingested,
    and the records dropped (quarantined).

    Drop rules: failures are the quarantine rows naming the rule; checked are the bronze rows
    the update ingested. Warn rules are checked on the rows silver kept; fail rules passed on
    every row silver committed (else the flow failed and no counts are reported).
    """
    uid = update_id.replace("'", "")
    bronze = f"`{database}`.`{config.BRONZE_EVENTS}`"
    silver = f"`{database}`.`{config.SILVER_EVENTS}`"
    quarantine = f"`{database}`.`{config.SILVER_QUARANTINE}`"
    warn = quality.of_action(rules, quality.WARN)
    warn_sql = ", ".join(
        [f"count_if(NOT ({r.condition})) AS `{r.name}`" for r in warn] + ["count(*) AS kept"]
    )
    queries = {
        "checked": f"SELECT count(*) AS n FROM {bronze} WHERE _update_id = '{uid}'",
        "dropped": f"SELECT count(*) AS n FROM {quarantine} WHERE _update_id = '{uid}'",
        "by_rule": f"SELECT rule, count(*) AS n FROM {quarantine} "
        f"LATERAL VIEW explode(failed_rules) r AS rule "
        f"WHERE _update_id = '{uid}' GROUP BY rule",
        "warned": f"SELECT {warn_sql} FROM {silver} WHERE _update_id = '{uid}'",
    }
    # Four small scans of three tables: run side by side.
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        answers = dict(
            zip(queries, pool.map(lambda q: spark.sql(q).collect(), queries.values()), strict=True)
        )
    n_checked = int(answers["checked"][0]["n"])
    n_dropped = int(answers["dropped"][0]["n"])
    failures = {row["rule"]: int(row["n"]) for row in answers["by_rule"]}
    warned = answers["warned"][0]
    kept = int(warned["kept"])
    out = []
    for rule in rules:
        if rule.action == quality.DROP:
            failed = failures.get(rule.name, 0)
            passed = n_checked - failed
        elif rule.action == quality.WARN:
            failed = int(warned[rule.name])
            passed = kept - failed
        else:
            failed, passed = 0, kept
        out.append(
            {
                "name": rule.name,
                "dataset": config.SILVER_EVENTS,
                "action": rule.action,
                "passed_records": passed,
                "failed_records": failed,
            }
        )
    return out, n_dropped


# --- assembling the events -----------------------------------------------------------------------


def _error_json(text: str, fatal: bool, causes: Sequence[str] = ()) -> str:
    """Databricks' error shape: the exceptions (first the error itself, then the line naming a
    tripped expectation, which Spark may only report among the causes) and that expectation."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    classes = _ERROR_CLASS.findall(first)
    exceptions = [{"class_name": classes[0] if classes else "", "message": first}]
    error: dict[str, Any] = {"fatal": fatal, "exceptions": exceptions}
    for candidate in (text, *causes):
        failed = _FAILED_EXPECTATION.search(candidate)
        if failed is None:
            continue
        line = next(ln for ln in candidate.splitlines() if failed.group(0) in ln).strip()
        if line != first:
            found = _ERROR_CLASS.findall(line)
            exceptions.append({"class_name": found[-1] if found else "", "message": line})
        error["expectation"] = {"name": failed["name"], "dataset": failed["dataset"]}
        break
    return json.dumps(error)


def parse_messages(
    facts: UpdateFacts,
) -> tuple[dict[str, FlowRun], list[tuple[datetime, str]]]:
    """Flow states (with failures) and run states out of the run's event stream."""
    runs: dict[str, FlowRun] = {}
    run_states: list[tuple[datetime, str]] = []
    for ts, text in facts.messages:
        match = _FLOW_STATE.match(text) or _FLOW_SKIPPED.match(text)
        if match and match["state"] in _NOT_RUN:
            # An update runs in phases (streaming tables, then views): a flow left out of one
            # phase runs in the other, where its own states are reported.
            continue
        if match:
            flow = short_name(match["flow"])
            run = runs.setdefault(flow, FlowRun(flow, facts.flows.get(flow, flow)))
            run.states.append((ts, match["state"]))
            if match["state"] == "FAILED":
                rest = match["rest"].strip()
                run.errors.append((ts, rest.split("Error:", 1)[-1].strip() or text))
            continue
        state = _RUN_STATE.match(text)
        if state:
            run_states.append((ts, state["state"]))
    return runs, run_states


@dataclass
class UpdateFacts:
    """What the runner knows about one update when it ends."""

    update_id: str
    database: str
    status: str
    error: str | None
    started_at: datetime
    ended_at: datetime
    messages: Sequence[tuple[datetime, str]]
    datasets: Mapping[str, str]  # name -> kind, as registered
    flows: Mapping[str, str]  # flow -> target dataset, as registered
    full_refresh: bool = False
    refresh_selection: Sequence[str] = ()


def build_events(
    facts: UpdateFacts,
    commits: Mapping[str, list[dict[str, Any]]],
    progress: Mapping[str, list[dict[str, Any]]],
    expectations: tuple[list[dict[str, Any]], int] | None,
) -> list[dict[str, Any]]:
    """The event-log rows of one update (dicts in the table's shape), oldest first.

    ``commits`` and ``progress`` are keyed by dataset and by short flow name.
    """
    events: list[dict[str, Any]] = []

    def add(
        ts: datetime,
        event_type: str,
        message: str,
        details: dict[str, Any],
        level: str = INFO,
        flow: str | None = None,
        dataset: str | None = None,
        error: str | None = None,
        batch_id: int | None = None,
    ) -> None:
        events.append(
            {
                "id": str(uuid.uuid4()),
                "origin": {
                    "pipeline_name": config.PIPELINE_NAME,
                    "pipeline_id": facts.database,
                    "update_id": facts.update_id,
                    "flow_name": flow,
                    "dataset_name": dataset,
                    "batch_id": batch_id,
                },
                "timestamp": ts,
                "message": message,
                "level": level,
                "maturity_level": "STABLE",
                "error": error,
                "event_type": event_type,
                "details": json.dumps(details, sort_keys=True),
            }
        )

    add(
        facts.started_at,
        "create_update",
        f"Update {facts.update_id} started on database {facts.database}.",
        {
            "create_update": {
                "cause": "API_CALL",
                "full_refresh": facts.full_refresh,
                "refresh_selection": list(facts.refresh_selection),
            }
        },
    )
    for name, kind in sorted(facts.datasets.items()):
        add(
            facts.started_at,
            "dataset_definition",
            f"Dataset {name} defined as {kind}.",
            {"dataset_definition": {"dataset_type": kind.upper()}},
            dataset=name,
        )
    for flow, target in sorted(facts.flows.items()):
        add(
            facts.started_at,
            "flow_definition",
            f"Flow {flow} writes {target}.",
            {"flow_definition": {"output_dataset": target}},
            flow=flow,
            dataset=target,
        )

    runs, run_states = parse_messages(facts)
    for flow, run in runs.items():
        for index, (ts, state) in enumerate(run.states):
            last = index == len(run.states) - 1
            details: dict[str, Any] = {"status": state}
            level, error = INFO, None
            message = f"Flow '{flow}' is {state}."
            if state == "SKIPPED":
                level = WARN
                message = f"Flow '{flow}' SKIPPED due to upstream failure(s)."
            if state == "FAILED":
                level = ERROR
                failure = next((e for t, e in run.errors if t == ts), "")
                fatal = last
                error = _error_json(failure, fatal)
                message = f"Flow '{flow}' has FAILED: {failure.splitlines()[0] if failure else ''}"
            if state == "COMPLETED" and last:
                details.update(_completed_details(run, commits, progress, expectations))
            add(
                ts,
                "flow_progress",
                message,
                {"flow_progress": details},
                level,
                flow,
                run.dataset,
                error,
            )

    failures = [e for run in runs.values() for _, e in run.errors]
    end_state = facts.status if facts.status in ("COMPLETED", "FAILED") else "FAILED"
    for ts, state in run_states:
        if state != end_state:
            add(ts, "update_progress", f"Update is {state}.", {"update_progress": {"state": state}})
    add(
        facts.ended_at,
        "update_progress",
        f"Update {facts.update_id} is {end_state}."
        + (f" {facts.error}" if facts.error and end_state == "FAILED" else ""),
        {"update_progress": {"state": end_state}},
        ERROR if end_state == "FAILED" else INFO,
        error=_error_json(facts.error, True, failures)
        if end_state == "FAILED" and facts.error
        else None,
    )
    base = int(facts.started_at.timestamp() * 1000) * 1000
    events.sort(key=lambda e: e["timestamp"])
    for number, event in enumerate(events):
        event["sequence"] = json.dumps({"control_plane_seq_no": base + number})
    return events


def _input_rows(progress: Mapping[str, Any]) -> int:
    """Rows a micro-batch read, over all its sources (a file source counts whole files)."""
    return sum(int(s.get("numInputRows") or 0) for s in progress.get("sources") or [])


def _completed_details(
    run: FlowRun,
    commits: Mapping[str, list[dict[str, Any]]],
    progress: Mapping[str, list[dict[str, Any]]],
    expectations: tuple[list[dict[str, Any]], int] | None,
) -> dict[str, Any]:
    """Metrics of a completed flow: only what the commits, progress and tables report."""
    metrics: dict[str, Any] = {}
    written = commits.get(run.dataset, [])
    metrics["num_output_rows"] = sum(c["rows_added"] for c in written)
    if run.duration_ms is not None:
        metrics["duration_ms"] = run.duration_ms
    batches = progress.get(run.flow, [])
    if batches:
        metrics["num_input_rows"] = sum(_input_rows(b) for b in batches)
        metrics["num_batches"] = len(batches)
        metrics["batch_duration_ms"] = sum(int(b.get("batchDuration", 0)) for b in batches)
    details: dict[str, Any] = {"metrics": metrics, "delta_commits": written}
    if batches:
        details["batches"] = [
            {
                "batch_id": b.get("batchId"),
                "num_input_rows": _input_rows(b),
                "duration_ms": b.get("durationMs", {}),
                "watermark": (b.get("eventTime") or {}).get("watermark"),
                "state_operators": b.get("stateOperators", []),
            }
            for b in batches
        ]
    if expectations is not None and run.dataset == config.SILVER_EVENTS:
        rules, dropped = expectations
        details["data_quality"] = {
            "dropped_records": dropped,
            "expectations": rules,
        }
    return details


# --- the table and its views ---------------------------------------------------------------------


def table_name(database: str) -> str:
    return f"`{database}`.`{config.EVENT_LOG_TABLE}`"


def ensure_table(spark: Any, database: str) -> None:
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table_name(database)} ({SCHEMA}) USING delta")


def append(spark: Any, database: str, events: Sequence[dict[str, Any]]) -> None:
    """Append one update's events to ``pipeline_event_log`` and (re)create its views."""
    ensure_table(spark, database)
    frame = spark.createDataFrame([_as_row(e) for e in events], schema=SCHEMA)
    frame.write.format("delta").mode("append").saveAsTable(f"`{database}`.{config.EVENT_LOG_TABLE}")
    create_views(spark, database)


def _as_row(event: Mapping[str, Any]) -> tuple[Any, ...]:
    origin = event["origin"]
    return (
        event["id"],
        event["sequence"],
        (
            origin["pipeline_name"],
            origin["pipeline_id"],
            origin["update_id"],
            origin["flow_name"],
            origin["dataset_name"],
            origin["batch_id"],
        ),
        event["timestamp"],
        event["message"],
        event["level"],
        event["maturity_level"],
        event["error"],
        event["event_type"],
        event["details"],
    )


def _num(path: str) -> str:
    return f"CAST(get_json_object(details, '$.flow_progress.{path}') AS BIGINT)"


EXPECTATIONS_TYPE = (
    "array<struct<name: string, dataset: string, action: string, "
    "passed_records: bigint, failed_records: bigint>>"
)


def view_sql(database: str) -> dict[str, str]:
    """The monitoring views, plain SQL over the event log (as one writes them on Databricks)."""
    return view_sql_over(table_name(database))


def view_sql_over(log: str) -> dict[str, str]:
    """The monitoring views over the event log table ``log`` (a local or a Databricks one)."""
    status = "get_json_object(details, '$.flow_progress.status')"
    return {
        "v_run_history": f"""
            SELECT origin.update_id AS update_id,
                   min(timestamp) AS started_at,
                   max(timestamp) AS ended_at,
                   CAST(round((unix_millis(max(timestamp)) - unix_millis(min(timestamp)))
                       / 1000.0, 1) AS DOUBLE) AS duration_s,
                   max_by(get_json_object(details, '$.update_progress.state'), timestamp)
                       FILTER (WHERE event_type = 'update_progress') AS state,
                   coalesce(sum({_num("metrics.num_output_rows")})
                       FILTER (WHERE event_type = 'flow_progress'), 0) AS rows_written,
                   count_if(level = 'ERROR') AS errors,
                   max_by(error, timestamp)
                       FILTER (WHERE event_type = 'update_progress' AND level = 'ERROR') AS error
            FROM {log}
            GROUP BY origin.update_id""",
        "v_expectation_metrics": f"""
            SELECT origin.update_id AS update_id, timestamp, origin.flow_name AS flow_name,
                   e.dataset AS dataset, e.name AS expectation, e.action AS action,
                   e.passed_records AS passed_records, e.failed_records AS failed_records
            FROM {log}
            LATERAL VIEW explode(from_json(
                get_json_object(details, '$.flow_progress.data_quality.expectations'),
                '{EXPECTATIONS_TYPE}')) x AS e
            WHERE event_type = 'flow_progress'""",
        "v_dataset_freshness": f"""
            SELECT origin.dataset_name AS dataset,
                   max(timestamp) AS last_refreshed_at,
                   max_by(origin.update_id, timestamp) AS last_update_id,
                   max_by({_num("metrics.num_output_rows")}, timestamp) AS last_rows_written,
                   sum({_num("metrics.num_output_rows")}) AS rows_written_total,
                   count(*) AS completed_updates
            FROM {log}
            WHERE event_type = 'flow_progress' AND {status} = 'COMPLETED'
              AND get_json_object(details, '$.flow_progress.metrics') IS NOT NULL
            GROUP BY origin.dataset_name""",
        "v_flow_throughput": f"""
            SELECT origin.update_id AS update_id, origin.flow_name AS flow_name,
                   origin.dataset_name AS dataset, timestamp AS completed_at,
                   {_num("metrics.num_input_rows")} AS input_rows,
                   {_num("metrics.num_output_rows")} AS output_rows,
                   {_num("metrics.num_batches")} AS batches,
                   CAST(round({_num("metrics.duration_ms")} / 1000.0, 1) AS DOUBLE) AS duration_s,
                   CAST(round({_num("metrics.num_output_rows")} * 1000.0
                       / nullif({_num("metrics.duration_ms")}, 0), 1) AS DOUBLE) AS rows_per_second
            FROM {log}
            WHERE event_type = 'flow_progress' AND {status} = 'COMPLETED'
              AND get_json_object(details, '$.flow_progress.metrics') IS NOT NULL""",
    }


VIEWS = ("v_run_history", "v_expectation_metrics", "v_dataset_freshness", "v_flow_throughput")


# The event log table's property naming the version of the monitoring views over it.
VIEWS_PROPERTY = "clickstream.monitoring_views"


def create_views(spark: Any, database: str) -> None:
    """(Re)create the monitoring views, unless the ones there are already these ones.

    Replacing a dozen views costs about a second per update; a fingerprint of their SQL on the
    event log table says whether this code's views are the ones in the catalog.
    """
    views = view_sql(database)
    fingerprint = hashlib.sha256(json.dumps(views, sort_keys=True).encode()).hexdigest()[:16]
    log = table_name(database)
    shown = spark.sql(f"SHOW VIEWS IN `{database}`").collect()
    present = {row["viewName"] for row in shown if not row["isTemporary"]}
    recorded = spark.sql(f"SHOW TBLPROPERTIES {log} ('{VIEWS_PROPERTY}')").collect()
    if set(views) <= present and recorded and recorded[0][1] == fingerprint:
        return
    for name, sql in views.items():
        spark.sql(f"CREATE OR REPLACE VIEW `{database}`.`{name}` AS {sql}")
    spark.sql(f"ALTER TABLE {log} SET TBLPROPERTIES ('{VIEWS_PROPERTY}' = '{fingerprint}')")


def record(
    spark: Any,
    facts: UpdateFacts,
    spark_events: Path,
    since: Mapping[Path, int],
    settings: PipelineSettings,
) -> list[dict[str, Any]]:
    """Gather everything the update left behind, append it to the event log, return the rows."""
    db = facts.database
    runs, _ = parse_messages(facts)
    # Only the datasets whose flows ran can have committed (runs of a pipeline are serialized):
    # a refresh of the streaming layers reads five histories, not twenty.
    ran = {run.dataset for run in runs.values()}
    stored = [n for n, kind in facts.datasets.items() if kind != "temporary_view" and n in ran]
    silver = runs.get(config.SILVER_EVENTS)
    with ThreadPoolExecutor(max_workers=_QUERY_THREADS) as pool:
        # Each history is a small query whose time is mostly latency: a few at once.
        pending = {
            name: pool.submit(
                delta_commits, spark, f"`{db}`.`{name}`", facts.started_at, facts.ended_at
            )
            for name in stored
        }
        counted = None
        if silver is not None and silver.final_state == "COMPLETED":
            rules = quality.silver_rules(settings)
            counted = pool.submit(expectation_counts, spark, db, facts.update_id, rules)
        full_flow_names = {f"spark_catalog.{db}.{flow}": flow for flow in facts.flows}
        if spark_events.is_dir():
            wait_for_streams(spark_events, since, full_flow_names)
        raw = streaming_progress(spark_events, since, full_flow_names)
        progress = {full_flow_names[name]: batches for name, batches in raw.items()}
        commits = {name: future.result() for name, future in pending.items()}
        expectations = counted.result() if counted is not None else None
    events = build_events(facts, commits, progress, expectations)
    append(spark, db, events)
    return events


def read_events(
    spark: Any,
    database: str,
    update_id: str | None = None,
    level: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Events of the log, oldest first; ``level`` keeps that level and the more severe ones."""
    where = []
    if update_id:
        where.append(f"origin.update_id = '{update_id.replace(chr(39), '')}'")
    if level:
        wanted = LEVELS[LEVELS.index(level.upper()) :]
        where.append("level IN (" + ", ".join(f"'{lv}'" for lv in wanted) + ")")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = spark.sql(
        f"SELECT timestamp, level, event_type, origin.update_id AS update_id, "
        f"origin.flow_name AS flow_name, origin.dataset_name AS dataset_name, message, error, "
        f"details, sequence FROM {table_name(database)} {clause}"
    ).collect()
    out = [r.asDict() for r in rows]
    out.sort(key=lambda r: json.loads(r["sequence"])["control_plane_seq_no"])
    if limit is not None:
        out = out[-limit:]
    return out


def tail_lines(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per event: time, level, type, where, message (and the error of an ERROR)."""
    lines = []
    for event in events:
        where = event.get("flow_name") or event.get("dataset_name") or event.get("update_id", "")
        message = (event.get("message") or "").splitlines()[0] if event.get("message") else ""
        line = (
            f"{event['timestamp']:%Y-%m-%d %H:%M:%S} {event['level']:<5} "
            f"{event['event_type']:<18} {where}: {message}"
        )
        if event.get("error"):
            error = json.loads(event["error"])
            failed = error.get("expectation")
            if failed:
                line += f" | expectation {failed['name']} on {failed['dataset']}"
        lines.append(line)
    return lines
