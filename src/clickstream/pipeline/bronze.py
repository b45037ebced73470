# Bronze: every landed line, exactly once, with where it came from.
from pyspark import pipelines as dp

from clickstream import config, platform

settings = platform.pipeline_settings(spark)


@dp.table(
    name=platform.published_name(spark, config.BRONZE_EVENTS),
    comment="Raw clickstream events: one row per landed line, typed by the v1 contract; fields "
    "that do not fit it in _rescued_data, unparseable lines kept whole in _corrupt_record.",
    table_properties=config.BRONZE_TABLE_PROPERTIES,
    **platform.clustering(settings, config.BRONZE_EVENTS, config.EVENT_CLUSTER_COLUMNS),
)
def bronze_events():
    return platform.ingest_landing(spark, settings)
