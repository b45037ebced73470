# Gold / BI: materialized views recomputed from silver on every update.
from pyspark import pipelines as dp

from clickstream import config, platform
from clickstream.transforms import bi


@dp.materialized_view(
    name=platform.published_name(spark, config.MV_DAILY_ACTIVE_USERS),
    comment="Daily active visitors (logged-in user, else anonymous id) and events.",
)
def mv_daily_active_users():
    return bi.daily_active_users(spark.read.table(config.SILVER_EVENTS))
