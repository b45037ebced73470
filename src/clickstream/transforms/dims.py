"""Dimensions of the gold star schema, and the keys facts use to reach them.

Facts compute their dimension keys from the event itself with the functions below (the same
expression that builds the dimension row), so a fact never needs to join a dimension to find a
key and no fact row is lost for a missing dimension: an event without a device, a place or a
time points at the dimension's ``unknown`` member.

Only ``select``/``where``/``groupBy``/positional ``union``: Spark Connect analyses
``withColumn``, ``drop``, ``distinct`` and ``unionByName`` eagerly, which fails inside a pipeline
flow whose input is another pipeline dataset.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clickstream import contract
from clickstream.platform import AutoCdcSpec

UNKNOWN = "unknown"
UNKNOWN_DATE_KEY = -1
# Stands for a null attribute inside a hashed key, so (null, "x") and ("x", null) differ.
_NULL_MARK = "\u2205"

DEVICE_ATTRIBUTES: tuple[str, ...] = ("type", "os", "browser")
GEO_ATTRIBUTES: tuple[str, ...] = ("country", "region", "city", "timezone")


def hashed_key(*parts: Column) -> Column:
    """A stable surrogate key: SHA-256 hex of the parts (nulls marked, ``|``-separated)."""
    marked = [F.coalesce(p.cast("string"), F.lit(_NULL_MARK)) for p in parts]
    return F.sha2(F.concat_ws("|", *marked), 256)


def device_key(device: Column) -> Column:
    """dim_device key of an event's ``device`` struct; ``unknown`` when it has none."""
    key = hashed_key(*[device.getField(a) for a in DEVICE_ATTRIBUTES])
    return F.when(device.isNull(), F.lit(UNKNOWN)).otherwise(key)


def geo_key(geo: Column) -> Column:
    """dim_geo key of an event's ``geo`` struct (coarse place only, never the IP)."""
    key = hashed_key(*[geo.getField(a) for a in GEO_ATTRIBUTES])
    return F.when(geo.isNull(), F.lit(UNKNOWN)).otherwise(key)


def date_key(ts: Column) -> Column:
    """dim_date key: the UTC day as the integer yyyymmdd; ``UNKNOWN_DATE_KEY`` without a time."""
    day = F.date_format(ts, "yyyyMMdd").cast("int")
    return F.coalesce(day, F.lit(UNKNOWN_DATE_KEY))


def user_version_key(user_key: Column, start_at: Column) -> Column:
    """Surrogate key of one dim_user version: derived, never stored in the AUTO CDC target,
    where in-place updates of the open version would make a stored key unstable."""
    return hashed_key(user_key, F.unix_micros(start_at))


def dim_device(events: DataFrame) -> DataFrame:
    """One row per (type, os, browser) seen, plus the ``unknown`` member."""
    attrs = [F.col(f"device.{a}").alias(a) for a in DEVICE_ATTRIBUTES]
    seen = (
        events.where(F.col("device").isNotNull())
        .groupBy(*attrs)
        .agg(F.count(F.lit(1)).alias("_n"))
        .select(
            hashed_key(*[F.col(a) for a in DEVICE_ATTRIBUTES]).alias("device_key"),
            *DEVICE_ATTRIBUTES,
        )
    )
    unknown = _unknown_member(events, "device_key", DEVICE_ATTRIBUTES)
    return seen.union(unknown)


def dim_geo(events: DataFrame) -> DataFrame:
    """One row per (country, region, city, timezone) seen, plus the ``unknown`` member."""
    attrs = [F.col(f"geo.{a}").alias(a) for a in GEO_ATTRIBUTES]
    seen = (
        events.where(F.col("geo").isNotNull())
        .groupBy(*attrs)
        .agg(F.count(F.lit(1)).alias("_n"))
        .select(hashed_key(*[F.col(a) for a in GEO_ATTRIBUTES]).alias("geo_key"), *GEO_ATTRIBUTES)
    )
    return seen.union(_unknown_member(events, "geo_key", GEO_ATTRIBUTES))


def _unknown_member(events: DataFrame, key: str, attributes: tuple[str, ...]) -> DataFrame:
    """The ``unknown`` member: the key ``unknown`` and null attributes.

    Built from a global aggregate of the input (always exactly one row), because a pipeline
    query function cannot create a DataFrame from local data.
    """
    return (
        events.groupBy()
        .agg(F.count(F.lit(1)).alias("_n"))
        .select(
            F.lit(UNKNOWN).alias(key), *[F.lit(None).cast("string").alias(a) for a in attributes]
        )
    )


def dim_date(events: DataFrame) -> DataFrame:
    """A calendar over every UTC day from the first to the last event, plus the unknown day."""
    bounds = events.groupBy().agg(
        F.min(F.to_date("event_ts")).alias("first_day"),
        F.max(F.to_date("event_ts")).alias("last_day"),
    )
    days = bounds.where(F.col("first_day").isNotNull()).select(
        F.explode(F.sequence("first_day", "last_day")).alias("date")
    )
    calendar = days.select(
        date_key(F.col("date").cast("timestamp")).alias("date_key"),
        F.col("date"),
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.dayofmonth("date").alias("day"),
        # ISO weekday: Monday = 1 ... Sunday = 7.
        ((F.dayofweek("date") + 5) % 7 + 1).alias("iso_weekday"),
        F.date_format("date", "EEEE").alias("weekday_name"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
    )
    unknown = bounds.select(
        F.lit(UNKNOWN_DATE_KEY).alias("date_key"),
        F.lit(None).cast("date").alias("date"),
        *[F.lit(None).cast("int").alias(c) for c in ("year", "quarter", "month", "day")],
        F.lit(None).cast("int").alias("iso_weekday"),
        F.lit(UNKNOWN).alias("weekday_name"),
        F.lit(None).cast("boolean").alias("is_weekend"),
    )
    return calendar.union(unknown)


# --- AUTO CDC dimensions --------------------------------------------------------------------


def user_spec(target: str, source: str) -> AutoCdcSpec:
    """dim_user: SCD Type 2 over the profile change feed (silver_user_changes).

    Keyed by the pseudonymised user id, sequenced by event time; the tracked attributes keep
    their contract names and are listed explicitly. The producer emits no deletes, so there is
    no ``apply_as_deletes``.
    """
    return AutoCdcSpec(
        target=target,
        source=source,
        keys=("user_key",),
        sequence_by="sequence_ts",
        column_list=contract.PROFILE_ATTRIBUTES,
        stored_as_scd_type=2,
        track_history_column_list=contract.PROFILE_ATTRIBUTES,
    )


def product_spec(target: str, source: str) -> AutoCdcSpec:
    """dim_product: SCD Type 1 (latest category) over the product change feed."""
    return AutoCdcSpec(target, source, ("product_id",), "sequence_ts", ("category",))


def page_spec(target: str, source: str) -> AutoCdcSpec:
    """dim_page: SCD Type 1 (latest title) over the page change feed."""
    return AutoCdcSpec(target, source, ("page_path",), "sequence_ts", ("title",))


def product_changes(events: DataFrame) -> DataFrame:
    """The product attributes each event carries, as an AUTO CDC change feed."""
    return events.where(F.col("properties.product_id").isNotNull()).select(
        F.col("properties.product_id").alias("product_id"),
        F.col("event_ts").alias("sequence_ts"),
        F.col("properties.category").alias("category"),
    )


def page_changes(events: DataFrame) -> DataFrame:
    """The page attributes each event carries, as an AUTO CDC change feed."""
    return events.where(F.col("page.path").isNotNull()).select(
        F.col("page.path").alias("page_path"),
        F.col("event_ts").alias("sequence_ts"),
        F.col("page.title").alias("title"),
    )
