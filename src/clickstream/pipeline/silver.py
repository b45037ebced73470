# Silver: valid events, each event_id once (event-time watermark + de-duplication).
from pyspark import pipelines as dp

from clickstream import config, platform

settings = platform.pipeline_settings(spark)

VALID_EVENT = "event_id IS NOT NULL AND event_ts IS NOT NULL AND _corrupt_record IS NULL"


@dp.table(
    name=platform.published_name(spark, config.SILVER_EVENTS),
    comment="Valid clickstream events, de-duplicated on event_id.",
    table_properties={"delta.enableChangeDataFeed": "true"},
)
def silver_events():
    return platform.deduplicated_stream(
        spark,
        settings,
        source=config.BRONZE_EVENTS,
        key="event_id",
        event_time="event_ts",
        where=VALID_EVENT,
    )
