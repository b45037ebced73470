"""Gold transforms on small hand-written events; every expected value is worked out by hand
(keys with hashlib, days with datetime), never by the code under test."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.testing import assertDataFrameEqual

from clickstream import contract
from clickstream.transforms import bi, dims, facts, scd, sessions

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DESKTOP = {"type": "desktop", "os": "macOS", "browser": "Safari"}
LEEDS = {"country": "GB", "region": "England", "city": "Leeds", "timezone": "Europe/London"}


def sha(*parts: str | None) -> str:
    return hashlib.sha256(
        "|".join("\u2205" if p is None else p for p in parts).encode()
    ).hexdigest()


def event(
    event_id: str,
    event_type: str,
    minutes: float,
    visitor: str = "a1",
    user: str | None = None,
    device: dict | None = DESKTOP,
    geo: dict | None = LEEDS,
    path: str = "/",
    title: str = "Home",
    **properties,
) -> dict:
    props = dict.fromkeys(
        ("product_id", "category", "price", "quantity", "order_id", "revenue", "currency"), None
    )
    props.update(properties)
    props["search_query"] = None
    return {
        "schema_version": 1,
        "event_id": event_id,
        "event_type": event_type,
        "event_ts": T0 + timedelta(minutes=minutes),
        "user": {
            "user_id": user,
            "anonymous_id": visitor,
            "email": None,
            "session_id": f"s-{visitor}",
            "is_logged_in": user is not None,
        },
        "device": None if device is None else {**device, "user_agent": None, "screen": None},
        "geo": None if geo is None else {"ip": None, **geo},
        "page": {"url": None, "path": path, "referrer": None, "title": title, "load_ms": 100},
        "properties": props,
        "profile": None,
    }


@pytest.fixture(scope="module")
def events(spark):
    rows = [
        event(
            "e1",
            "page_view",
            0,
            path="/p/p-1",
            title="Boots",
            product_id="p-1",
            category="shoes",
            price=20.0,
        ),
        event("e2", "add_to_cart", 5, product_id="p-1", category="shoes", price=20.0, quantity=2),
        event("e3", "checkout_start", 8, user="u1"),
        event(
            "e4", "purchase", 9, user="u1", order_id="o-1", revenue=40.0, quantity=2, currency="GBP"
        ),
        # 51 minutes after e4: more than the 30-minute gap, a new session of visitor a1.
        event(
            "e5",
            "page_view",
            60,
            user="u1",
            path="/p/p-2",
            title="Hat",
            product_id="p-2",
            category="hats",
        ),
        # Another visitor, without device or place, two days later.
        event(
            "e6",
            "page_view",
            2 * 24 * 60,
            visitor="b1",
            device=None,
            geo=None,
            path="/p/p-1",
            title="Boots v2",
            product_id="p-1",
            category="shoes",
        ),
    ]
    return spark.createDataFrame(rows, contract.spark_schema())


def test_dim_device_has_each_device_once_and_the_unknown_member(events, spark):
    expected = [
        (sha("desktop", "macOS", "Safari"), "desktop", "macOS", "Safari"),
        ("unknown", None, None, None),
    ]
    assertDataFrameEqual(
        dims.dim_device(events),
        spark.createDataFrame(
            expected, "device_key STRING, type STRING, os STRING, browser STRING"
        ),
    )


def test_dim_geo_has_each_place_once_and_the_unknown_member(events, spark):
    expected = [
        (sha("GB", "England", "Leeds", "Europe/London"), "GB", "England", "Leeds", "Europe/London"),
        ("unknown", None, None, None, None),
    ]
    schema = "geo_key STRING, country STRING, region STRING, city STRING, timezone STRING"
    assertDataFrameEqual(dims.dim_geo(events), spark.createDataFrame(expected, schema))


def test_dim_date_spans_the_data_day_by_day(events, spark):
    days = [date(2026, 11, 2) + timedelta(days=i) for i in range(3)]
    expected = [
        (
            int(d.strftime("%Y%m%d")),
            d,
            d.year,
            (d.month - 1) // 3 + 1,
            d.month,
            d.day,
            d.isoweekday(),
            d.strftime("%A"),
            d.isoweekday() >= 6,
        )
        for d in days
    ] + [(-1, None, None, None, None, None, None, "unknown", None)]
    schema = (
        "date_key INT, date DATE, year INT, quarter INT, month INT, day INT, iso_weekday INT, "
        "weekday_name STRING, is_weekend BOOLEAN"
    )
    assertDataFrameEqual(dims.dim_date(events), spark.createDataFrame(expected, schema))


def test_scd1_dimensions_keep_the_latest_attributes(events, spark):
    products = dims.product_spec("dim_product", "feed").compute(dims.product_changes(events))
    assertDataFrameEqual(
        products,
        spark.createDataFrame(
            [("p-1", "shoes"), ("p-2", "hats")], "product_id STRING, category STRING"
        ),
    )
    pages = dims.page_spec("dim_page", "feed").compute(dims.page_changes(events))
    assertDataFrameEqual(
        pages,
        spark.createDataFrame(
            [("/p/p-1", "Boots v2"), ("/", "Home"), ("/p/p-2", "Hat")],
            "page_path STRING, title STRING",
        ),
    )


def test_fact_events_keys_each_event_to_the_user_version_valid_at_its_time(events, spark):
    at = lambda minutes: T0 + timedelta(minutes=minutes)  # noqa: E731
    versions = spark.createDataFrame(
        [("u1", "bronze", at(8.5), at(9)), ("u1", "silver", at(9), None)],
        f"user_key STRING, tier STRING, {scd.START_AT} TIMESTAMP, {scd.END_AT} TIMESTAMP",
    )
    fact = facts.fact_events(events, versions)
    # e3 (8 min) precedes u1's first version; e4 starts exactly at the second (start inclusive).
    expected = [
        ("e1", None, "unknown", None),
        ("e2", None, "unknown", None),
        ("e3", "u1", "unknown", None),
        ("e4", "u1", sha("u1", str(int(at(9).timestamp() * 1e6))), at(9)),
        ("e5", "u1", sha("u1", str(int(at(9).timestamp() * 1e6))), at(9)),
        ("e6", None, "unknown", None),
    ]
    assertDataFrameEqual(
        fact.select("event_id", "user_key", "user_version_key", "user_valid_from"),
        spark.createDataFrame(
            expected,
            "event_id STRING, user_key STRING, user_version_key STRING, user_valid_from TIMESTAMP",
        ),
    )
    keys = {r["event_id"]: r for r in fact.collect()}
    assert keys["e6"]["device_key"] == keys["e6"]["geo_key"] == "unknown"
    assert keys["e1"]["device_key"] == sha("desktop", "macOS", "Safari")
    assert keys["e1"]["date_key"] == 20261102 and keys["e6"]["date_key"] == 20261104
    assert keys["e4"]["revenue"] == Decimal("40.00")


def test_fact_orders_one_row_per_order(events, spark):
    orders = facts.fact_orders(events).select("order_id", "order_ts", "user_key", "revenue")
    expected = [("o-1", T0 + timedelta(minutes=9), "u1", Decimal("40.00"))]
    assertDataFrameEqual(
        orders,
        spark.createDataFrame(
            expected, "order_id STRING, order_ts TIMESTAMP, user_key STRING, revenue DECIMAL(18,2)"
        ),
    )
    revenue = bi.revenue_daily(facts.fact_orders(events))
    assertDataFrameEqual(
        revenue,
        spark.createDataFrame(
            [(date(2026, 11, 2), "GB", "GBP", 1, 2, Decimal("40.00"))],
            "order_date DATE, country STRING, currency STRING, orders BIGINT, units BIGINT, "
            "revenue DECIMAL(28,2)",
        ),
    )


def test_sessions_split_at_the_inactivity_gap(events, spark):
    fact = sessions.fact_sessions(events, "30 minutes").select(
        "anonymous_id",
        "user_key",
        "session_start",
        "duration_s",
        "events",
        "page_views",
        "converted",
        "device_key",
    )
    expected = [
        ("a1", "u1", T0, 9 * 60.0, 4, 1, True, sha("desktop", "macOS", "Safari")),
        (
            "a1",
            "u1",
            T0 + timedelta(minutes=60),
            0.0,
            1,
            1,
            False,
            sha("desktop", "macOS", "Safari"),
        ),
        ("b1", None, T0 + timedelta(days=2), 0.0, 1, 1, False, "unknown"),
    ]
    schema = (
        "anonymous_id STRING, user_key STRING, session_start TIMESTAMP, duration_s DOUBLE, "
        "events BIGINT, page_views BIGINT, converted BOOLEAN, device_key STRING"
    )
    assertDataFrameEqual(fact, spark.createDataFrame(expected, schema))
    # With a gap of an hour, e5 (51 minutes after e4) stays in the first session.
    longer = sessions.fact_sessions(events, "1 hour")
    assert sorted(r["events"] for r in longer.collect()) == [1, 5]


def test_session_kpis(events, spark):
    kpis = bi.session_kpis(sessions.fact_sessions(events, "30 minutes"))
    expected = [
        (date(2026, 11, 2), 2, 2, 1.0, 270.0, 1, 0.5),
        (date(2026, 11, 4), 1, 1, 1.0, 0.0, 0, 0.0),
    ]
    schema = (
        "session_date DATE, sessions BIGINT, bounces BIGINT, bounce_rate DOUBLE, "
        "avg_duration_s DOUBLE, converted_sessions BIGINT, conversion_rate DOUBLE"
    )
    assertDataFrameEqual(kpis, spark.createDataFrame(expected, schema))


def test_funnel_daily_counts_sessions_per_stage(events, spark):
    expected = [
        (date(2026, 11, 2), "desktop", 1, 1, 1, 1),
        (date(2026, 11, 4), "unknown", 1, 0, 0, 0),
    ]
    schema = (
        "event_date DATE, device_type STRING, viewed BIGINT, added_to_cart BIGINT, "
        "started_checkout BIGINT, purchased BIGINT"
    )
    assertDataFrameEqual(bi.funnel_daily(events), spark.createDataFrame(expected, schema))


def test_top_products_ranked_by_views(events, spark):
    expected = [(1, "p-1", "shoes", 2, 1, 2), (2, "p-2", "hats", 1, 0, 0)]
    schema = (
        "rank INT, product_id STRING, category STRING, views BIGINT, add_to_carts BIGINT, "
        "units_added BIGINT"
    )
    assertDataFrameEqual(bi.top_products(events), spark.createDataFrame(expected, schema))
