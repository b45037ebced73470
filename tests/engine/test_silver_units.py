"""Silver's building blocks on small batch frames: rules, HMAC tokens, the PII key policy."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

import pytest
from pyspark.testing import assertDataFrameEqual

from clickstream import config, platform, quality
from clickstream.config import PipelineSettings
from clickstream.transforms import pii

SETTINGS = PipelineSettings(landing_path="/nowhere")


def python_hmac(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("key", [config.DEMO_PII_KEY, "k" * 100, "another key"])
def test_hmac_tokens_are_rfc2104_hmac_sha256(spark, key):
    from pyspark.sql import functions as F

    values = ["ann@example.com", "203.0.113.7", "Zürich", None]
    frame = spark.createDataFrame([(v,) for v in values], "v STRING")
    tokens = frame.select("v", pii.hmac_sha256_hex(F.col("v"), key).alias("t"))
    expected = spark.createDataFrame(
        [(v, python_hmac(key, v) if v is not None else None) for v in values], "v STRING, t STRING"
    )
    assertDataFrameEqual(tokens, expected)


@pytest.mark.parametrize(
    "key", [config.DEMO_PII_KEY, "k" * 64, "k" * 100, "schlüssel-ключ-鍵", "ends with a newline\n"]
)
def test_pads_computed_from_the_key_as_data_give_the_same_tokens(spark, key):
    from pyspark.sql import functions as F

    values = ["ann@example.com", "203.0.113.7", "Zürich", None]
    frame = spark.createDataFrame([(v,) for v in values], "v STRING")
    # As a key file reads (wholetext): the text with its trailing newline, which is no part of it.
    text = spark.createDataFrame([(key if key.endswith("\n") else key + "\n",)], "value STRING")
    keyed = frame.crossJoin(pii.pads_frame(text))
    tokens = keyed.select("v", pii.hmac_sha256_hex(F.col("v"), pii.KeyPads.joined()).alias("t"))
    plain = key.removesuffix("\n")
    expected = spark.createDataFrame(
        [(v, python_hmac(plain, v) if v is not None else None) for v in values],
        "v STRING, t STRING",
    )
    assertDataFrameEqual(tokens, expected)


def test_rescued_values_become_tokens_and_field_names_stay(spark):
    import json

    key = "k"
    rescued = [
        '{"emial":"ann@example.com","_file_path":"file:/landing/a.json"}',
        '{"user":{"Email":"bob@example.com"},"_file_path":"file:/landing/b.json"}',
        "not an object",
        None,
    ]
    frame = spark.createDataFrame([(r,) for r in rescued], "_rescued_data STRING")
    out = [r[0] for r in frame.select(pii.rescued_tokens("_rescued_data", key)).collect()]
    assert json.loads(out[0]) == {
        "emial": python_hmac(key, "ann@example.com"),
        "_file_path": "file:/landing/a.json",
    }
    # A nested object is one token: of its JSON text, the raw values inside never show.
    second = json.loads(out[1])
    assert set(second) == {"user", "_file_path"} and "bob@" not in out[1]
    assert second["user"] == python_hmac(key, '{"Email":"bob@example.com"}')
    assert json.loads(out[2]) == {"_rescued": python_hmac(key, "not an object")}
    assert out[3] is None


def test_another_key_gives_other_tokens():
    assert python_hmac(config.DEMO_PII_KEY, "a@example.com") != python_hmac("x", "a@example.com")


def test_demo_key_is_refused_on_databricks_and_warned_about_locally(caplog, monkeypatch):
    monkeypatch.setattr(platform, "_demo_key_warned", False)
    on_databricks = PipelineSettings(landing_path="/Volumes/x", platform=platform.DATABRICKS)
    with pytest.raises(RuntimeError, match="demo key"):
        platform.pii_key(on_databricks)
    secret = PipelineSettings(landing_path="/v", platform=platform.DATABRICKS, pii_key="s3cret")
    assert platform.pii_key(secret) == "s3cret"
    with caplog.at_level(logging.WARNING, logger="clickstream"):
        assert platform.pii_key(SETTINGS) == config.DEMO_PII_KEY
    assert "demo PII key" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="clickstream"):
        platform.pii_key(SETTINGS)
    assert "demo PII key" not in caplog.text, "warned once per process"


def test_failed_rules_name_every_failing_drop_rule(spark):
    landed = dt.datetime(2026, 11, 2, 8, 0)
    schema = (
        "event_id STRING, event_type STRING, event_ts TIMESTAMP, _landed_at TIMESTAMP, "
        "properties STRUCT<price: DOUBLE, quantity: INT, order_id: STRING, revenue: DOUBLE>, "
        "_corrupt_record STRING"
    )
    good = ("e1", "purchase", landed, landed, (10.0, 1, "o-1", 10.0), None)
    rows = [
        good,
        ("e2", "purchase", landed, landed, (10.0, 1, None, None), None),
        ("e3", "video_play", landed + dt.timedelta(days=1), landed, (-1.0, 1, None, None), None),
        (None, None, None, landed, None, "not json"),
    ]
    frame = spark.createDataFrame(rows, schema)
    drop = quality.of_action(quality.silver_rules(SETTINGS), quality.DROP)
    got = frame.select("event_id", quality.failed_rules(drop).alias("failed"))
    expected = spark.createDataFrame(
        [
            ("e1", []),
            ("e2", ["purchase_has_order"]),
            ("e3", ["known_event_type", "event_time_not_in_future", "non_negative_price_quantity"]),
            (
                None,
                ["known_event_type", "has_event_id", "parseable_event_time", "no_corrupt_record"],
            ),
        ],
        "event_id STRING, failed ARRAY<STRING>",
    )
    assertDataFrameEqual(got, expected)


def test_rule_set_has_each_action_and_unique_names():
    rules = quality.silver_rules(SETTINGS)
    assert len({r.name for r in rules}) == len(rules)
    assert {r.action for r in rules} == set(quality.ACTIONS)
    with pytest.raises(ValueError):
        quality.Rule("x", "true", "ignore")
