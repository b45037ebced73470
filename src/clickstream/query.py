"""Ad-hoc SQL over the local lakehouse, robust to whatever bronze holds."""

from __future__ import annotations

import logging
from typing import Any

from clickstream.engine import EngineError, first_line


def database_exists(spark: Any, database: str) -> bool:
    return database in {row[0] for row in spark.sql("SHOW DATABASES").collect()}


def use_database(spark: Any, database: str) -> None:
    if not database_exists(spark, database):
        raise EngineError(f"database {database!r} has no tables yet: run `clickstream run` first")
    spark.sql(f"USE `{database}`")


def run_query(spark: Any, sql: str, database: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` with ``database`` as the current one; return column names and rows.

    Top-level strings are fetched as bytes: bronze keeps lines that are not valid UTF-8, and
    decoding them on the client must not fail.
    """
    from pyspark.errors import AnalysisException, ParseException

    # pyspark logs every failed query as JSON on stderr; the CLI reports it in one line instead.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    # A query that names no table (SELECT 1) works before the first run, too.
    has_database = database_exists(spark, database)
    if has_database:
        spark.sql(f"USE `{database}`")
    try:
        frame = spark.sql(sql)
        columns = list(frame.columns)
        positional = frame.toDF(*[f"c{i}" for i in range(len(columns))])
        fields = positional.schema.fields
        fetched = positional.select(
            *[
                F.col(f.name).cast("binary") if isinstance(f.dataType, T.StringType) else f.name
                for f in fields
            ]
        )
        rows = [tuple(row) for row in fetched.collect()]
    except ParseException as exc:
        raise EngineError(f"SQL syntax error: {first_line(exc)}") from None
    except AnalysisException as exc:
        condition = exc.getCondition() if hasattr(exc, "getCondition") else exc.getErrorClass()
        if condition == "TABLE_OR_VIEW_NOT_FOUND" and not has_database:
            raise EngineError(
                f"database {database!r} has no tables yet: run `clickstream run` first"
            ) from None
        if condition == "TABLE_OR_VIEW_NOT_FOUND":
            name = (exc.getMessageParameters() or {}).get("relationName", "?")
            raise EngineError(f"unknown table {name} in database {database!r}") from None
        raise EngineError(first_line(exc)) from None
    return columns, rows


def stored_tables(spark: Any, database: str) -> list[str]:
    """The tables of ``database`` that store rows, in name order.

    Views (the event log's monitoring views) are queries, not tables with rows or a history.
    """
    return sorted(
        t.name
        for t in spark.catalog.listTables(database)
        if not t.isTemporary and t.tableType != "VIEW"
    )


def table_counts(spark: Any, database: str) -> list[tuple[str, int]]:
    """Rows per table of ``database``, in name order."""
    use_database(spark, database)
    return [(t, spark.table(f"`{database}`.`{t}`").count()) for t in stored_tables(spark, database)]
