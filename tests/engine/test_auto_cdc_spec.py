"""The AUTO CDC bridge: the Databricks call specification and the local result share one shape."""

from __future__ import annotations

import inspect

import pytest
from pyspark.sql import functions as F

from clickstream.platform import AutoCdcSpec


# Databricks' documented signature of pipelines' create_auto_cdc_flow (Python reference).
def documented_create_auto_cdc_flow(
    target,
    source,
    keys,
    sequence_by,
    ignore_null_updates=False,
    apply_as_deletes=None,
    apply_as_truncates=None,
    column_list=None,
    except_column_list=None,
    stored_as_scd_type=1,
    track_history_column_list=None,
    track_history_except_column_list=None,
    name=None,
    once=False,
):
    """Signature only: what a Databricks pipeline accepts."""


DIM_USER = AutoCdcSpec(
    target="dim_user",
    source="silver_user_changes",
    keys=("user_key",),
    sequence_by="event_ts",
    column_list=("tier", "country", "marketing_opt_in", "last_event_id"),
    stored_as_scd_type=2,
    track_history_column_list=("tier", "country", "marketing_opt_in"),
    apply_as_deletes="change_type = 'delete'",
)


def test_databricks_call_matches_the_documented_signature(spark):
    from pyspark.sql import Column

    arguments = DIM_USER.flow_arguments()
    bound = inspect.signature(documented_create_auto_cdc_flow).bind(**arguments)
    assert bound.arguments["stored_as_scd_type"] == 2
    assert bound.arguments["keys"] == ["user_key"]
    assert isinstance(bound.arguments["sequence_by"], Column)
    assert isinstance(bound.arguments["apply_as_deletes"], Column)
    assert bound.arguments["column_list"] == [
        "user_key",
        "tier",
        "country",
        "marketing_opt_in",
        "last_event_id",
    ]
    assert bound.arguments["track_history_column_list"] == ["tier", "country", "marketing_opt_in"]


def test_scd1_call_also_fits_the_open_source_api(spark):
    from pyspark import pipelines as dp

    spec = AutoCdcSpec("dim_product", "silver_events", ("product_id",), "event_ts", ("category",))
    inspect.signature(dp.create_auto_cdc_flow).bind(**spec.flow_arguments())
    assert spec.output_columns() == ["product_id", "category"]


def test_local_result_has_the_declared_shape(spark):
    changes = spark.createDataFrame(
        [
            ("k1", "2026-11-02 08:00:00", "gold", "GB", True, "e1", "upsert"),
            ("k1", "2026-11-02 09:00:00", "gold", "GB", True, "e2", "upsert"),
            ("k1", "2026-11-03 08:00:00", "silver", "GB", False, "e3", "upsert"),
            ("k2", "2026-11-02 10:00:00", "bronze", "FR", None, "e4", "upsert"),
            ("k2", "2026-11-04 10:00:00", None, None, None, "e5", "delete"),
        ],
        "user_key STRING, event_ts STRING, tier STRING, country STRING, "
        "marketing_opt_in BOOLEAN, last_event_id STRING, change_type STRING",
    ).withColumn("event_ts", F.to_timestamp("event_ts"))
    result = DIM_USER.compute(changes)
    assert result.columns == DIM_USER.output_columns()
    assert dict(result.dtypes)["__START_AT"] == "timestamp"
    rows = sorted(
        (r.user_key, r.tier, r.last_event_id, str(r["__END_AT"])) for r in result.collect()
    )
    # e2 changed only an untracked column: it updates the open version instead of opening one.
    assert rows == [
        ("k1", "gold", "e2", "2026-11-03 08:00:00"),
        ("k1", "silver", "e3", "None"),
        ("k2", "bronze", "e4", "2026-11-04 10:00:00"),
    ]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"stored_as_scd_type": 3}, "must be 1 or 2"),
        ({"track_history_column_list": ("tier",)}, "SCD Type 2 only"),
        ({"stored_as_scd_type": 2, "track_history_column_list": ("nope",)}, "not in column_list"),
        ({"column_list": ("user_key", "tier")}, "must not be repeated"),
    ],
)
def test_invalid_specs_are_refused(kwargs, message):
    base = {
        "target": "t",
        "source": "s",
        "keys": ("user_key",),
        "sequence_by": "event_ts",
        "column_list": ("tier",),
    }
    with pytest.raises(ValueError, match=message):
        AutoCdcSpec(**{**base, **kwargs})


def _bronze_like(spark):
    """An empty frame of bronze's shape: the v1 columns plus the lineage columns."""
    from clickstream import contract

    schema = contract.spark_schema()
    for name, kind in (
        ("_rescued_data", "string"),
        ("_corrupt_record", "string"),
        ("_source_file", "string"),
        ("_landed_at", "timestamp"),
        ("_line_number", "integer"),
        ("_ingested_at", "timestamp"),
        ("_update_id", "string"),
    ):
        schema = schema.add(name, kind)
    return spark.createDataFrame([], schema)


def test_gold_dimension_specs_fit_databricks_and_their_sources(spark):
    from clickstream.transforms import dims, silver

    bronze = _bronze_like(spark)
    cases = [
        (
            dims.user_spec("dim_user", "silver_user_changes"),
            silver.user_change_columns(bronze, "k"),
        ),
        (dims.product_spec("dim_product", "gold_product_changes"), dims.product_changes(bronze)),
        (dims.page_spec("dim_page", "gold_page_changes"), dims.page_changes(bronze)),
    ]
    for spec, source in cases:
        bound = inspect.signature(documented_create_auto_cdc_flow).bind(**spec.flow_arguments())
        # Every listed column and the sequence column exist in the source the flow reads.
        assert set(bound.arguments["column_list"]) <= set(source.columns), spec.target
        assert spec.sequence_by in source.columns
        # The local stand-in computes a table of exactly the declared output shape.
        assert spec.compute(source).columns == spec.output_columns()
    user = cases[0][0].flow_arguments()
    assert user["stored_as_scd_type"] == 2
    assert user["track_history_column_list"] == ["tier", "country", "marketing_opt_in"]
    assert cases[0][0].output_columns() == [
        "user_key",
        "tier",
        "country",
        "marketing_opt_in",
        "__START_AT",
        "__END_AT",
    ]
