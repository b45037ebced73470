"""The two baselines the pipeline is measured against, on the same landed files.

* ``floor``: what a plain Spark batch job costs — read the JSON once with the contract's schema,
  write it once to Delta. No line parsing of our own, no rescue, no silver: the engine's floor.
* ``handwritten``: the bronze -> silver work of the pipeline written by hand as Structured
  Streaming jobs (``availableNow`` trigger, Delta sinks, checkpoints of their own) on the
  project's pure transforms, without the declarative layer or the platform module, then the
  same liquid clustering (``ALTER TABLE … CLUSTER BY`` + ``OPTIMIZE``) the local runner applies.
  It produces the same rows as the pipeline's streaming tables, which the smoke test checks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clickstream import config, contract, quality
from clickstream.config import PipelineSettings
from clickstream.runner import write_key_file
from clickstream.transforms import dedup, ingest, pii, silver

# The same arrival order the pipeline de-duplicates by (platform.deduplicated_stream).
ARRIVAL_ORDER = ("_ingested_at", "_source_file", "_line_number")
FLOOR_TABLE = "floor_events"
STREAMING_TABLES = config.STREAMING_TABLES


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


def _create(df: DataFrame, name: str, database: str, properties: dict[str, str]) -> None:
    """An empty Delta table of ``df``'s shape with the pipeline table's properties (statistics
    columns, change data feed), so both paths write the same kind of table."""
    writer = df.limit(0).writeTo(f"`{database}`.{name}").using("delta")
    for key, value in properties.items():
        writer = writer.tableProperty(key, value)
    # One commit, as the pipeline creates its tables: the properties come with the table.
    writer.createOrReplace()


def _sink(df: DataFrame, name: str, database: str, checkpoints: Path) -> Any:
    return (
        df.writeStream.format("delta")
        .queryName(f"handwritten_{database}_{name}")
        .option("checkpointLocation", str(checkpoints / name))
        .trigger(availableNow=True)
        .toTable(f"`{database}`.{name}")
    )


def _landed_files(reader: Any, landing: Path) -> DataFrame:
    return (
        reader.format("text")
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


def silver_outputs(
    bronze: Callable[[], DataFrame],
    snapshot: Callable[[], DataFrame],
    settings: PipelineSettings,
    pii_key: pii.PiiKey | None = None,
) -> dict[str, DataFrame]:
    """The four silver tables from bronze rows (``bronze``: a stream, or a batch for the shape).

    ``pii_key``: as the pipeline's silver gets it locally (``PiiKey.from_file``); without it
    the key is a literal of the queries.
    """
    rules = quality.silver_rules(settings)
    pii_key = pii_key or pii.PiiKey.literal(settings.pii_key)
    key, keyed = pii_key.pads, pii_key.keyed
    late = silver.late_condition(settings.allowed_lateness)
    valid = silver.valid_condition(rules)

    def first_arrivals(where: str) -> DataFrame:
        # Stateless de-duplication against bronze's latest snapshot, as the pipeline does locally.
        condition = f"({where}) AND ({valid})"
        rows = bronze().withWatermark("event_ts", settings.watermark_delay).where(condition)
        return dedup.drop_seen_duplicates(
            rows, snapshot().where(condition), "event_id", ARRIVAL_ORDER
        )

    events = silver.silver_columns(keyed(first_arrivals(f"NOT ({late})")), key)
    for rule in quality.of_action(rules, quality.FAIL):
        # The same guard as the pipeline's expect_or_fail: a failing row stops the query.
        message = f"expectation {rule.name} failed".replace("'", "")
        events = events.where(
            F.expr(
                f"CASE WHEN {rule.condition} THEN true ELSE raise_error('{message}') IS NULL END"
            )
        )
    return {
        config.SILVER_EVENTS: events,
        config.SILVER_QUARANTINE: silver.quarantine_columns(keyed(bronze()), rules, key),
        config.SILVER_LATE_EVENTS: silver.silver_columns(
            keyed(bronze().where(f"({valid}) AND ({late})")), key
        ),
        config.SILVER_USER_CHANGES: silver.user_change_columns(
            keyed(first_arrivals("event_type = 'profile_update' AND user.user_id IS NOT NULL")),
            key,
        ),
    }


# The tables the pipeline declares clustered (platform.clustering in bronze.py and silver.py).
CLUSTERED_TABLES = (config.BRONZE_EVENTS, config.SILVER_EVENTS)
TABLE_PROPERTIES: dict[str, dict[str, str]] = {
    config.BRONZE_EVENTS: config.BRONZE_TABLE_PROPERTIES,
    config.SILVER_EVENTS: config.SILVER_TABLE_PROPERTIES,
    config.SILVER_QUARANTINE: config.SILVER_TABLE_PROPERTIES,
    config.SILVER_LATE_EVENTS: config.SILVER_TABLE_PROPERTIES,
    config.SILVER_USER_CHANGES: config.USER_CHANGES_TABLE_PROPERTIES,
}


def run_handwritten(
    spark: Any,
    landing: Path,
    database: str,
    checkpoints: Path,
    settings: PipelineSettings,
    cluster: bool = True,
) -> dict[str, Any]:
    """Bronze, then the four silver tables (run side by side), as plain streaming queries."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    bronze_name = f"`{database}`.{config.BRONZE_EVENTS}"
    update_id = str(uuid.uuid4())
    began = time.perf_counter()

    def parsed(reader: Any) -> DataFrame:
        return ingest.parse_events(ingest.split_lines(_landed_files(reader, landing)), update_id)

    _create(
        parsed(spark.read), config.BRONZE_EVENTS, database, TABLE_PROPERTIES[config.BRONZE_EVENTS]
    )
    _await([_sink(parsed(spark.readStream), config.BRONZE_EVENTS, database, checkpoints)])
    bronze_s = time.perf_counter() - began

    def snapshot() -> DataFrame:
        return spark.read.table(bronze_name)

    def stream() -> DataFrame:
        # skipChangeCommits, as the pipeline's silver streams: an erasure on bronze is skipped.
        return spark.readStream.option(config.SKIP_CHANGE_COMMITS, "true").table(bronze_name)

    # The key as the pipeline's silver gets it locally: a file Spark reads, never a literal.
    pii_key = pii.PiiKey.from_file(spark, write_key_file(checkpoints, settings.pii_key))
    for name, df in silver_outputs(snapshot, snapshot, settings, pii_key).items():
        _create(df, name, database, TABLE_PROPERTIES[name])
    outputs = silver_outputs(stream, snapshot, settings, pii_key)
    _await([_sink(df, name, database, checkpoints) for name, df in outputs.items()])
    streams_s = time.perf_counter() - began
    # The same liquid clustering the pipeline's runner applies after each local update.
    for name in CLUSTERED_TABLES if cluster else ():
        table = f"`{database}`.`{name}`"
        spark.sql(f"ALTER TABLE {table} CLUSTER BY ({', '.join(config.EVENT_CLUSTER_COLUMNS)})")
        spark.sql(f"OPTIMIZE {table}")
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "bronze_seconds": bronze_s,
        "clustering_seconds": seconds - streams_s,
        "database": database,
        "rows": count_rows(spark, database, STREAMING_TABLES),
    }


def count_rows(spark: Any, database: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows per table, in one query (one round trip instead of one per table)."""
    union = " UNION ALL ".join(
        f"SELECT '{name}' AS name, count(*) AS n FROM `{database}`.`{name}`" for name in tables
    )
    counted = {row["name"]: int(row["n"]) for row in spark.sql(union).collect()}
    return {name: counted[name] for name in tables}
