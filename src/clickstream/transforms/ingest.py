"""From landed files to bronze rows: one row per non-blank input line, nothing dropped."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clickstream import contract
from clickstream.transforms import rescue

# Ingestion metadata every bronze row carries, after the v1 event columns.
METADATA_COLUMNS: tuple[str, ...] = (
    "_rescued_data",
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
    # Split the file's bytes, not its text: Spark's split decodes a string to Java text first,
    # which would turn each invalid UTF-8 byte into U+FFFD. Latin-1 maps every byte to one
    # character and back, so each line keeps its exact bytes (0x0A and 0x0D are \n and \r).
    as_latin1 = F.decode(F.col("value").cast("binary"), "ISO-8859-1")
    exploded = files.select(
        "_source_file",
        "_landed_at",
        F.posexplode(F.split(as_latin1, "\n")).alias("_line_index", "_latin1_line"),
    )
    line = F.regexp_replace(F.col("_latin1_line"), "\r$", "")
    # A UTF-8 byte order mark (EF BB BF, here as three Latin-1 characters) at the start of a
    # file is an encoding marker, not content: JSON parsers refuse it, so it is dropped before
    # parsing. Anywhere else it stays part of the line.
    line = F.when(
        F.col("_line_index") == 0, F.regexp_replace(line, "^\u00EF\u00BB\u00BF", "")
    ).otherwise(line)
    return exploded.select(
        "_source_file",
        "_landed_at",
        (F.col("_line_index") + 1).alias("_line_number"),
        F.encode(line, "ISO-8859-1").cast("string").alias("_raw_line"),
    ).where(F.trim(line) != "")


def parse_events(lines: DataFrame, update_id: str) -> DataFrame:
    """Parse each line against the v1 contract, rescuing what does not fit (Auto Loader's way).

    Output: the v1 columns, then ``METADATA_COLUMNS``. A field that is unknown, differs from the
    contract only in case, or has a value of the wrong type is kept in ``_rescued_data`` and its
    typed column is null; a line that is not a JSON object, or not valid UTF-8, is kept whole in
    ``_corrupt_record`` (its bytes untouched) with every typed column null. ``_ingested_at`` is
    the micro-batch time, which also orders arrivals across updates.
    """
    schema = f"{contract.ddl()}, `_corrupt_record` STRING"
    staged = lines.select(
        F.col("*"), rescue.rescue_column(F.col("_raw_line"), F.col("_source_file")).alias("_r")
    )
    # Only a drifted line is re-serialised without its rescued fields; the rest parse as landed.
    parsed = F.from_json(
        F.coalesce(F.col("_r.cleaned"), F.col("_raw_line")),
        schema,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
    )
    staged = staged.select(F.col("*"), parsed.alias("_parsed"))
    # A value the rescue walk let through but the reader still refused (an exotic timestamp, say)
    # makes the line corrupt rather than silently null: it is kept whole, never lost.
    corrupt = (
        F.col("_r.corrupt")
        | F.col("_parsed").isNull()
        | F.col("_parsed._corrupt_record").isNotNull()
    )
    event_columns: list[Column] = [
        F.when(~corrupt, F.col(f"_parsed.{f.name}")).alias(f.name) for f in contract.EVENT_FIELDS
    ]
    return staged.select(
        *event_columns,
        F.when(~corrupt, F.col("_r.rescued")).alias("_rescued_data"),
        F.when(corrupt, F.col("_raw_line")).alias("_corrupt_record"),
        "_source_file",
        "_landed_at",
        "_line_number",
        F.current_timestamp().alias("_ingested_at"),
        F.lit(update_id).alias("_update_id"),
    )
