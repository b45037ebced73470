# Gold: a star schema over silver (SCD dimensions through AUTO CDC, conformed dimensions with an
# "unknown" member, facts as materialized views) and the BI views. Logic: clickstream.transforms.
#
# Every fact and BI view reads streaming tables only, never another materialized view: the local
# engine may refresh a materialized view before one it reads is rewritten in the same update, so
# facts compute dimension keys from the event itself and read the dim_user history through
# platform.read_auto_cdc_target.
from pyspark import pipelines as dp

from clickstream import config, platform
from clickstream.transforms import bi, dims, facts, sessions

settings = platform.pipeline_settings(spark)


def name(table):
    return platform.published_name(spark, table)


def silver_events():
    return spark.read.table(name(config.SILVER_EVENTS))


USER = dims.user_spec(name(config.DIM_USER), name(config.SILVER_USER_CHANGES))
PRODUCT = dims.product_spec(name(config.DIM_PRODUCT), config.PRODUCT_CHANGES)
PAGE = dims.page_spec(name(config.DIM_PAGE), config.PAGE_CHANGES)

# --- dimensions ---------------------------------------------------------------------------

platform.declare_auto_cdc(
    spark,
    settings,
    USER,
    comment="Users, SCD Type 2 (tier, country, marketing_opt_in tracked): one row per version, "
    "valid over [__START_AT, __END_AT); the current version has __END_AT null. "
    "Primary key (user_key, __START_AT); user_key is the pseudonymised user id.",
)

platform.declare_change_feed(
    spark,
    settings,
    config.PRODUCT_CHANGES,
    name(config.SILVER_EVENTS),
    dims.product_changes,
    comment="Product attributes as carried by events: the change feed of dim_product.",
)
platform.declare_auto_cdc(
    spark,
    settings,
    PRODUCT,
    comment="Products, SCD Type 1 (latest category). Primary key product_id.",
)

platform.declare_change_feed(
    spark,
    settings,
    config.PAGE_CHANGES,
    name(config.SILVER_EVENTS),
    dims.page_changes,
    comment="Page attributes as carried by events: the change feed of dim_page.",
)
platform.declare_auto_cdc(
    spark,
    settings,
    PAGE,
    comment="Pages, SCD Type 1 (latest title). Primary key page_path.",
)


@dp.materialized_view(
    name=name(config.DIM_DEVICE),
    comment="Devices (type, os, browser) plus the 'unknown' member. Primary key device_key.",
)
def dim_device():
    return dims.dim_device(silver_events())


@dp.materialized_view(
    name=name(config.DIM_GEO),
    comment="Places (country, region, city, timezone; never the IP) plus the 'unknown' member. "
    "Primary key geo_key.",
)
def dim_geo():
    return dims.dim_geo(silver_events())


@dp.materialized_view(
    name=name(config.DIM_DATE),
    comment="Calendar over every UTC day of the data plus the unknown day (-1). "
    "Primary key date_key (yyyymmdd).",
)
def dim_date():
    return dims.dim_date(silver_events())


# --- facts ----------------------------------------------------------------------------------


@dp.materialized_view(
    name=name(config.FACT_EVENTS),
    comment="One row per silver event. Primary key event_id. Foreign keys: date_key -> dim_date, "
    "user_version_key / (user_key, user_valid_from) -> the dim_user version valid at event_ts "
    "('unknown' / null when none), device_key -> dim_device, geo_key -> dim_geo, "
    "product_id -> dim_product, page_path -> dim_page.",
    **platform.clustering(settings, config.FACT_EVENTS, ("date_key", "event_type")),
)
def fact_events():
    return facts.fact_events(silver_events(), platform.read_auto_cdc_target(spark, settings, USER))


@dp.materialized_view(
    name=name(config.FACT_SESSIONS),
    comment=f"Sessions: a visitor's events until {settings.session_gap} of inactivity. "
    "Primary key session_key. Foreign keys: date_key, device_key, geo_key.",
)
def fact_sessions():
    return sessions.fact_sessions(silver_events(), settings.session_gap)


@dp.materialized_view(
    name=name(config.FACT_ORDERS),
    comment="One row per order with its revenue (decimal, in the order's currency). "
    "Primary key order_id. Foreign keys: date_key, device_key, geo_key.",
)
def fact_orders():
    return facts.fact_orders(silver_events())


# --- BI -------------------------------------------------------------------------------------


@dp.materialized_view(
    name=name(config.MV_DAILY_ACTIVE_USERS),
    comment="Daily active visitors (logged-in user, else anonymous id) and events.",
    **platform.clustering(settings, config.MV_DAILY_ACTIVE_USERS, ("event_date",)),
)
def mv_daily_active_users():
    return bi.daily_active_users(silver_events())


@dp.materialized_view(
    name=name(config.MV_FUNNEL_DAILY),
    comment="Sessions reaching view -> cart -> checkout -> purchase, per UTC day and device type.",
    **platform.clustering(settings, config.MV_FUNNEL_DAILY, ("event_date", "device_type")),
)
def mv_funnel_daily():
    return bi.funnel_daily(silver_events())


@dp.materialized_view(
    name=name(config.MV_REVENUE_DAILY),
    comment="Orders, units and revenue per UTC day, country and currency.",
    **platform.clustering(settings, config.MV_REVENUE_DAILY, ("order_date", "country")),
)
def mv_revenue_daily():
    return bi.revenue_daily(facts.fact_orders(silver_events()))


@dp.materialized_view(
    name=name(config.MV_TOP_PRODUCTS),
    comment="Products ranked by views, with add-to-carts and units added.",
    **platform.clustering(settings, config.MV_TOP_PRODUCTS, ("category",)),
)
def mv_top_products():
    return bi.top_products(silver_events())


@dp.materialized_view(
    name=name(config.MV_SESSION_KPIS),
    comment="Per UTC day: sessions, bounce rate, average duration, conversion rate.",
    **platform.clustering(settings, config.MV_SESSION_KPIS, ("session_date",)),
)
def mv_session_kpis():
    return bi.session_kpis(sessions.fact_sessions(silver_events(), settings.session_gap))
