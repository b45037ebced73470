"""Gold end to end on fixed-seed, defect-rich producer data, two batches, one update after each.

Every expectation is derived in plain Python from the landed files and the producer's manifest
(which lines are valid, on time and first of their event id), never from the project's transforms.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from clickstream import config
from clickstream.config import PipelineSettings
from producer import produce
from producer.manifest import read_manifest

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# Kinds of landed lines that end in silver_events (see tests/engine/test_silver_accounting.py).
SILVER_KINDS = {
    None,
    "out_of_order",
    "drift_unknown_field",
    "drift_case_mismatch",
    "drift_type_mismatch_top",
    "drift_type_mismatch_nested",
}
TRACKED = ("tier", "country", "marketing_opt_in")
GOLD_TABLES = config.LAYER_TABLES["gold"] + config.LAYER_TABLES["bi"]
CLUSTERED = {
    config.BRONZE_EVENTS: ["event_type", "event_ts"],
    config.SILVER_EVENTS: ["event_type", "event_ts"],
    config.FACT_EVENTS: ["date_key", "event_type"],
    config.MV_DAILY_ACTIVE_USERS: ["event_date"],
    config.MV_FUNNEL_DAILY: ["event_date", "device_type"],
    config.MV_REVENUE_DAILY: ["order_date", "country"],
    config.MV_TOP_PRODUCTS: ["category"],
    config.MV_SESSION_KPIS: ["session_date"],
}


def token(value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(config.DEMO_PII_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def utc(value: datetime | None) -> datetime | None:
    """Spark returns naive UTC timestamps (the session time zone is UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def field(event: dict, path: str, kind: type) -> object:
    """The value at ``path`` if every step is an object and the leaf has the contract's type
    (the pipeline keeps case-mismatched keys and wrong types out of the typed columns)."""
    value: object = event
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        return None
    return value if isinstance(value, kind) else None


def ts(event: dict) -> datetime:
    return datetime.fromisoformat(event["event_ts"].replace("Z", "+00:00"))


def landed(landing: Path, files: tuple[str, ...] | None = None) -> list[tuple[str, dict]]:
    """(manifest kind, parsed event) for every landed line of ``files`` (default: all)."""
    kinds: dict[tuple[str, int], str | None] = {}
    for manifest in sorted((landing / "_manifests").glob("*.manifest.jsonl")):
        for record in read_manifest(manifest.read_bytes()):
            if record["record"] == "file":
                for number, kind in enumerate(record["kinds"], start=1):
                    kinds[(record["file"], number)] = kind
    out = []
    contents: dict[str, list[bytes]] = {}
    for (name, number), kind in kinds.items():
        if files is not None and name not in files:
            continue
        if name not in contents:
            contents[name] = (landing / name).read_bytes().split(b"\n")
        line = contents[name][number - 1]
        try:
            event = json.loads(line.decode("utf-8"))
        except ValueError:
            event = None
        out.append((kind, event))
    return out


def silver_truth(lines: list[tuple[str, dict]]) -> list[dict]:
    return [event for kind, event in lines if kind in SILVER_KINDS]


def scd2_truth(lines: list[tuple[str, dict]]) -> set[tuple]:
    """dim_user rows derived by hand: per user, changes by time, a version per tracked change."""
    changes: dict[str, list[tuple[datetime, tuple]]] = defaultdict(list)
    for kind, event in lines:
        # Late lines are page views; profile updates count whatever their arrival time.
        if kind not in SILVER_KINDS | {"late"} or event.get("event_type") != "profile_update":
            continue
        user = field(event, "user.user_id", str)
        if user is None:
            continue
        values = (
            field(event, "profile.tier", str),
            field(event, "profile.country", str),
            field(event, "profile.marketing_opt_in", bool),
        )
        changes[token(user)].append((ts(event), values))
    rows = set()
    for user, seq in changes.items():
        versions: list[list] = []
        for at, values in sorted(set(seq), key=lambda c: c[0]):
            if versions and versions[-1][1] == values:
                continue  # same tracked values: no new version
            versions.append([at, values])
        for i, (at, values) in enumerate(versions):
            end = versions[i + 1][0] if i + 1 < len(versions) else None
            rows.add((user, *values, at, end))
    return rows


@pytest.fixture(scope="module")
def gold(shared_settings, lakehouse):
    """Two batches of defect-rich events, an update after each; the tables read after both."""
    from lakehouse_testing import Sandbox

    database = "t_gold_pipeline"
    landing = shared_settings.home / "landings" / database
    landing.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(shared_settings, database, landing)
    kw = {"defect_rates": {"all": 0.012}, "max_events_per_file": 250}
    first = produce(events=1200, seed=31, sink=landing, start=START, **kw)
    runner = sandbox.runner(lakehouse, liquid_clustering="true")
    run1 = runner.run()
    assert run1.ok, run1.error
    spark = lakehouse.spark
    dim_user_after_first = spark.table(f"`{database}`.`{config.DIM_USER}`").collect()
    second = produce(events=600, seed=32, sink=landing, start=START + timedelta(hours=6), **kw)
    run2 = runner.run()
    assert run2.ok, run2.error
    lines = landed(landing)
    return {
        "db": database,
        "run1": run1,
        "run2": run2,
        "lines": lines,
        "first_lines": landed(landing, first.files),
        "events": silver_truth(lines),
        "dim_user_after_first": dim_user_after_first,
        "second": second,
    }


def table(spark, gold, name):
    return spark.table(f"`{gold['db']}`.`{name}`")


def rows_of(spark, gold, name):
    return table(spark, gold, name).collect()


def dim_user_rows(rows) -> set[tuple]:
    return {
        (r["user_key"], *[r[c] for c in TRACKED], utc(r["__START_AT"]), utc(r["__END_AT"]))
        for r in rows
    }


def test_dim_user_history_equals_the_landed_profile_updates(gold, spark):
    truth = scd2_truth(gold["lines"])
    assert len(truth) > 20 and len({r[0] for r in truth}) < len(truth), "users change profiles"
    rows = rows_of(spark, gold, config.DIM_USER)
    assert dim_user_rows(rows) == truth
    # No duplicate versions; exactly one open version per user.
    assert len(rows) == len({(r["user_key"], r["__START_AT"]) for r in rows})
    open_versions = Counter(r["user_key"] for r in rows if r["__END_AT"] is None)
    assert set(open_versions.values()) == {1}
    assert len(open_versions) == len({r[0] for r in truth})


def test_dim_user_after_the_first_update_and_no_history_lost_after_the_second(gold, spark):
    first = dim_user_rows(gold["dim_user_after_first"])
    assert first == scd2_truth(gold["first_lines"])
    now = dim_user_rows(rows_of(spark, gold, config.DIM_USER))
    # A closed version stays as it was; an open one may only have been closed by a later change.
    for user, *values, start, end in first:
        matches = [r for r in now if r[0] == user and r[4] == start]
        assert len(matches) == 1 and tuple(matches[0][1:4]) == tuple(values)
        assert end is None or matches[0][5] == end


def test_fact_events_has_every_silver_event_once(gold, spark):
    fact_ids = [
        r["event_id"] for r in table(spark, gold, config.FACT_EVENTS).select("event_id").collect()
    ]
    silver_count = table(spark, gold, config.SILVER_EVENTS).count()
    assert len(fact_ids) == silver_count == len(set(fact_ids))
    assert set(fact_ids) == {e["event_id"] for e in gold["events"]}


def test_fact_events_user_version_is_the_one_valid_at_event_time(gold, spark):
    versions = defaultdict(list)
    for user, *_, start, end in scd2_truth(gold["lines"]):
        versions[user].append((start, end))
    expected = {}
    for event in gold["events"]:
        user = token(field(event, "user.user_id", str))
        at = ts(event)
        valid = [s for s, e in versions.get(user, []) if s <= at and (e is None or at < e)]
        assert len(valid) <= 1
        expected[event["event_id"]] = (user, valid[0] if valid else None)
    rows = (
        table(spark, gold, config.FACT_EVENTS)
        .select("event_id", "event_ts", "user_key", "user_valid_from", "user_version_key")
        .collect()
    )
    got = {r["event_id"]: (r["user_key"], utc(r["user_valid_from"])) for r in rows}
    assert got == expected
    matched = [r for r in rows if r["user_valid_from"] is not None]
    assert 0 < len(matched) < len(rows)
    assert all((r["user_version_key"] == "unknown") == (r["user_valid_from"] is None) for r in rows)
    # And through the table itself: each matched event lies in [__START_AT, __END_AT).
    outside = spark.sql(
        f"SELECT count(*) AS n FROM `{gold['db']}`.{config.FACT_EVENTS} f "
        f"LEFT JOIN `{gold['db']}`.{config.DIM_USER} d "
        f"ON f.user_key = d.user_key AND f.user_valid_from = d.__START_AT "
        f"WHERE f.user_valid_from IS NOT NULL AND (d.user_key IS NULL "
        f"OR f.event_ts < d.__START_AT OR f.event_ts >= coalesce(d.__END_AT, f.event_ts + "
        f"INTERVAL 1 DAY))"
    ).collect()[0]["n"]
    assert outside == 0


@pytest.mark.parametrize(
    "fact,column,dim,dim_column",
    [
        (config.FACT_EVENTS, "date_key", config.DIM_DATE, "date_key"),
        (config.FACT_EVENTS, "device_key", config.DIM_DEVICE, "device_key"),
        (config.FACT_EVENTS, "geo_key", config.DIM_GEO, "geo_key"),
        (config.FACT_EVENTS, "product_id", config.DIM_PRODUCT, "product_id"),
        (config.FACT_EVENTS, "page_path", config.DIM_PAGE, "page_path"),
        (config.FACT_SESSIONS, "date_key", config.DIM_DATE, "date_key"),
        (config.FACT_SESSIONS, "device_key", config.DIM_DEVICE, "device_key"),
        (config.FACT_SESSIONS, "geo_key", config.DIM_GEO, "geo_key"),
        (config.FACT_ORDERS, "date_key", config.DIM_DATE, "date_key"),
        (config.FACT_ORDERS, "geo_key", config.DIM_GEO, "geo_key"),
    ],
)
def test_every_fact_key_matches_a_dimension_row(gold, spark, fact, column, dim, dim_column):
    db = gold["db"]
    orphans = spark.sql(
        f"SELECT count(*) AS n FROM `{db}`.{fact} f LEFT ANTI JOIN `{db}`.{dim} d "
        f"ON f.{column} = d.{dim_column} WHERE f.{column} IS NOT NULL"
    ).collect()[0]["n"]
    assert orphans == 0
    keys = [r[0] for r in spark.sql(f"SELECT {dim_column} FROM `{db}`.{dim}").collect()]
    assert len(keys) == len(set(keys)), f"{dim} key is unique"


def test_unknown_members_catch_events_without_device_or_place(gold, spark):
    no_device = sum(1 for e in gold["events"] if not isinstance(e.get("device"), dict))
    assert no_device > 0, "the defects send some devices as strings"
    fact = table(spark, gold, config.FACT_EVENTS)
    assert fact.where("device_key = 'unknown'").count() == no_device
    for dim, key in ((config.DIM_DEVICE, "device_key"), (config.DIM_GEO, "geo_key")):
        assert table(spark, gold, dim).where(f"{key} = 'unknown'").count() == 1
    assert table(spark, gold, config.DIM_DATE).where("date_key = -1").count() == 1


def test_dim_date_spans_the_data(gold, spark):
    days = {ts(e).date() for e in gold["events"]}
    first, last = min(days), max(days)
    expected = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    got = {r["date"] for r in rows_of(spark, gold, config.DIM_DATE) if r["date_key"] != -1}
    assert got == expected


def test_orders_revenue_equals_the_landed_purchases(gold, spark):
    purchases = [e for e in gold["events"] if e["event_type"] == "purchase"]
    assert len(purchases) > 5
    orders = {r["order_id"]: r["revenue"] for r in rows_of(spark, gold, config.FACT_ORDERS)}
    expected = {
        e["properties"]["order_id"]: Decimal(str(e["properties"]["revenue"])) for e in purchases
    }
    assert orders == expected
    silver_sum = spark.sql(
        f"SELECT sum(CAST(properties.revenue AS DECIMAL(18,2))) AS s FROM "
        f"`{gold['db']}`.{config.SILVER_EVENTS} WHERE event_type = 'purchase'"
    ).collect()[0]["s"]
    assert sum(orders.values()) == silver_sum


def test_revenue_daily_equals_independent_recomputation(gold, spark):
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for e in gold["events"]:
        if e["event_type"] != "purchase":
            continue
        key = (
            ts(e).date(),
            field(e, "geo.country", str) or "unknown",
            field(e, "properties.currency", str) or "unknown",
        )
        expected[key][0] += 1
        expected[key][1] += field(e, "properties.quantity", int) or 0
        expected[key][2] += Decimal(str(e["properties"]["revenue"]))
    got = {
        (r["order_date"], r["country"], r["currency"]): [r["orders"], r["units"], r["revenue"]]
        for r in rows_of(spark, gold, config.MV_REVENUE_DAILY)
    }
    assert got == dict(expected)


def test_funnel_daily_equals_independent_recomputation(gold, spark):
    stages = {"page_view": 0, "add_to_cart": 1, "checkout_start": 2, "purchase": 3}
    sets: dict[tuple, list[set]] = defaultdict(lambda: [set(), set(), set(), set()])
    for e in gold["events"]:
        if e["event_type"] in stages:
            key = (ts(e).date(), field(e, "device.type", str) or "unknown")
            sets[key][stages[e["event_type"]]].add(e["user"]["session_id"])
    for e in gold["events"]:  # every (day, device) with an event has a row, even with no stage
        sets[(ts(e).date(), field(e, "device.type", str) or "unknown")]
    expected = {k: tuple(len(s) for s in v) for k, v in sets.items()}
    got = {
        (r["event_date"], r["device_type"]): (
            r["viewed"],
            r["added_to_cart"],
            r["started_checkout"],
            r["purchased"],
        )
        for r in rows_of(spark, gold, config.MV_FUNNEL_DAILY)
    }
    assert got == expected
    assert sum(v[3] for v in got.values()) > 0


def test_top_products_equals_independent_recomputation(gold, spark):
    counts: dict[str, list] = defaultdict(lambda: [None, 0, 0, 0])
    for e in gold["events"]:
        product = field(e, "properties.product_id", str)
        if product is None:
            continue
        c = counts[product]
        category = field(e, "properties.category", str)
        c[0] = max(filter(None, (c[0], category)), default=None)
        if e["event_type"] == "page_view":
            c[1] += 1
        if e["event_type"] == "add_to_cart":
            c[2] += 1
            c[3] += field(e, "properties.quantity", int) or 0
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][1], kv[0]))
    expected = [(i, p, *c) for i, (p, c) in enumerate(ranked, start=1)]
    got = sorted(
        (r["rank"], r["product_id"], r["category"], r["views"], r["add_to_carts"], r["units_added"])
        for r in rows_of(spark, gold, config.MV_TOP_PRODUCTS)
    )
    assert got == expected


def python_sessions(events: list[dict], gap: timedelta) -> list[dict]:
    by_visitor = defaultdict(list)
    for e in events:
        by_visitor[e["user"]["anonymous_id"]].append(e)
    out = []
    for visitor_events in by_visitor.values():
        visitor_events.sort(key=lambda e: (ts(e), e["event_id"]))
        current: list[dict] = []
        for e in visitor_events:
            if current and ts(e) - ts(current[-1]) > gap:
                out.append(current)
                current = []
            current.append(e)
        out.append(current)
    return [
        {
            "start": ts(s[0]),
            "duration": (ts(s[-1]) - ts(s[0])).total_seconds(),
            "page_views": sum(e["event_type"] == "page_view" for e in s),
            "converted": any(e["event_type"] == "purchase" for e in s),
            "events": len(s),
        }
        for s in out
    ]


def test_sessions_and_kpis_equal_independent_sessionisation(gold, spark):
    number, unit = PipelineSettings(landing_path="x").session_gap.split()
    assert unit == "minutes"
    truth = python_sessions(gold["events"], timedelta(minutes=int(number)))
    facts = rows_of(spark, gold, config.FACT_SESSIONS)
    assert sorted(
        (utc(r["session_start"]), r["events"], r["page_views"], r["converted"]) for r in facts
    ) == sorted((s["start"], s["events"], s["page_views"], s["converted"]) for s in truth)
    assert sum(r["events"] for r in facts) == len(gold["events"])
    per_day: dict[date, list] = defaultdict(list)
    for s in truth:
        per_day[s["start"].date()].append(s)
    kpis = {r["session_date"]: r for r in rows_of(spark, gold, config.MV_SESSION_KPIS)}
    assert set(kpis) == set(per_day)
    for day, sessions in per_day.items():
        row = kpis[day]
        bounces = sum(s["page_views"] <= 1 for s in sessions)
        assert row["sessions"] == len(sessions) and row["bounces"] == bounces
        assert row["bounce_rate"] == pytest.approx(bounces / len(sessions))
        assert row["avg_duration_s"] == pytest.approx(
            sum(s["duration"] for s in sessions) / len(sessions)
        )
        assert row["converted_sessions"] == sum(s["converted"] for s in sessions)


def test_daily_active_users_equal_independent_recomputation(gold, spark):
    visitors, users, events = defaultdict(set), defaultdict(set), Counter()
    for e in gold["events"]:
        day = ts(e).date()
        visitors[day].add(e["user"]["user_id"] or e["user"]["anonymous_id"])
        if e["user"]["user_id"]:
            users[day].add(e["user"]["user_id"])
        events[day] += 1
    got = {
        r["event_date"]: (r["active_users"], r["logged_in_users"], r["events"])
        for r in rows_of(spark, gold, config.MV_DAILY_ACTIVE_USERS)
    }
    assert got == {d: (len(visitors[d]), len(users[d]), events[d]) for d in events}


def test_no_raw_personal_data_in_any_gold_table(gold, spark):
    from pyspark.sql import functions as F

    raw = set()
    for _, e in gold["lines"]:
        for path in (
            "user.email",
            "geo.ip",
            "device.user_agent",
            "user.user_id",
            "user.anonymous_id",
        ):
            value = field(e, path, str) if isinstance(e, dict) else None
            if value:
                raw.add(value)
    assert len(raw) > 100
    for name in GOLD_TABLES:
        texts = [r[0] for r in table(spark, gold, name).select(F.to_json(F.struct("*"))).collect()]
        assert texts, name
        leaked = {v for t in texts for v in raw if f'"{v}"' in t}
        assert not leaked, f"{name} holds raw personal data: {sorted(leaked)[:3]}"


def test_liquid_clustering_is_applied_after_each_update(gold, spark):
    for run in (gold["run1"], gold["run2"]):
        assert run.clustering == dict.fromkeys(CLUSTERED)
    for name, columns in CLUSTERED.items():
        detail = spark.sql(f"DESCRIBE DETAIL `{gold['db']}`.`{name}`").collect()[0]
        assert list(detail["clusteringColumns"]) == columns, name
