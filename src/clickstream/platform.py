"""The one place that knows whether the pipeline runs locally or on Databricks.

Pipeline definition files call these functions and never branch on the platform themselves. On
Databricks each function uses the real Lakeflow feature; locally it reproduces the documented
semantics on open-source Spark + Delta.
"""

from __future__ import annotations

import os
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clickstream import config, contract
from clickstream.config import PipelineSettings
from clickstream.transforms import dedup, ingest

LOCAL = "local"
DATABRICKS = "databricks"


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
    order_columns: tuple[str, ...] = ("_ingested_at", "_source_file", "_line_number"),
) -> DataFrame:
    """The rows of ``source`` that satisfy ``where``, each ``key`` once, as a stream.

    Databricks: an event-time watermark and ``dropDuplicatesWithinWatermark``. Locally, Spark
    Connect analyses a de-duplication's input eagerly, which fails for a pipeline dataset that
    does not exist yet; so the local stream keeps a row only when no earlier row of the source
    snapshot has the same key. That is stateless, exactly-once on restart, and also catches
    duplicates older than the watermark.
    """
    if platform_of(settings) == DATABRICKS:
        return (
            spark.readStream.table(source)
            .where(where)
            .withWatermark(event_time, settings.watermark_delay)
            .dropDuplicatesWithinWatermark([key])
        )
    stream = spark.sql(
        f"SELECT * FROM STREAM({source}) "
        f"WATERMARK {event_time} DELAY OF INTERVAL {settings.watermark_delay}"
    ).where(where)
    snapshot = spark.read.table(source).where(where)
    return dedup.drop_seen_duplicates(stream, snapshot, key, order_columns)
