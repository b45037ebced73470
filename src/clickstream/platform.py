"""The one place that knows whether the pipeline runs locally or on Databricks.

Pipeline definition files call these functions and never branch on the platform themselves. On
Databricks each function uses the real Lakeflow feature; locally it reproduces the documented
semantics on open-source Spark + Delta.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clickstream import config, contract, faults, quality
from clickstream.config import PipelineSettings
from clickstream.transforms import dedup, ingest, pii, scd

LOCAL = "local"
DATABRICKS = "databricks"

log = logging.getLogger("clickstream")


def pipeline_settings(spark: Any) -> PipelineSettings:
    """The settings of the running update (from the pipeline's configuration)."""
    return PipelineSettings.from_conf(spark)


def published_name(spark: Any, table: str) -> str:
    """The name a definition declares: fully qualified on Databricks, where gold and BI publish
    to the readers' schema and everything else to the engineers' schema."""
    return config.published_name(table, config.DatabricksNames.from_conf(spark))


def platform_of(settings: PipelineSettings) -> str:
    if settings.platform == DATABRICKS or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return DATABRICKS
    return LOCAL


def ingest_landing(spark: Any, settings: PipelineSettings) -> DataFrame:
    """Incremental ingestion of every ``*.json`` file below the landing path, as bronze rows.

    Databricks: Auto Loader (``cloudFiles``). Locally: Spark's file stream of whole files, split
    into lines and parsed by our own step, so that each input line becomes exactly one row.
    """
    if platform_of(settings) == DATABRICKS:
        return _auto_loader(spark, settings)
    files = (
        spark.readStream.format("text")
        .option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", "*.json")
        .load(settings.landing_path)
        .select(
            "value",
            F.col("_metadata.file_path").alias("_source_file"),
            F.col("_metadata.file_modification_time").alias("_landed_at"),
        )
    )
    return ingest.parse_events(ingest.split_lines(files), settings.update_id)


def _auto_loader(spark: Any, settings: PipelineSettings) -> DataFrame:
    # The enforced v1 schema, never evolved ("rescue"): unknown fields, case mismatches and
    # values of the wrong type go to _rescued_data (with _file_path), which the local parser
    # reproduces; lines that are not JSON go to _corrupt_record.
    schema = contract.spark_schema().add("_corrupt_record", "string")
    rows = (
        spark.readStream.format("cloudFiles")
        .option("cloudFiles.format", "json")
        .option("cloudFiles.schemaEvolutionMode", "rescue")
        .option("cloudFiles.schemaHints", contract.ddl())
        .option("rescuedDataColumn", "_rescued_data")
        .option("readerCaseSensitive", "true")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .option("pathGlobFilter", "*.json")
        .option("recursiveFileLookup", "true")
        .schema(schema)
        .load(settings.landing_path)
    )
    return rows.select(
        *[F.col(f.name) for f in contract.EVENT_FIELDS],
        "_rescued_data",
        "_corrupt_record",
        F.col("_metadata.file_path").alias("_source_file"),
        F.col("_metadata.file_modification_time").alias("_landed_at"),
        # Auto Loader does not expose line numbers; the row's position is unknown there.
        F.lit(None).cast("int").alias("_line_number"),
        F.current_timestamp().alias("_ingested_at"),
        F.lit(settings.update_id).alias("_update_id"),
    )


def deduplicated_stream(
    spark: Any,
    settings: PipelineSettings,
    source: str,
    key: str,
    event_time: str,
    where: str,
    valid: str = "true",
    bounded: bool = True,
    order_columns: tuple[str, ...] = ("_ingested_at", "_source_file", "_line_number"),
) -> DataFrame:
    """The rows of ``source`` that satisfy ``where``, each ``key`` once, as a stream.

    ``valid`` is the table's drop-rule condition: on Databricks the table's expectations drop
    those rows; locally only valid rows may count as the first arrival of a key, so they are
    filtered here. With ``bounded=False`` nothing may ever be dropped for lateness (the
    de-duplication state is then unbounded on Databricks, fine for rare events).

    Databricks: an event-time watermark and ``dropDuplicatesWithinWatermark``. Locally, Spark
    Connect analyses a de-duplication's input eagerly, which fails for a pipeline dataset that
    does not exist yet; so the local stream keeps a row only when no earlier row of the source
    snapshot has the same key. That is stateless, exactly-once on restart, and also catches
    duplicates older than the watermark.
    """
    if platform_of(settings) == DATABRICKS:
        stream = (
            spark.readStream.option(config.SKIP_CHANGE_COMMITS, "true").table(source).where(where)
        )
        if not bounded:
            return stream.dropDuplicates([key])
        return stream.withWatermark(
            event_time, settings.watermark_delay
        ).dropDuplicatesWithinWatermark([key])
    condition = f"({where}) AND ({valid})"
    stream = spark.sql(
        f"SELECT * FROM STREAM({source}) WITH ('{config.SKIP_CHANGE_COMMITS}' = 'true') "
        f"WATERMARK {event_time} DELAY OF INTERVAL {settings.watermark_delay}"
    ).where(condition)
    snapshot = spark.read.table(source).where(condition)
    return dedup.drop_seen_duplicates(stream, snapshot, key, order_columns)


_demo_key_warned = False


def pii_key(settings: PipelineSettings) -> str:
    """The pseudonymisation key: the demo key is refused on Databricks and warned about here.

    Locally the runner passes a key file (``clickstream.pii_key_file``) instead of the key.
    The warning comes once per process: definitions register twice per update and again on
    every update, and one line says it all.
    """
    global _demo_key_warned
    key = settings.pii_key
    if settings.pii_key_file:
        try:
            key = pii.key_from_text(Path(settings.pii_key_file).read_text("utf-8"))
        except OSError as exc:
            raise RuntimeError(
                f"the PII key file {settings.pii_key_file} is not readable: {exc.strerror}"
            ) from None
    if key == config.DEMO_PII_KEY:
        if platform_of(settings) == DATABRICKS:
            raise RuntimeError(
                "the PII key is the repository's demo key: set clickstream.pii_key to "
                "{{secrets/clickstream/pii-hmac-key}} in the pipeline's configuration"
            )
        if not _demo_key_warned:
            log.warning(
                "pseudonymising with the demo PII key %r: fine on a laptop, never in production",
                config.DEMO_PII_KEY,
            )
            _demo_key_warned = True
    return key


def pii_key_for_queries(spark: Any, settings: PipelineSettings) -> pii.PiiKey:
    """Locally, the key file is read by Spark when the query runs: Spark writes every query's
    plan, literals included, to its event log, so a key in the plan would be kept there. On
    Databricks the secret's value is still a literal of the plans (a known limit, README)."""
    key = pii_key(settings)
    if settings.pii_key_file and platform_of(settings) != DATABRICKS:
        return pii.PiiKey.from_file(spark, Path(settings.pii_key_file))
    return pii.PiiKey.literal(key)


def expectations(
    settings: PipelineSettings, table: str, rules: Sequence[quality.Rule]
) -> Callable[[Callable[[], DataFrame]], Callable[[], DataFrame]]:
    """Decorator applying a rule set to a dataset function, with Lakeflow's semantics.

    Databricks: ``dp.expect_all`` (warn), ``dp.expect_all_or_drop`` (drop) and
    ``dp.expect_all_or_fail`` (fail). Locally: warn keeps every row (event_accounting records
    which rules each row failed, expectation_metrics counts them); drop filters the rows out
    (``silver_quarantine`` keeps them, declared from the same rules); fail raises an error
    naming the rule inside the write, so the flow fails before its Delta commit.
    """
    warn = quality.of_action(rules, quality.WARN)
    drop = quality.of_action(rules, quality.DROP)
    fail = quality.of_action(rules, quality.FAIL)
    if platform_of(settings) == DATABRICKS:
        from pyspark import pipelines as dp

        def databricks(fn: Callable[[], DataFrame]) -> Callable[[], DataFrame]:
            if fail:
                fn = dp.expect_all_or_fail(quality.as_dict(fail))(fn)
            if drop:
                fn = dp.expect_all_or_drop(quality.as_dict(drop))(fn)
            if warn:
                fn = dp.expect_all(quality.as_dict(warn))(fn)
            return fn

        return databricks

    def local(fn: Callable[[], DataFrame]) -> Callable[[], DataFrame]:
        @functools.wraps(fn)
        def checked() -> DataFrame:
            df = fn()
            for rule in fail:
                message = (
                    f"expectation {rule.name} (expect_or_fail) failed on table {table}: "
                    f"{rule.description or rule.condition}"
                ).replace("'", "")
                # CASE sends a false or NULL result to raise_error; a passing row is kept.
                df = df.where(
                    F.expr(
                        f"CASE WHEN {rule.condition} THEN true "
                        f"ELSE raise_error('{message}') IS NULL END"
                    )
                )
            if drop:
                df = df.where(quality.passes_all(drop))
            return df

        return checked

    return local


@dataclass(frozen=True)
class AutoCdcSpec:
    """The arguments of one AUTO CDC flow, as Databricks' ``dp.create_auto_cdc_flow`` takes them.

    Columns are always listed explicitly (``column_list``), so the target's shape is known on
    both platforms without reading the source.
    """

    target: str
    source: str
    keys: tuple[str, ...]
    sequence_by: str
    column_list: tuple[str, ...]
    stored_as_scd_type: int = 1
    track_history_column_list: tuple[str, ...] | None = None
    apply_as_deletes: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.stored_as_scd_type not in (1, 2):
            raise ValueError(f"stored_as_scd_type must be 1 or 2, not {self.stored_as_scd_type}")
        if self.track_history_column_list is not None and self.stored_as_scd_type != 2:
            raise ValueError("track_history_column_list applies to SCD Type 2 only")
        missing = set(self.track_history_column_list or ()) - set(self.column_list)
        if missing:
            raise ValueError(f"tracked columns {sorted(missing)} are not in column_list")
        overlap = set(self.keys) & set(self.column_list)
        if overlap:
            raise ValueError(f"keys {sorted(overlap)} must not be repeated in column_list")

    def flow_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``dp.create_auto_cdc_flow`` (SQL expressions as Columns)."""
        arguments: dict[str, Any] = {
            "target": self.target,
            "source": self.source,
            "keys": list(self.keys),
            "sequence_by": F.expr(self.sequence_by),
            # The target keeps the keys and the listed columns, like AUTO CDC's output.
            "column_list": [*self.keys, *self.column_list],
            "stored_as_scd_type": self.stored_as_scd_type,
        }
        if self.track_history_column_list is not None:
            arguments["track_history_column_list"] = list(self.track_history_column_list)
        if self.apply_as_deletes is not None:
            arguments["apply_as_deletes"] = F.expr(self.apply_as_deletes)
        if self.name is not None:
            arguments["name"] = self.name
        return arguments

    def output_columns(self) -> list[str]:
        columns = [*self.keys, *self.column_list]
        if self.stored_as_scd_type == 2:
            columns += [scd.START_AT, scd.END_AT]
        return columns

    def compute(self, changes: DataFrame) -> DataFrame:
        """The target table computed in batch from the whole change feed (the local way)."""
        if self.stored_as_scd_type == 1:
            return scd.scd_type1(
                changes, self.keys, self.sequence_by, self.column_list, self.apply_as_deletes
            )
        return scd.scd_type2(
            changes,
            self.keys,
            self.sequence_by,
            self.column_list,
            self.track_history_column_list,
            self.apply_as_deletes,
        )


def declare_auto_cdc(
    spark: Any, settings: PipelineSettings, spec: AutoCdcSpec, comment: str | None = None
) -> None:
    """Declare ``spec.target`` as an AUTO CDC target.

    Databricks: a streaming table fed by ``dp.create_auto_cdc_flow``. Locally, where AUTO CDC
    supports neither SCD Type 2 nor Delta targets, a materialized view recomputed from the
    change feed with the same shape and the semantics Databricks documents.
    """
    from pyspark import pipelines as dp

    if platform_of(settings) == DATABRICKS:
        dp.create_streaming_table(name=spec.target, comment=comment)
        dp.create_auto_cdc_flow(**spec.flow_arguments())
        return

    def compute_target() -> DataFrame:
        return spec.compute(spark.read.table(spec.source))

    dp.materialized_view(compute_target, name=spec.target, comment=comment)


def read_auto_cdc_target(spark: Any, settings: PipelineSettings, spec: AutoCdcSpec) -> DataFrame:
    """The rows of an AUTO CDC target, for a downstream query (a fact's point-in-time join).

    Databricks: the target table itself (a streaming table, complete when downstream reads it).
    Locally the target is a materialized view, and the local engine may refresh a materialized
    view that reads another one before that one is rewritten in the same update (measured), so
    the reader computes the same rows from the change feed (a streaming table) instead.
    """
    if platform_of(settings) == DATABRICKS:
        return spark.read.table(spec.target)
    return spec.compute(spark.read.table(spec.source))


def declare_change_feed(
    spark: Any,
    settings: PipelineSettings,
    name: str,
    source: str,
    changes: Callable[[DataFrame], DataFrame],
    comment: str | None = None,
) -> None:
    """A temporary view ``name`` = ``changes(source)``: the source of an AUTO CDC flow whose
    columns are not top-level columns of a table (AUTO CDC reads a named dataset).

    Databricks: a streaming view, as AUTO CDC needs. Locally: a batch view, read by the
    materialized view that stands in for the AUTO CDC target.
    """
    from pyspark import pipelines as dp

    if platform_of(settings) == DATABRICKS:

        def streaming() -> DataFrame:
            return changes(spark.readStream.table(source))

        dp.temporary_view(streaming, name=name, comment=comment)
        return

    def batch() -> DataFrame:
        return changes(spark.read.table(source))

    dp.temporary_view(batch, name=name, comment=comment)


# Liquid clustering requested by definitions of the running registration (table -> columns).
_local_clustering: dict[str, tuple[str, ...]] = {}


def clustering(settings: PipelineSettings, table: str, columns: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments that cluster ``table`` by ``columns`` (liquid clustering).

    Databricks: ``cluster_by`` on the dataset. Locally the request is recorded and
    ``apply_local_clustering`` runs ``ALTER TABLE … CLUSTER BY`` + ``OPTIMIZE`` after the update
    (open-source Delta keeps the clustering of a pipeline-managed table across refreshes).
    """
    if platform_of(settings) == DATABRICKS:
        return {"cluster_by": list(columns)}
    _local_clustering[table] = tuple(columns)
    return {}


def reset_local_clustering() -> None:
    """Forget requests of an earlier registration (called before definitions register)."""
    _local_clustering.clear()


def apply_local_clustering(
    spark: Any, database: str, tables: Collection[str] | None = None
) -> dict[str, str | None]:
    """Cluster and optimize the requested tables of ``database``: table -> error or None.

    ``tables``: only these (the datasets the update refreshed); None for every requested one.
    Non-fatal: the update has already committed its data; a table that cannot be clustered is
    logged and stays readable as it is.
    """
    outcome: dict[str, str | None] = {}
    for table, columns in sorted(_local_clustering.items()):
        if tables is not None and table not in tables:
            continue
        name = f"`{database}`.`{table}`"
        try:
            spark.sql(f"ALTER TABLE {name} CLUSTER BY ({', '.join(columns)})")
            spark.sql(f"OPTIMIZE {name}")
            outcome[table] = None
            if config.layer_of(table) in config.ANALYTICS_LAYERS:
                faults.reached(faults.GOLD_CLUSTERING)
        except Exception as exc:  # logged: clustering never fails the update
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            log.warning("liquid clustering of %s by %s failed: %s", name, columns, message)
            outcome[table] = message
    _local_clustering.clear()
    return outcome
