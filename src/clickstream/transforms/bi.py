"""Aggregates for BI materialized views."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def daily_active_users(events: DataFrame) -> DataFrame:
    """Per UTC day: distinct visitors (logged-in user, else anonymous id) and events."""
    visitor = F.coalesce(F.col("user.user_id"), F.col("user.anonymous_id"))
    return events.groupBy(F.to_date("event_ts").alias("event_date")).agg(
        F.count_distinct(visitor).alias("active_users"),
        F.count_distinct(F.col("user.user_id")).alias("logged_in_users"),
        F.count(F.lit(1)).alias("events"),
    )


# The funnel's stages in order (producer.funnel.FUNNEL_STAGES names the same four).
FUNNEL_STAGES: tuple[tuple[str, str], ...] = (
    ("page_view", "viewed"),
    ("add_to_cart", "added_to_cart"),
    ("checkout_start", "started_checkout"),
    ("purchase", "purchased"),
)


def funnel_daily(events: DataFrame) -> DataFrame:
    """Per UTC day and device type: sessions (``user.session_id``) that reached each stage."""
    session = F.col("user.session_id")
    rows = events.select(
        F.to_date("event_ts").alias("event_date"),
        F.coalesce(F.col("device.type"), F.lit("unknown")).alias("device_type"),
        session.alias("session_id"),
        "event_type",
    )
    return rows.groupBy("event_date", "device_type").agg(
        *[
            F.count_distinct(F.when(F.col("event_type") == stage, F.col("session_id"))).alias(name)
            for stage, name in FUNNEL_STAGES
        ]
    )


def revenue_daily(orders: DataFrame) -> DataFrame:
    """Per UTC day, country and currency (amounts are never summed across currencies)."""
    rows = orders.select(
        F.to_date("order_ts").alias("order_date"),
        F.coalesce(F.col("country"), F.lit("unknown")).alias("country"),
        F.coalesce(F.col("currency"), F.lit("unknown")).alias("currency"),
        "units",
        "revenue",
    )
    return rows.groupBy("order_date", "country", "currency").agg(
        F.count(F.lit(1)).alias("orders"),
        F.sum("units").cast("bigint").alias("units"),
        F.sum("revenue").alias("revenue"),
    )


def top_products(events: DataFrame) -> DataFrame:
    """Per product: views, add-to-carts and units added, ranked by views (then product id)."""
    rows = events.where(F.col("properties.product_id").isNotNull()).select(
        F.col("properties.product_id").alias("product_id"),
        F.col("properties.category").alias("category"),
        "event_type",
        F.col("properties.quantity").alias("quantity"),
    )
    counts = rows.groupBy("product_id").agg(
        F.max("category").alias("category"),
        F.count_if(F.col("event_type") == "page_view").alias("views"),
        F.count_if(F.col("event_type") == "add_to_cart").alias("add_to_carts"),
        F.coalesce(F.sum(F.when(F.col("event_type") == "add_to_cart", F.col("quantity"))), F.lit(0))
        .cast("bigint")
        .alias("units_added"),
    )
    # A global ranking on one partition: the frame has one row per product (a small catalog).
    rank = F.row_number().over(Window.orderBy(F.col("views").desc(), F.col("product_id")))
    return counts.select(
        rank.alias("rank"), "product_id", "category", "views", "add_to_carts", "units_added"
    )


def session_kpis(sessions: DataFrame) -> DataFrame:
    """Per UTC day of the session start: sessions, bounce rate (at most one page view),
    average duration in seconds and conversion rate."""
    rows = sessions.select(
        F.to_date("session_start").alias("session_date"), "page_views", "duration_s", "converted"
    )
    grouped = rows.groupBy("session_date").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.count_if(F.col("page_views") <= 1).alias("bounces"),
        F.avg("duration_s").alias("avg_duration_s"),
        F.count_if("converted").alias("converted_sessions"),
    )
    return grouped.select(
        "session_date",
        "sessions",
        "bounces",
        (F.col("bounces") / F.col("sessions")).alias("bounce_rate"),
        "avg_duration_s",
        "converted_sessions",
        (F.col("converted_sessions") / F.col("sessions")).alias("conversion_rate"),
    )
