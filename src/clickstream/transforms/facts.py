"""Facts of the gold star schema: events at event grain and orders, keyed to every dimension.

Facts are materialized views, recomputed on each update, so a late profile change re-keys the
events it affects. Keys come from ``clickstream.transforms.dims`` (computed from the event
itself), except the user version, which a point-in-time join finds in the dim_user history.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clickstream.transforms import dims
from clickstream.transforms.scd import END_AT, START_AT

# Money is exact in gold: the producer's revenue is price x quantity in whole cents.
MONEY = "decimal(18,2)"


def fact_events(events: DataFrame, user_versions: DataFrame) -> DataFrame:
    """One row per silver event with keys to every dimension.

    ``user_version_key`` / ``user_valid_from`` name the dim_user version valid at the event
    time (``__START_AT <= event_ts < __END_AT``, an open end meaning "until now"); events of
    anonymous visitors, or of a user before their first known profile, get ``unknown``.
    """
    versions = user_versions.select(
        F.col("user_key").alias("_v_user_key"),
        F.col(START_AT).alias("_v_start"),
        F.col(END_AT).alias("_v_end"),
    )
    valid_at_event = (
        (F.col("user.user_id") == F.col("_v_user_key"))
        & (F.col("event_ts") >= F.col("_v_start"))
        & (F.col("_v_end").isNull() | (F.col("event_ts") < F.col("_v_end")))
    )
    # Versions of one key never overlap, so the left join keeps exactly one row per event.
    joined = events.join(versions, valid_at_event, "left")
    matched = F.col("_v_user_key").isNotNull()
    return joined.select(
        "event_id",
        "event_type",
        "event_ts",
        dims.date_key(F.col("event_ts")).alias("date_key"),
        F.col("user.user_id").alias("user_key"),
        F.when(matched, dims.user_version_key(F.col("_v_user_key"), F.col("_v_start")))
        .otherwise(F.lit(dims.UNKNOWN))
        .alias("user_version_key"),
        F.col("_v_start").alias("user_valid_from"),
        F.col("user.anonymous_id").alias("anonymous_id"),
        F.col("user.session_id").alias("session_id"),
        F.col("user.is_logged_in").alias("is_logged_in"),
        dims.device_key(F.col("device")).alias("device_key"),
        dims.geo_key(F.col("geo")).alias("geo_key"),
        F.col("page.path").alias("page_path"),
        F.col("properties.product_id").alias("product_id"),
        F.col("properties.order_id").alias("order_id"),
        F.col("properties.price").cast(MONEY).alias("price"),
        F.col("properties.quantity").alias("quantity"),
        F.col("properties.revenue").cast(MONEY).alias("revenue"),
        F.col("properties.currency").alias("currency"),
        F.col("properties.search_query").alias("search_query"),
        F.col("page.load_ms").alias("page_load_ms"),
    )


def fact_orders(events: DataFrame) -> DataFrame:
    """One row per order (purchase events), with its revenue and keys."""
    purchases = events.where(
        (F.col("event_type") == "purchase") & F.col("properties.order_id").isNotNull()
    )
    # groupBy guarantees the grain even if an order were ever sent under two event ids;
    # min_by keeps every attribute from the same (first) purchase event.
    first = {
        "event_id": F.col("event_id"),
        "user_key": F.col("user.user_id"),
        "anonymous_id": F.col("user.anonymous_id"),
        "session_id": F.col("user.session_id"),
        "device_key": dims.device_key(F.col("device")),
        "geo_key": dims.geo_key(F.col("geo")),
        "country": F.col("geo.country"),
        "currency": F.col("properties.currency"),
        "units": F.col("properties.quantity"),
        "revenue": F.col("properties.revenue").cast(MONEY),
    }
    grouped = purchases.groupBy(F.col("properties.order_id").alias("order_id")).agg(
        F.min("event_ts").alias("order_ts"),
        *[F.min_by(column, F.col("event_ts")).alias(name) for name, column in first.items()],
    )
    return grouped.select(
        "order_id",
        "order_ts",
        dims.date_key(F.col("order_ts")).alias("date_key"),
        *first,
    )
