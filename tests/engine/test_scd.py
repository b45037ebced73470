"""SCD Type 1 and 2 golden tests, starting with the worked example of Databricks' AUTO CDC docs."""

from __future__ import annotations

import pytest
from pyspark.testing import assertDataFrameEqual

from clickstream.transforms.scd import scd_type1, scd_type2

CDC_SCHEMA = "userId INT, name STRING, city STRING, operation STRING, sequenceNum INT"
# The change feed of the documentation's example, in arrival order (out of order on purpose).
DOCS_FEED = [
    (124, "Raul", "Oaxaca", "INSERT", 1),
    (123, "Isabel", "Monterrey", "INSERT", 1),
    (125, "Mercedes", "Tijuana", "INSERT", 2),
    (126, "Lily", "Cancun", "INSERT", 2),
    (123, None, None, "DELETE", 6),
    (125, "Mercedes", "Guadalajara", "UPDATE", 6),
    (125, "Mercedes", "Mexicali", "UPDATE", 5),
    (123, "Isabel", "Chihuahua", "UPDATE", 5),
]
SCD2_SCHEMA = "userId INT, name STRING, city STRING, __START_AT INT, __END_AT INT"


def feed(spark, rows):
    return spark.createDataFrame(rows, CDC_SCHEMA)


def history(spark, rows, **kwargs):
    return scd_type2(
        feed(spark, rows),
        keys=["userId"],
        sequence_by="sequenceNum",
        columns=["name", "city"],
        apply_as_deletes="operation = 'DELETE'",
        **kwargs,
    )


def test_docs_example_scd_type2(spark):
    expected = [
        (123, "Isabel", "Monterrey", 1, 5),
        (123, "Isabel", "Chihuahua", 5, 6),
        (124, "Raul", "Oaxaca", 1, None),
        (125, "Mercedes", "Tijuana", 2, 5),
        (125, "Mercedes", "Mexicali", 5, 6),
        (125, "Mercedes", "Guadalajara", 6, None),
        (126, "Lily", "Cancun", 2, None),
    ]
    assertDataFrameEqual(history(spark, DOCS_FEED), spark.createDataFrame(expected, SCD2_SCHEMA))


def test_docs_example_with_untracked_city(spark):
    # track_history_except_column_list=["city"]: city changes update the version in place.
    expected = [
        (123, "Isabel", "Chihuahua", 1, 6),
        (124, "Raul", "Oaxaca", 1, None),
        (125, "Mercedes", "Guadalajara", 2, None),
        (126, "Lily", "Cancun", 2, None),
    ]
    actual = history(spark, DOCS_FEED, track_history=["name"])
    assertDataFrameEqual(actual, spark.createDataFrame(expected, SCD2_SCHEMA))


def test_docs_example_scd_type1(spark):
    actual = scd_type1(
        feed(spark, DOCS_FEED),
        keys=["userId"],
        sequence_by="sequenceNum",
        columns=["name", "city"],
        apply_as_deletes="operation = 'DELETE'",
    )
    expected = [(124, "Raul", "Oaxaca"), (125, "Mercedes", "Guadalajara"), (126, "Lily", "Cancun")]
    assertDataFrameEqual(
        actual, spark.createDataFrame(expected, "userId INT, name STRING, city STRING")
    )


@pytest.mark.parametrize(
    "rows,expected",
    [
        pytest.param(
            [(1, "a", "x", "U", 1), (1, "b", "x", "U", 2), (1, "c", "x", "U", 3)],
            [(1, "a", "x", 1, 2), (1, "b", "x", 2, 3), (1, "c", "x", 3, None)],
            id="in-order",
        ),
        pytest.param(
            [(1, "c", "x", "U", 3), (1, "a", "x", "U", 1), (1, "b", "x", "U", 2)],
            [(1, "a", "x", 1, 2), (1, "b", "x", 2, 3), (1, "c", "x", 3, None)],
            id="out-of-order",
        ),
        pytest.param(
            [(1, "a", "x", "U", 1), (1, "a", "x", "U", 1), (1, "b", "x", "U", 2)],
            [(1, "a", "x", 1, 2), (1, "b", "x", 2, None)],
            id="exact-duplicate",
        ),
        pytest.param(
            [(1, "a", "x", "U", 1), (1, "a", "x", "U", 2), (1, "b", "x", "U", 3)],
            [(1, "a", "x", 1, 3), (1, "b", "x", 3, None)],
            id="same-values-later-no-new-version",
        ),
        pytest.param(
            [(1, "a", "x", "U", 1), (1, "b", "x", "U", 2), (1, "a", "x", "U", 3)],
            [(1, "a", "x", 1, 2), (1, "b", "x", 2, 3), (1, "a", "x", 3, None)],
            id="change-back-to-an-old-value",
        ),
        pytest.param(
            [(1, "a", "x", "U", 1), (1, None, None, "DELETE", 2), (1, "a", "x", "U", 3)],
            [(1, "a", "x", 1, 2), (1, "a", "x", 3, None)],
            id="delete-then-reinsert",
        ),
        pytest.param(
            [(1, None, None, "DELETE", 2), (1, "a", "x", "U", 1)],
            [(1, "a", "x", 1, 2)],
            id="late-insert-before-delete",
        ),
    ],
)
def test_scd2_cases(spark, rows, expected):
    assertDataFrameEqual(history(spark, rows), spark.createDataFrame(expected, SCD2_SCHEMA))


def test_untracked_only_change_updates_the_current_version(spark):
    rows = [
        (1, "a", "x", "U", 1),
        (1, "a", "y", "U", 2),
        (1, "b", "y", "U", 3),
        (1, "b", "z", "U", 4),
    ]
    expected = [(1, "a", "y", 1, 3), (1, "b", "z", 3, None)]
    actual = history(spark, rows, track_history=["name"])
    assertDataFrameEqual(actual, spark.createDataFrame(expected, SCD2_SCHEMA))


def test_tracked_columns_must_exist(spark):
    with pytest.raises(ValueError, match="not among the columns"):
        history(spark, DOCS_FEED, track_history=["nickname"])
