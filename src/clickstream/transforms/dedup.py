"""De-duplication on a key, expressed without streaming state.

A row is a duplicate when the source already holds a row with the same key that arrived
earlier (by ``order_columns``). Because the rule only looks at the source table, re-running a
micro-batch gives the same answer: the outcome is exactly-once by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def arrived_before(later: DataFrame, earlier: DataFrame, order_columns: Sequence[str]) -> Column:
    """``earlier`` row precedes ``later`` row in lexicographic order of ``order_columns``."""
    condition: Column | None = None
    for column in reversed(order_columns):
        lt = earlier[f"_seen_{column}"] < later[column]
        condition = (
            lt
            if condition is None
            else lt | ((earlier[f"_seen_{column}"] == later[column]) & condition)
        )
    assert condition is not None, "order_columns must not be empty"
    return condition


def drop_seen_duplicates(
    new_rows: DataFrame, all_rows: DataFrame, key: str, order_columns: Sequence[str]
) -> DataFrame:
    """Keep the rows of ``new_rows`` that have no earlier row with the same ``key`` in ``all_rows``.

    ``all_rows`` must contain ``new_rows`` (e.g. the source table's latest snapshot while
    ``new_rows`` is its stream), so duplicates inside one batch resolve to the first arrival.
    """
    seen = all_rows.select(
        F.col(key).alias(f"_seen_{key}"),
        *[F.col(c).alias(f"_seen_{c}") for c in order_columns],
    )
    same_key = new_rows[key] == seen[f"_seen_{key}"]
    return new_rows.join(
        seen, same_key & arrived_before(new_rows, seen, order_columns), "left_anti"
    )
