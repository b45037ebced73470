"""The two baselines the pipeline is measured against, on the same landed files.

* ``floor``: what a plain Spark batch job costs — read the JSON once with the contract's schema,
  write it once to Delta. No line parsing of our own, no rescue, no silver: the engine's floor.
* ``handwritten``: the bronze -> silver work of the pipeline written by hand as Structured
  Streaming jobs (``availableNow`` trigger, Delta sinks, checkpoints of their own) on the
  project's pure transforms, without the declarative layer or the platform module. It produces
  the same rows as the pipeline's streaming tables, which the smoke test checks.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clickstream import config, contract, quality
from clickstream.config import PipelineSettings
from clickstream.transforms import dedup, ingest, silver

# The same arrival order the pipeline de-duplicates by (platform.deduplicated_stream).
ARRIVAL_ORDER = ("_ingested_at", "_source_file", "_line_number")
FLOOR_TABLE = "floor_events"
STREAMING_TABLES: tuple[str, ...] = (*config.LAYER_TABLES["bronze"], *config.LAYER_TABLES["silver"])


def run_floor(spark: Any, landing: Path, database: str) -> dict[str, Any]:
    """Read every landed ``*.json`` with the v1 schema and write it once to a Delta table."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    table = f"`{database}`.{FLOOR_TABLE}"
    began = time.perf_counter()
    (
        spark.read.schema(contract.spark_schema())
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", "*.json")
        .json(str(landing))
        .write.format("delta")
        .mode("overwrite")
        .saveAsTable(table)
    )
    seconds = time.perf_counter() - began
    rows = {FLOOR_TABLE: spark.read.table(table).count()}
    return {"seconds": seconds, "rows": rows, "database": database}


def _await(queries: list[Any]) -> None:
    for query in queries:
        query.awaitTermination()
        error = query.exception()
        if error is not None:
            raise RuntimeError(f"streaming query {query.name} failed: {error}")


def _sink(df: DataFrame, name: str, database: str, checkpoints: Path) -> Any:
    return (
        df.writeStream.format("delta")
        .queryName(f"handwritten_{database}_{name}")
        .option("checkpointLocation", str(checkpoints / name))
        .trigger(availableNow=True)
        .toTable(f"`{database}`.{name}")
    )


def run_handwritten(
    spark: Any, landing: Path, database: str, checkpoints: Path, settings: PipelineSettings
) -> dict[str, Any]:
    """Bronze, then the four silver tables (run side by side), as plain streaming queries."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    rules = quality.silver_rules(settings)
    key = settings.pii_key
    late = silver.late_condition(settings.allowed_lateness)
    valid = silver.valid_condition(rules)
    bronze_name = f"`{database}`.{config.BRONZE_EVENTS}"
    began = time.perf_counter()

    files = (
        spark.readStream.format("text")
        .option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", "*.json")
        .load(str(landing))
        .select(
            "value",
            F.col("_metadata.file_path").alias("_source_file"),
            F.col("_metadata.file_modification_time").alias("_landed_at"),
        )
    )
    bronze = ingest.parse_events(ingest.split_lines(files), str(uuid.uuid4()))
    _await([_sink(bronze, config.BRONZE_EVENTS, database, checkpoints)])
    bronze_s = time.perf_counter() - began

    def stream() -> DataFrame:
        return spark.readStream.table(bronze_name)

    def first_arrivals(where: str) -> DataFrame:
        # Stateless de-duplication against bronze's latest snapshot, as the pipeline does locally.
        condition = f"({where}) AND ({valid})"
        rows = stream().withWatermark("event_ts", settings.watermark_delay).where(condition)
        snapshot = spark.read.table(bronze_name).where(condition)
        return dedup.drop_seen_duplicates(rows, snapshot, "event_id", ARRIVAL_ORDER)

    events = silver.silver_columns(first_arrivals(f"NOT ({late})"), key)
    for rule in quality.of_action(rules, quality.FAIL):
        # The same guard as the pipeline's expect_or_fail: a failing row stops the query.
        message = f"expectation {rule.name} failed".replace("'", "")
        events = events.where(
            F.expr(
                f"CASE WHEN {rule.condition} THEN true ELSE raise_error('{message}') IS NULL END"
            )
        )
    outputs = {
        config.SILVER_EVENTS: events,
        config.SILVER_QUARANTINE: silver.quarantine_columns(stream(), rules, key),
        config.SILVER_LATE_EVENTS: silver.silver_columns(
            stream().where(f"({valid}) AND ({late})"), key
        ),
        config.SILVER_USER_CHANGES: silver.user_change_columns(
            first_arrivals("event_type = 'profile_update' AND user.user_id IS NOT NULL"), key
        ),
    }
    _await([_sink(df, name, database, checkpoints) for name, df in outputs.items()])
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "bronze_seconds": bronze_s,
        "database": database,
        "rows": count_rows(spark, database, STREAMING_TABLES),
    }


def count_rows(spark: Any, database: str, tables: tuple[str, ...]) -> dict[str, int]:
    return {name: spark.read.table(f"`{database}`.{name}").count() for name in tables}
