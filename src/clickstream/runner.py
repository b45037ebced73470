"""Programmatic pipeline updates that keep the Spark session.

The open-source ``spark-pipelines`` CLI stops its session after one run. This runner calls the
same machinery (graph creation, definition registration from the spec's library globs, start
run) on a session it is given, so a notebook or a test can run, query, land more files and run
again without restarting the JVM.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickstream import faults
from clickstream.config import CONF_PREFIX, LocalSettings, PipelineSettings
from clickstream.engine import EngineError, Lakehouse, first_line
from clickstream.locks import FileLock, LockBusy
from clickstream.observability import event_log

SPEC_FILE = "spark-pipeline.yml"


class NoDataLanded(EngineError):
    """The landing zone holds no file to ingest yet."""


@dataclass(frozen=True)
class RunEvent:
    """One event of a pipeline update, as the engine reports it."""

    timestamp: datetime
    message: str


@dataclass
class UpdateResult:
    """What one pipeline update did."""

    update_id: str
    database: str
    status: str = "RUNNING"
    error: str | None = None
    events: list[RunEvent] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None
    # The dataset graph as the definitions registered it (observability.lineage.Lineage).
    lineage: Any = None
    # Problems found after the update that did not fail it (observability.landing_audit).
    warnings: list[str] = field(default_factory=list)
    # The rows this update appended to pipeline_event_log (observability.event_log).
    log_events: list[dict[str, Any]] = field(default_factory=list)
    full_refresh: bool = False
    refresh: tuple[str, ...] = ()
    # Liquid clustering applied after the update: table -> error message, or None when done.
    clustering: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED"

    @property
    def duration_s(self) -> float:
        end = self.ended_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()


def find_spec() -> Path:
    """The committed pipeline spec: ``$CLICKSTREAM_SPEC``, the project root, or a parent of cwd."""
    custom = os.environ.get("CLICKSTREAM_SPEC")
    if custom:
        return Path(custom).absolute()
    project_root = Path(__file__).resolve().parents[2]
    candidates = [project_root / SPEC_FILE]
    here = Path.cwd().absolute()
    candidates += [p / SPEC_FILE for p in (here, *here.parents)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise EngineError(f"no {SPEC_FILE} found (set CLICKSTREAM_SPEC to its path)")


def landed_files(landing: Path) -> Iterable[Path]:
    """The files the bronze source ingests: every ``*.json`` below the landing folder."""
    if not landing.is_dir():
        return []
    return (p for p in landing.rglob("*.json") if p.is_file())


@dataclass(frozen=True)
class UpdatePhase:
    """One engine run of an update: datasets it refreshes, datasets it recomputes from scratch."""

    refresh: tuple[str, ...] = ()
    full_refresh: tuple[str, ...] = ()


STREAMING_TABLE = "streaming_table"


def update_phases(
    datasets: dict[str, str],
    full_refresh_all: bool = False,
    full_refresh: Sequence[str] = (),
    refresh: Sequence[str] = (),
) -> list[UpdatePhase]:
    """Split one update into engine runs: streaming tables first, then everything that reads them.

    In a single run the local engine can compute a materialized view from a snapshot of a
    streaming table taken before that table's commit in the same run (measured: an accounting
    view missed rows that silver had committed). Running the streaming tables to completion
    first, then the materialized views, gives every view the update's final data.
    ``datasets`` maps each registered dataset to its kind (as lineage records it).
    """
    tables = [name for name, kind in datasets.items() if kind == STREAMING_TABLE]
    views = [
        name for name, kind in datasets.items() if kind not in (STREAMING_TABLE, "temporary_view")
    ]
    if full_refresh_all:
        selections = [((), tuple(tables)), ((), tuple(views))]
    elif full_refresh or refresh:
        wanted = {_short_name(n) for n in (*full_refresh, *refresh)}
        unknown = sorted(wanted - set(tables) - set(views))
        if unknown:
            raise EngineError(f"no such dataset in the pipeline: {', '.join(unknown)}")
        chosen_full = {_short_name(n) for n in full_refresh}
        chosen = {_short_name(n) for n in refresh}
        selections = [
            (
                tuple(n for n in group if n in chosen and n not in chosen_full),
                tuple(n for n in group if n in chosen_full),
            )
            for group in (tables, views)
        ]
    else:
        selections = [(tuple(tables), ()), (tuple(views), ())]
    return [UpdatePhase(r, f) for r, f in selections if r or f]


def _short_name(name: str) -> str:
    return name.replace("`", "").split(".")[-1]


class PipelineRunner:
    """Runs updates of the clickstream pipeline on one database of a lakehouse home."""

    def __init__(
        self,
        lakehouse: Lakehouse,
        database: str | None = None,
        landing: Path | None = None,
        spec_path: Path | None = None,
        pipeline_settings: dict[str, str] | None = None,
    ) -> None:
        self.lakehouse = lakehouse
        self.settings: LocalSettings = lakehouse.settings
        self.database = database or self.settings.database
        self.landing = Path(landing or self.settings.landing).absolute()
        self.spec_path = (spec_path or find_spec()).absolute()
        self.overrides = dict(pipeline_settings or {})

    @property
    def spark(self) -> Any:
        return self.lakehouse.spark

    @property
    def storage(self) -> Path:
        return self.settings.pipeline_storage(self.database)

    def run(
        self,
        full_refresh_all: bool = False,
        full_refresh: Sequence[str] = (),
        refresh: Sequence[str] = (),
        on_event: Callable[[RunEvent], None] | None = None,
        wait_seconds: float = 0.0,
    ) -> UpdateResult:
        """One triggered update; returns its result (status FAILED instead of raising)."""
        if next(iter(landed_files(self.landing)), None) is None:
            raise NoDataLanded(
                f"no data landed yet in {self.landing}: run `clickstream produce` first"
            )
        self.storage.mkdir(parents=True, exist_ok=True)
        try:
            lock = FileLock(self.storage / "run.lock").acquire(
                {"kind": "pipeline update", "database": self.database}, wait_seconds
            )
        except LockBusy as busy:
            raise EngineError(
                f"an update of the pipeline on database {self.database!r} is already running "
                f"(process {busy.holder.get('pid', '?')}); runs of one pipeline are serialized"
            ) from None
        with lock:
            since = event_log.event_log_offsets(self.settings.spark_events)
            result = self._run_locked(full_refresh_all, full_refresh, refresh, on_event)
            result.full_refresh = full_refresh_all
            result.refresh = tuple(refresh) or tuple(full_refresh)
            if result.ok:
                result.warnings.extend(self.audit_landing())
            self._record(result, since, on_event)
            return result

    def _record(
        self,
        result: UpdateResult,
        since: dict[Path, int],
        on_event: Callable[[RunEvent], None] | None,
    ) -> None:
        """Append the update to pipeline_event_log; a failure there never hides the outcome."""
        lineage = result.lineage
        flows = {e.flow: e.target for e in lineage.edges} if lineage is not None else {}
        facts = event_log.UpdateFacts(
            update_id=result.update_id,
            database=self.database,
            status=result.status,
            error=result.error,
            started_at=result.started_at,
            ended_at=result.ended_at or datetime.now(UTC),
            messages=[(e.timestamp, e.message) for e in result.events],
            datasets=dict(lineage.datasets) if lineage is not None else {},
            flows=flows,
            full_refresh=result.full_refresh,
            refresh_selection=result.refresh,
        )
        try:
            result.log_events = event_log.record(
                self.spark, facts, self.settings.spark_events, since, self.pipeline_settings()
            )
        except Exception as exc:
            event = RunEvent(datetime.now(UTC), f"event log not written: {first_line(exc)}")
            result.events.append(event)
            if on_event is not None:
                on_event(event)

    def audit_landing(self) -> list[str]:
        """Warnings for landed files that changed after bronze ingested them."""
        from clickstream.config import BRONZE_EVENTS
        from clickstream.observability import landing_audit

        findings = landing_audit.audit(self.spark, f"`{self.database}`.`{BRONZE_EVENTS}`")
        return [finding.message() for finding in findings]

    def _run_locked(
        self,
        full_refresh_all: bool,
        full_refresh: Sequence[str],
        refresh: Sequence[str],
        on_event: Callable[[RunEvent], None] | None,
    ) -> UpdateResult:
        from clickstream import platform

        spark = self.spark
        result = UpdateResult(update_id=str(uuid.uuid4()), database=self.database)
        spec = self.load_spec()
        conf = {**spec.configuration, **self.pipeline_conf(result.update_id)}

        def emit(event: RunEvent) -> None:
            result.events.append(event)
            if on_event is not None:
                on_event(event)

        try:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
            # Definitions read their settings with spark.conf.get, as on Databricks.
            for key, value in conf.items():
                spark.conf.set(key, value)
            graph_id, registry = self._register(spec, conf, emit)
            result.lineage = registry.lineage
            registry.lineage.write(self.storage / "lineage.json")
            phases = update_phases(
                registry.lineage.datasets, full_refresh_all, full_refresh, refresh
            )
            for number, phase in enumerate(phases):
                if number > 0:
                    graph_id, _ = self._register(spec, conf, None)
                last = number == len(phases) - 1
                for event in self._start(spec, graph_id, phase):
                    # Each phase ends with the engine's own "Run is COMPLETED"; one update, one end.
                    if last or not event.message.startswith("Run is COMPLETED"):
                        emit(event)
                if not last:
                    faults.reached(faults.UPDATE_STREAMING_TABLES_DONE)
            # Open-source Delta has no cluster_by on pipeline datasets: the platform module's
            # bridge clusters the requested tables once their data is committed.
            if conf.get("clickstream.liquid_clustering", "true").lower() == "true":
                refreshed = {n for phase in phases for n in (*phase.refresh, *phase.full_refresh)}
                result.clustering = platform.apply_local_clustering(
                    spark, self.database, refreshed
                )
            result.status = "COMPLETED"
        except Exception as exc:
            result.status = "FAILED"
            result.error = first_line(exc)
        finally:
            result.ended_at = datetime.now(UTC)
        return result

    def _register(
        self, spec: Any, conf: dict[str, str], emit: Callable[[RunEvent], None] | None
    ) -> tuple[str, Any]:
        """A new dataflow graph with every definition registered; returns (graph id, registry)."""
        from pyspark.pipelines import cli as sdp

        from clickstream import platform
        from clickstream.observability.lineage import RecordingRegistry

        spark = self.spark
        graph_id = sdp.create_dataflow_graph(
            spark, default_catalog=spec.catalog, default_database=spec.database, sql_conf=conf
        )
        registry = RecordingRegistry(spark, graph_id)
        loading_log = io.StringIO()
        platform.reset_local_clustering()
        with contextlib.redirect_stdout(loading_log):
            sdp.register_definitions(self.spec_path, registry, spec, spark, graph_id)
        if emit is not None:
            for line in loading_log.getvalue().splitlines():
                emit(RunEvent(datetime.now(UTC), line.split(": ", 1)[-1].strip()))
        return graph_id, registry

    def _start(self, spec: Any, graph_id: str, phase: UpdatePhase) -> Iterable[RunEvent]:
        from pyspark.pipelines import cli as sdp

        stream = sdp.start_run(
            self.spark,
            graph_id,
            full_refresh=list(phase.full_refresh),
            full_refresh_all=False,
            refresh=list(phase.refresh),
            dry=False,
            storage=spec.storage,
        )
        for item in stream:
            if "pipeline_event_result" not in item:
                continue
            raw = item["pipeline_event_result"].event
            yield RunEvent(raw.timestamp.ToDatetime().replace(tzinfo=UTC), raw.message.strip())

    def load_spec(self) -> Any:
        """The committed spec, pointed at this home's storage and database."""
        import yaml
        from pyspark.pipelines import cli as sdp

        data = yaml.safe_load(self.spec_path.read_text())
        data.pop("schema", None)
        data.update(database=self.database, storage=self.storage.as_uri())
        return sdp.unpack_pipeline_spec(data)

    def pipeline_settings(self, update_id: str = "unknown") -> PipelineSettings:
        """The settings the definitions of this runner's updates read."""
        names = {f.name for f in fields(PipelineSettings)}
        values = {
            key.removeprefix(CONF_PREFIX): value
            for key, value in self.pipeline_conf(update_id).items()
            if key.removeprefix(CONF_PREFIX) in names
        }
        return PipelineSettings(**values)

    def pipeline_conf(self, update_id: str) -> dict[str, str]:
        settings = PipelineSettings(landing_path=str(self.landing), update_id=update_id)
        conf = settings.to_conf()
        # Engine settings (spark.*) pass as they are; the rest are the pipeline's own settings.
        conf.update(
            {
                k if k.startswith(("clickstream.", "spark.")) else f"clickstream.{k}": v
                for k, v in self.overrides.items()
            }
        )
        # The key goes to Spark as a file its queries read, not as a setting: the pipeline's
        # configuration is part of the command that registers it, which Spark logs.
        key = conf.pop(CONF_PREFIX + "pii_key")
        if not conf.get(CONF_PREFIX + "pii_key_file"):
            conf[CONF_PREFIX + "pii_key_file"] = str(write_key_file(self.storage, key))
        return conf

def key_file(storage: Path) -> Path:
    """Where a pipeline's storage keeps its PII key (written by ``write_key_file``)."""
    return storage / "pii.key"


def write_key_file(storage: Path, key: str) -> Path:
    """The key file of a pipeline's storage, readable by its owner only."""
    path = key_file(storage)
    if not path.exists() or path.read_text("utf-8") != key:
        storage.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(key, "utf-8")
    return path


def run_continuously(
    runner: PipelineRunner,
    interval_s: float,
    max_updates: int | None = None,
    on_result: Callable[[UpdateResult], None] | None = None,
    stop: threading.Event | None = None,
    refresh: Sequence[str] = (),
) -> list[UpdateResult]:
    """Triggered updates in a loop: the local stand-in for a continuous pipeline.

    ``stop`` ends the loop between updates (never in the middle of one). ``refresh`` limits
    every update to those datasets, e.g. the streaming layers, keeping them fresh without
    recomputing the materialized views each time.
    """
    stop = stop or threading.Event()
    results: list[UpdateResult] = []
    while (max_updates is None or len(results) < max_updates) and not stop.is_set():
        started = time.monotonic()
        try:
            result = runner.run(refresh=refresh)
        except NoDataLanded:
            result = None
        if result is not None:
            results.append(result)
            if on_result is not None:
                on_result(result)
        if max_updates is not None and len(results) >= max_updates:
            break
        stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
    return results
