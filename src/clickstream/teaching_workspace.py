"""The notebooks' lab inside a Databricks workspace: the deployed pipeline and its tables.

The bundle deploys the notebooks next to the pipeline. There a notebook must not build a private
copy of the lakehouse: it lands events in the pipeline's landing volume, starts updates of the
deployed pipeline through the Databricks SDK, and queries the Unity Catalog tables the pipeline
publishes. ``WorkspaceLab`` offers the same calls as the local ``teaching.Lab``, so a notebook
cell reads the same on a laptop and in a workspace.

Which pipeline: the one this bundle deployment created, read from the deployment's
``state/metadata.json`` beside the synced files (``<root>/.bundle/<name>/<target>/files``);
``CLICKSTREAM_PIPELINE_ID`` overrides it. Catalog, schemas and landing come from the pipeline's
own configuration (the ``clickstream.*`` keys of resources/clickstream.pipeline.yml).

Unqualified names resolve as locally: bronze, silver and the event log live in the pipeline's
default (engineering) schema, which becomes the current one; gold and BI tables live in the
analytics schema and get session-scoped temporary views of the same names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clickstream import config
from clickstream.config import DatabricksNames

PIPELINE_ID_ENV = "CLICKSTREAM_PIPELINE_ID"
LANDING_KEY = config.CONF_PREFIX + "landing_path"


class WorkspaceLabError(RuntimeError):
    """The workspace lab can't find or drive the deployed pipeline; the message says why."""


@dataclass(frozen=True)
class DeployedPipeline:
    pipeline_id: str
    names: DatabricksNames
    landing: Path


def pipeline_id_for(bundle_files: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The deployed pipeline of the bundle whose synced files are ``bundle_files``."""
    explicit = environ.get(PIPELINE_ID_ENV, "").strip()
    if explicit:
        return explicit
    from clickstream.deploy.remote import RemoteError, deployment_from_metadata

    metadata = bundle_files.parent / "state" / "metadata.json"
    try:
        raw = metadata.read_bytes()
    except OSError:
        raise WorkspaceLabError(
            f"no deployment state at {metadata}: open the notebooks from the folder "
            f"`databricks bundle deploy` synced, or set {PIPELINE_ID_ENV}"
        ) from None
    try:
        return deployment_from_metadata(raw, bundle_files.parent.name, str(metadata)).pipeline_id
    except RemoteError as exc:
        raise WorkspaceLabError(str(exc)) from None


def describe_pipeline(client: Any, pipeline_id: str) -> DeployedPipeline:
    """Catalog, schemas and landing volume of a deployed pipeline, from its configuration."""
    pipeline = client.pipelines.get(pipeline_id)
    spec = pipeline.spec
    conf: dict[str, str] = dict((spec.configuration if spec else None) or {})
    missing = [key for key in (*DatabricksNames.conf_keys(), LANDING_KEY) if not conf.get(key)]
    if missing:
        raise WorkspaceLabError(
            f"pipeline {pipeline_id} ({pipeline.name}) is not a clickstream deployment: its "
            f"configuration lacks {', '.join(missing)}"
        )
    names = DatabricksNames.from_mapping(conf)
    assert names is not None  # every key is there: checked above
    return DeployedPipeline(pipeline_id, names, Path(conf[LANDING_KEY]))


@dataclass
class WorkspaceUpdate:
    """One update of the deployed pipeline, shaped like the local runner's result."""

    update_id: str
    state: str
    error: str | None
    lineage: Any

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED"


def lineage_from_events(events: Iterable[Mapping[str, Any]]) -> Any:
    """The dataset graph from an update's ``flow_definition`` events (Databricks' lineage)."""
    from clickstream.observability.event_log import short_name
    from clickstream.observability.lineage import Edge, Lineage

    graph = Lineage()
    for event in events:
        if event.get("event_type") != "flow_definition":
            continue
        details = event.get("details") or {}
        if isinstance(details, str):
            details = json.loads(details)
        flow = details.get("flow_definition") or {}
        target = short_name(flow.get("output_dataset") or "")
        if not target:
            continue
        # COMPLETE flows recompute (materialized views); the others read incrementally.
        streaming = (flow.get("flow_type") or "").upper() != "COMPLETE"
        graph.datasets[target] = "streaming_table" if streaming else "materialized_view"
        name = (event.get("origin") or {}).get("flow_name") or target
        for source in flow.get("input_datasets") or []:
            graph.edges.append(Edge(short_name(source), target, short_name(name), streaming))
    return graph


@dataclass
class WorkspaceLab:
    """A notebook's view of the deployed pipeline: same calls as ``teaching.Lab``."""

    notebook: str
    spark: Any
    client: Any
    pipeline: DeployedPipeline
    updates: list[WorkspaceUpdate] = field(default_factory=list)
    poll_seconds: float = 10.0
    timeout_seconds: float = 3600.0
    on_state: Callable[[str], None] = print

    local = False

    @property
    def names(self) -> DatabricksNames:
        return self.pipeline.names

    @property
    def database(self) -> str:
        return f"{self.names.catalog}.{self.names.engineering_schema}"

    @property
    def landing(self) -> Path:
        return self.pipeline.landing

    def table(self, name: str) -> str:
        """Where ``name`` is published: ``catalog.schema.name``."""
        return self.names.fqn(name)

    def use(self) -> None:
        """Current catalog and schema as the pipeline's; gold and BI by their short names."""
        self._current()
        for layer in config.ANALYTICS_LAYERS:
            for name in config.LAYER_TABLES[layer]:
                self._alias(name, f"SELECT * FROM {self._quoted(name)}")
        from clickstream.observability import event_log

        log = self._quoted(config.EVENT_LOG_TABLE)
        for name, sql in event_log.view_sql_over(log).items():
            self._alias(name, sql)

    def _quoted(self, name: str) -> str:
        return ".".join(f"`{part}`" for part in self.table(name).split("."))

    def _alias(self, name: str, sql: str) -> None:
        try:
            self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW `{name}` AS {sql}")
        except Exception as exc:  # not published yet (before the first update): skip it
            if "TABLE_OR_VIEW_NOT_FOUND" not in str(exc):
                raise

    def produce(self, events: int, seed: int = 42, **options: Any) -> Any:
        """Land events in the pipeline's landing volume (``/Volumes/...`` is a file path)."""
        from clickstream.teaching import LAB_START
        from producer import produce

        options.setdefault("start", LAB_START)
        # Never clean the volume: it is the deployment's, other runs' files live there too.
        options.setdefault("clean", False)
        result = produce(events=events, seed=seed, sink=self.landing, **options)
        print(result.summary())
        return result

    def run(self, full_refresh: bool = False, **pipeline_settings: str) -> WorkspaceUpdate:
        """One update of the deployed pipeline, followed to its end."""
        from clickstream.deploy import events as events_of
        from clickstream.deploy import remote

        if pipeline_settings:
            raise WorkspaceLabError(
                "settings of a deployed pipeline come from the bundle (databricks.yml), not "
                f"from the notebook: {', '.join(sorted(pipeline_settings))}"
            )
        pipeline_id = self.pipeline.pipeline_id
        update_id = remote.start_update(self.client, pipeline_id, full_refresh=full_refresh)
        state = remote.wait_for_update(
            self.client,
            pipeline_id,
            update_id,
            poll_seconds=self.poll_seconds,
            timeout_seconds=self.timeout_seconds,
            on_state=lambda s: self.on_state(f"  update {update_id}: {s}"),
        )
        events = remote.update_events(self.client, pipeline_id, update_id)
        # The operator command's lines: where it failed, the message and its causes.
        errors = events_of.error_lines(events)
        error = None if state == "COMPLETED" else (errors[-1] if errors else state)
        result = WorkspaceUpdate(update_id, state, error, lineage_from_events(events))
        self.updates.append(result)
        number = len(self.updates)
        print(f"update {number}: {state}" + (f" — {error}" if error else ""))
        self.use()
        return result

    def sql(self, query: str) -> Any:
        """A query with the pipeline's schemas current, as a pandas DataFrame."""
        self._current()
        return self.spark.sql(query).toPandas()

    def _current(self) -> None:
        # The catalog API rather than USE CATALOG: the same calls on Databricks and on Spark.
        self.spark.catalog.setCurrentCatalog(self.names.catalog)
        self.spark.catalog.setCurrentDatabase(self.names.engineering_schema)

    def table_counts(self) -> Any:
        import pandas as pd

        rows = []
        for tables in config.LAYER_TABLES.values():
            for name in tables:
                try:
                    rows.append((name, self.spark.table(self._quoted(name)).count()))
                except Exception as exc:  # not published (yet)
                    if "TABLE_OR_VIEW_NOT_FOUND" not in str(exc):
                        raise
        return pd.DataFrame(sorted(rows), columns=["table", "rows"])

    def history(self, table: str) -> Any:
        from clickstream.teaching import history_frame

        return history_frame(self.spark, self._quoted(table))

    def close(self) -> None:
        """Nothing to stop: the workspace owns the session."""


def start(notebook: str, bundle_files: Path, spark: Any = None, client: Any = None) -> WorkspaceLab:
    """The lab of ``notebook`` on this deployment's pipeline (the notebook's own session)."""
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.getOrCreate()
    if client is None:
        from databricks.sdk import WorkspaceClient

        client = WorkspaceClient()
    pipeline = describe_pipeline(client, pipeline_id_for(bundle_files))
    lab = WorkspaceLab(notebook, spark, client, pipeline)
    lab.use()
    print(
        f"lab {notebook[:2]}: the deployed pipeline {pipeline.pipeline_id} and its tables in "
        f"{pipeline.names.catalog} (shared with the deployment: nothing is reset)"
    )
    return lab
