# Silver: valid events once each, quarantine, late events, the user change feed, and an account
# of every bronze row. Rules: clickstream.quality; logic: clickstream.transforms.silver.
from pyspark import pipelines as dp

from clickstream import config, platform, quality
from clickstream.transforms import silver

settings = platform.pipeline_settings(spark)
rules = quality.silver_rules(settings)
# The key's pads: locally a one-row frame read from the key file and cross-joined, never a literal.
pii_key = platform.pii_key_for_queries(spark, settings)
LATE = silver.late_condition(settings.allowed_lateness)
VALID = silver.valid_condition(rules)


def bronze_stream():
    # skipChangeCommits: an erasure (DELETE on bronze) must not stop the silver streams.
    return spark.sql(
        f"SELECT * FROM STREAM({config.BRONZE_EVENTS}) "
        f"WITH ('{config.SKIP_CHANGE_COMMITS}' = 'true')"
    )


@dp.table(
    name=platform.published_name(spark, config.SILVER_EVENTS),
    comment="Valid, on-time clickstream events, each event_id once; identifiers are HMAC tokens.",
    table_properties=config.SILVER_TABLE_PROPERTIES,
    **platform.clustering(settings, config.SILVER_EVENTS, config.EVENT_CLUSTER_COLUMNS),
)
@platform.expectations(settings, config.SILVER_EVENTS, rules)
def silver_events():
    rows = platform.deduplicated_stream(
        spark,
        settings,
        source=config.BRONZE_EVENTS,
        key="event_id",
        event_time="event_ts",
        where=f"NOT ({LATE})",
        valid=VALID,
    )
    return silver.silver_columns(pii_key.keyed(rows), pii_key.pads, settings.inject_fault)


@dp.table(
    name=platform.published_name(spark, config.SILVER_QUARANTINE),
    comment="Rows that failed a drop rule, with failed_rules and their bronze lineage.",
    table_properties=config.SILVER_TABLE_PROPERTIES,
)
def silver_quarantine():
    return silver.quarantine_columns(pii_key.keyed(bronze_stream()), rules, pii_key.pads)


@dp.table(
    name=platform.published_name(spark, config.SILVER_LATE_EVENTS),
    comment=f"Valid events older than their file's landing time minus {settings.allowed_lateness}.",
    table_properties=config.SILVER_TABLE_PROPERTIES,
)
def silver_late_events():
    rows = bronze_stream().where(f"({VALID}) AND ({LATE})")
    return silver.silver_columns(pii_key.keyed(rows), pii_key.pads)


@dp.table(
    name=platform.published_name(spark, config.SILVER_USER_CHANGES),
    comment="Profile changes (profile_update), each event once whatever its arrival time; "
    "keyed by the pseudonymised user id, sequenced by event time.",
    table_properties=config.USER_CHANGES_TABLE_PROPERTIES,
)
def silver_user_changes():
    rows = platform.deduplicated_stream(
        spark,
        settings,
        source=config.BRONZE_EVENTS,
        key="event_id",
        event_time="event_ts",
        where="event_type = 'profile_update' AND user.user_id IS NOT NULL",
        valid=VALID,
        bounded=False,
    )
    return silver.user_change_columns(pii_key.keyed(rows), pii_key.pads)


# The account is a materialized view over the streaming tables it checks. Its aggregates
# (clickstream.transforms.silver.accounting_summary / expectation_metrics) are computed when read:
# on a second update the local engine refreshed a materialized view that reads another
# materialized view before that one was rewritten (measured), so none depends on another.
@dp.materialized_view(
    name=platform.published_name(spark, config.EVENT_ACCOUNTING),
    comment="One row per bronze row and its outcome: silver, quarantine, duplicate or late.",
)
def event_accounting():
    return silver.accounting(
        spark.read.table(config.BRONZE_EVENTS),
        spark.read.table(config.SILVER_EVENTS),
        spark.read.table(config.SILVER_QUARANTINE),
        spark.read.table(config.SILVER_LATE_EVENTS),
        rules,
    )
