"""Aggregates for BI materialized views."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def daily_active_users(events: DataFrame) -> DataFrame:
    """Per UTC day: distinct visitors (logged-in user, else anonymous id) and events."""
    visitor = F.coalesce(F.col("user.user_id"), F.col("user.anonymous_id"))
    return events.groupBy(F.to_date("event_ts").alias("event_date")).agg(
        F.count_distinct(visitor).alias("active_users"),
        F.count_distinct(F.col("user.user_id")).alias("logged_in_users"),
        F.count(F.lit(1)).alias("events"),
    )
