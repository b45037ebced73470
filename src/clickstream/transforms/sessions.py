"""Sessionisation by inactivity gap: a visitor's events belong to one session until the visitor
is idle for longer than the gap.

A visitor is the cookie (``user.anonymous_id``): it is always set and survives logging in, so a
session that starts anonymously and ends with a purchase is one session.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from clickstream.transforms import dims


def sessionised(events: DataFrame, gap: str) -> DataFrame:
    """The events with ``visitor`` and ``session_start`` (the first event time of its session).

    ``gap`` is a Spark interval (``"30 minutes"``): an event more than ``gap`` after the
    visitor's previous event starts a new session.
    """
    columns = [
        F.col("user.anonymous_id").alias("visitor"),
        "event_id",
        "event_type",
        "event_ts",
        F.col("user.user_id").alias("user_key"),
        F.col("device.type").alias("device_type"),
        dims.device_key(F.col("device")).alias("device_key"),
        dims.geo_key(F.col("geo")).alias("geo_key"),
    ]
    names = [
        "visitor",
        "event_id",
        "event_type",
        "event_ts",
        "user_key",
        "device_type",
        "device_key",
        "geo_key",
    ]
    rows = events.select(*columns)
    # event_id breaks ties between events of the same instant, so the order is total.
    by_time = Window.partitionBy("visitor").orderBy("event_ts", "event_id")
    previous = F.lag("event_ts").over(by_time)
    opens = previous.isNull() | (F.col("event_ts") > previous + F.expr(f"INTERVAL {gap}"))
    flagged = rows.select(*names, opens.cast("int").alias("_opens"))
    running = by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    numbered = flagged.select(*names, F.sum("_opens").over(running).alias("_session_number"))
    start = F.min("event_ts").over(Window.partitionBy("visitor", "_session_number"))
    return numbered.select(*names, start.alias("session_start"))


def fact_sessions(events: DataFrame, gap: str) -> DataFrame:
    """One row per session: start, end, duration, events, page views, conversion, keys."""
    rows = sessionised(events, gap)
    at_start = F.col("event_ts")
    grouped = rows.groupBy("visitor", "session_start").agg(
        F.max("event_ts").alias("session_end"),
        F.count(F.lit(1)).alias("events"),
        F.count_if(F.col("event_type") == "page_view").alias("page_views"),
        F.max(F.col("event_type") == "purchase").alias("converted"),
        # The user the visit was (or became) logged in as; null for an anonymous visit.
        F.max("user_key").alias("user_key"),
        F.min_by("device_key", at_start).alias("device_key"),
        F.min_by("device_type", at_start).alias("device_type"),
        F.min_by("geo_key", at_start).alias("geo_key"),
    )
    duration = (F.unix_micros("session_end") - F.unix_micros("session_start")) / F.lit(1e6)
    return grouped.select(
        dims.hashed_key(F.col("visitor"), F.unix_micros("session_start")).alias("session_key"),
        F.col("visitor").alias("anonymous_id"),
        "user_key",
        "session_start",
        "session_end",
        dims.date_key(F.col("session_start")).alias("date_key"),
        duration.alias("duration_s"),
        "events",
        "page_views",
        "converted",
        "device_key",
        "device_type",
        "geo_key",
    )
