"""Slowly changing dimensions with the semantics Databricks documents for AUTO CDC.

Open-source Spark 4.2 has AUTO CDC only for SCD Type 1 (and not on Delta targets), so the local
pipeline computes the same result table from the change feed in batch:

* SCD Type 1: the latest row per key by ``sequence_by``; a delete removes the key.
* SCD Type 2: one row per version with ``__START_AT`` / ``__END_AT`` (of the sequence's type).
  Changes are placed by sequence, not by arrival; exact duplicates are ignored; a change that
  touches no tracked column does not open a version but updates the current one in place; a
  delete closes the current version; the current version has ``__END_AT`` null.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

START_AT = "__START_AT"
END_AT = "__END_AT"
_SEQ = "__sequence"
_DELETE = "__is_delete"


def _null_safe_equal(left: Sequence[Column], right: Sequence[Column]) -> Column:
    condition = F.lit(True)
    for a, b in zip(left, right, strict=True):
        condition = condition & a.eqNullSafe(b)
    return condition


def _prepare(
    changes: DataFrame,
    keys: Sequence[str],
    sequence_by: str | Column,
    columns: Sequence[str],
    apply_as_deletes: str | Column | None,
) -> DataFrame:
    sequence = F.expr(sequence_by) if isinstance(sequence_by, str) else sequence_by
    if apply_as_deletes is None:
        delete = F.lit(False)
    else:
        delete = F.expr(apply_as_deletes) if isinstance(apply_as_deletes, str) else apply_as_deletes
    prepared = changes.select(
        *keys,
        *columns,
        sequence.alias(_SEQ),
        F.coalesce(delete, F.lit(False)).alias(_DELETE),
    )
    # One row per key and sequence: exact duplicates collapse; for conflicting rows at the same
    # sequence a delete wins, then the greatest values, so the result never depends on arrival.
    # Only select/where: the Connect server analyses withColumn/drop eagerly, which fails inside
    # a pipeline flow whose input is another pipeline dataset.
    order = [F.col(_DELETE).desc(), *[F.col(c).desc_nulls_last() for c in columns]]
    rank = F.row_number().over(Window.partitionBy(*keys, _SEQ).orderBy(*order))
    return (
        prepared.where(F.col(_SEQ).isNotNull())
        .select(*keys, *columns, _SEQ, _DELETE, rank.alias("__rank"))
        .where("__rank = 1")
        .select(*keys, *columns, _SEQ, _DELETE)
    )


def scd_type1(
    changes: DataFrame,
    keys: Sequence[str],
    sequence_by: str | Column,
    columns: Sequence[str],
    apply_as_deletes: str | Column | None = None,
) -> DataFrame:
    """The latest state per key; keys whose latest change is a delete are gone."""
    prepared = _prepare(changes, keys, sequence_by, columns, apply_as_deletes)
    latest = F.row_number().over(Window.partitionBy(*keys).orderBy(F.col(_SEQ).desc()))
    return (
        prepared.select(*keys, *columns, _DELETE, latest.alias("__latest"))
        .where(f"__latest = 1 AND NOT {_DELETE}")
        .select(*keys, *columns)
    )


def scd_type2(
    changes: DataFrame,
    keys: Sequence[str],
    sequence_by: str | Column,
    columns: Sequence[str],
    track_history: Sequence[str] | None = None,
    apply_as_deletes: str | Column | None = None,
) -> DataFrame:
    """Version history per key: ``keys``, ``columns``, ``__START_AT``, ``__END_AT``.

    ``track_history`` names the columns whose change opens a new version (default: all of
    ``columns``); the others take the value of the latest change within the version.
    """
    tracked = list(track_history if track_history is not None else columns)
    unknown = sorted(set(tracked) - set(columns))
    if unknown:
        raise ValueError(f"tracked columns {unknown} are not among the columns {list(columns)}")
    prepared = _prepare(changes, keys, sequence_by, columns, apply_as_deletes)
    base = [*keys, *columns, _SEQ, _DELETE]
    by_sequence = Window.partitionBy(*keys).orderBy(_SEQ)
    previous = [F.lag(F.col(c)).over(by_sequence) for c in tracked]
    previous_delete = F.lag(F.col(_DELETE)).over(by_sequence)
    opens = (
        F.col(_DELETE)
        | previous_delete.isNull()  # first change of the key
        | previous_delete
        | ~_null_safe_equal([F.col(c) for c in tracked], previous)
    )
    flagged = prepared.select(*base, opens.alias("__opens"))
    running = by_sequence.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    grouped = flagged.select(
        *base, F.sum(F.col("__opens").cast("int")).over(running).alias("__version")
    )
    # Within a version the tracked values are constant; untracked ones come from its last change.
    latest_first = Window.partitionBy(*keys, "__version").orderBy(F.col(_SEQ).desc())
    versions = grouped.select(
        *base,
        F.row_number().over(latest_first).alias("__last"),
        F.min(_SEQ).over(Window.partitionBy(*keys, "__version")).alias(START_AT),
    ).where("__last = 1")
    next_start = F.lead(F.col(START_AT)).over(Window.partitionBy(*keys).orderBy(START_AT))
    return (
        versions.select(*keys, *columns, _DELETE, START_AT, next_start.alias(END_AT))
        .where(~F.col(_DELETE))
        .select(*keys, *columns, START_AT, END_AT)
    )
