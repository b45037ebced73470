"""Pure transforms on small batch DataFrames (no pipeline run needed)."""

from __future__ import annotations

import datetime as dt
import json

from pyspark.testing import assertDataFrameEqual

from clickstream import contract
from clickstream.transforms import dedup, ingest

T0 = dt.datetime(2026, 11, 2, 8, 0)


def files_frame(spark, files: dict[str, str]):
    rows = [(text, path, T0) for path, text in files.items()]
    return spark.createDataFrame(rows, "value STRING, _source_file STRING, _landed_at TIMESTAMP")


def test_split_lines_numbers_every_physical_line(spark):
    good = json.dumps(contract.example_event())
    files = files_frame(spark, {"f1": f"{good}\r\n\r\n   \nnot json\r\n{good}", "f2": ""})
    lines = ingest.split_lines(files).select("_source_file", "_line_number", "_raw_line")
    expected = spark.createDataFrame(
        [("f1", 1, good), ("f1", 4, "not json"), ("f1", 5, good)],
        "_source_file STRING, _line_number INT, _raw_line STRING",
    )
    assertDataFrameEqual(lines, expected)


def test_parse_events_types_the_contract_and_keeps_corrupt_lines(spark):
    good = contract.example_event()
    lines = spark.createDataFrame(
        [
            ("f", T0, 1, json.dumps(good)),
            ("f", T0, 2, '{"event_id": "trunc'),
            ("f", T0, 3, "[1, 2, 3]"),
        ],
        "_source_file STRING, _landed_at TIMESTAMP, _line_number INT, _raw_line STRING",
    )
    parsed = ingest.parse_events(lines, "u-1")
    assert parsed.columns == [f.name for f in contract.EVENT_FIELDS] + list(ingest.METADATA_COLUMNS)
    rows = {r["_line_number"]: r for r in parsed.collect()}
    assert rows[1]["event_id"] == good["event_id"] and rows[1]["_corrupt_record"] is None
    assert rows[1]["event_ts"] == dt.datetime(2026, 11, 29, 10, 15, 30, 123000)
    assert rows[1]["user"]["email"] == "ann@example.com"
    assert rows[1]["properties"]["price"] == 19.99
    assert rows[2]["event_id"] is None and rows[2]["_corrupt_record"] == '{"event_id": "trunc'
    assert rows[3]["_corrupt_record"] == "[1, 2, 3]"
    assert {r["_update_id"] for r in rows.values()} == {"u-1"}


def test_drop_seen_duplicates_keeps_the_first_arrival(spark):
    schema = "event_id STRING, _ingested_at TIMESTAMP, _source_file STRING, _line_number INT"
    later = T0 + dt.timedelta(minutes=5)
    everything = spark.createDataFrame(
        [
            ("a", T0, "f1", 1),
            ("b", T0, "f1", 2),
            ("a", T0, "f1", 3),  # duplicate in the same file: line 1 wins
            ("c", later, "f0", 1),  # new arrival
            ("b", later, "f0", 2),  # duplicate of an earlier update, although f0 < f1
            ("c", later, "f2", 1),  # duplicate in the same batch, other file
        ],
        schema,
    )
    new_rows = everything.where(everything._ingested_at == later)
    kept = dedup.drop_seen_duplicates(
        new_rows, everything, "event_id", ("_ingested_at", "_source_file", "_line_number")
    )
    assertDataFrameEqual(kept, spark.createDataFrame([("c", later, "f0", 1)], schema))
    first_batch = everything.where(everything._ingested_at == T0)
    kept_first = dedup.drop_seen_duplicates(
        first_batch, first_batch, "event_id", ("_ingested_at", "_source_file", "_line_number")
    )
    assert sorted(r["_line_number"] for r in kept_first.collect()) == [1, 2]
