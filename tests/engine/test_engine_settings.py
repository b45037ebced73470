"""Static settings must reach the JVM before it starts; check that they took effect."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from clickstream.engine import delta_jars_cached, spark_defaults


def test_static_settings_took_effect(spark, shared_settings):
    conf = spark.conf
    assert conf.get("spark.sql.catalogImplementation") == "hive"
    assert conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert "DeltaSparkSessionExtension" in conf.get("spark.sql.extensions")
    assert conf.get("spark.sql.sources.default") == "delta"
    assert conf.get("spark.eventLog.enabled") == "true"
    assert conf.get("spark.ui.enabled") == "false"
    assert Path(urlparse(conf.get("spark.sql.warehouse.dir")).path) == shared_settings.warehouse
    # A table created without USING is Delta, and lands in the home's warehouse.
    spark.sql("CREATE DATABASE IF NOT EXISTS t_settings")
    spark.sql("CREATE OR REPLACE TABLE t_settings.probe AS SELECT 1 AS x")
    detail = spark.sql("DESCRIBE DETAIL t_settings.probe").collect()[0]
    assert detail["format"] == "delta"
    assert Path(urlparse(detail["location"]).path).is_relative_to(shared_settings.warehouse)
    # The persistent catalog is the home's Derby metastore; Spark's event log is on.
    assert (shared_settings.metastore / "service.properties").is_file()
    assert any(shared_settings.spark_events.iterdir())


def test_delta_jars_come_from_the_cache_after_the_first_resolution(shared_settings, spark):
    assert delta_jars_cached()
    defaults = spark_defaults(shared_settings)
    assert "spark.jars.packages" not in defaults
    assert any("delta-spark" in jar for jar in defaults["spark.jars"].split(","))
