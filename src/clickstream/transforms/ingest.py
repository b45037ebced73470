"""From landed files to bronze rows: one row per non-blank input line, nothing dropped."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clickstream import contract

# Ingestion metadata every bronze row carries, after the v1 event columns.
METADATA_COLUMNS: tuple[str, ...] = (
    "_corrupt_record",
    "_source_file",
    "_landed_at",
    "_line_number",
    "_ingested_at",
    "_update_id",
)


def split_lines(files: DataFrame) -> DataFrame:
    """Files (``value`` = whole text, ``_source_file``, ``_landed_at``) -> one row per line.

    Line numbers are 1-based and count every physical line, so they match what an editor (and
    the producer's manifest) shows. Blank lines carry no event and are left out.
    """
    exploded = files.select(
        "_source_file",
        "_landed_at",
        F.posexplode(F.split(F.col("value"), "\n")).alias("_line_index", "_raw_line"),
    )
    line = F.regexp_replace(F.col("_raw_line"), "\r$", "")
    return exploded.select(
        "_source_file",
        "_landed_at",
        (F.col("_line_index") + 1).alias("_line_number"),
        line.alias("_raw_line"),
    ).where(F.trim(F.col("_raw_line")) != "")


def parse_events(lines: DataFrame, update_id: str) -> DataFrame:
    """Parse each line against the v1 contract; a line that is not a JSON object is kept whole.

    Output: the v1 columns, then ``METADATA_COLUMNS``. ``_ingested_at`` is the micro-batch time,
    which also orders arrivals across updates.
    """
    schema = f"{contract.ddl()}, `_corrupt_record` STRING"
    parsed = F.from_json(
        F.col("_raw_line"),
        schema,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
    )
    event_columns: list[Column] = [
        F.col(f"_parsed.{f.name}").alias(f.name) for f in contract.EVENT_FIELDS
    ]
    return lines.select(F.col("*"), parsed.alias("_parsed")).select(
        *event_columns,
        F.coalesce(
            F.col("_parsed._corrupt_record"),
            # from_json yields null (not a corrupt record) for input such as a JSON array.
            F.when(F.col("_parsed").isNull(), F.col("_raw_line")),
        ).alias("_corrupt_record"),
        "_source_file",
        "_landed_at",
        "_line_number",
        F.current_timestamp().alias("_ingested_at"),
        F.lit(update_id).alias("_update_id"),
    )
