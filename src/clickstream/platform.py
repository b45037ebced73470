"""The one place that knows whether the pipeline runs locally or on Databricks.

Pipeline definition files call these functions and never branch on the platform themselves. On
Databricks each function uses the real Lakeflow feature; locally it reproduces the documented
semantics on open-source Spark + Delta.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clickstream import config, contract, quality
from clickstream.config import PipelineSettings
from clickstream.transforms import dedup, ingest

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
        stream = spark.readStream.table(source).where(where)
        if not bounded:
            return stream.dropDuplicates([key])
        return stream.withWatermark(
            event_time, settings.watermark_delay
        ).dropDuplicatesWithinWatermark([key])
    condition = f"({where}) AND ({valid})"
    stream = spark.sql(
        f"SELECT * FROM STREAM({source}) "
        f"WATERMARK {event_time} DELAY OF INTERVAL {settings.watermark_delay}"
    ).where(condition)
    snapshot = spark.read.table(source).where(condition)
    return dedup.drop_seen_duplicates(stream, snapshot, key, order_columns)


def pii_key(settings: PipelineSettings) -> str:
    """The pseudonymisation key: the demo key is refused on Databricks and warned about here."""
    if settings.pii_key == config.DEMO_PII_KEY:
        if platform_of(settings) == DATABRICKS:
            raise RuntimeError(
                "the PII key is the repository's demo key: set clickstream.pii_key to "
                "{{secrets/clickstream/pii-hmac-key}} in the pipeline's configuration"
            )
        log.warning(
            "pseudonymising with the demo PII key %r: fine on a laptop, never in production",
            config.DEMO_PII_KEY,
        )
    return settings.pii_key


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
