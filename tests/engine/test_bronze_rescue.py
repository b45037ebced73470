"""Bronze on the committed sample: every line one row, rescued data and corrupt records pinned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from clickstream import config
from clickstream.transforms.rescue import rescue_line
from producer.manifest import read_manifest, restore_landing_times

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data_samples"
HOUR = "year=2026/month=11/day=02/hour=08"
F1 = f"{HOUR}/events-20261102T080122862Z-s7-b0001-f0001.json"
F2 = f"{HOUR}/events-20261102T080159532Z-s7-b0001-f0002.json"
F3 = f"{HOUR}/events-20261102T080223279Z-s7-b0001-f0003.json"
B2F1 = f"{HOUR}/events-20261102T080320444Z-s7-b0002-f0001.json"

MALFORMED = {"malformed_truncated", "malformed_not_json", "malformed_invalid_utf8"}
DRIFT = {
    "drift_unknown_field",
    "drift_case_mismatch",
    "drift_type_mismatch_top",
    "drift_type_mismatch_nested",
}


def manifest_kinds(root: Path) -> dict[tuple[str, int], str | None]:
    """(file, line) -> defect kind (None = clean), straight from the producer's manifests."""
    kinds: dict[tuple[str, int], str | None] = {}
    for manifest in sorted((root / "_manifests").glob("*.manifest.jsonl")):
        for record in read_manifest(manifest.read_bytes()):
            if record["record"] == "file":
                for number, kind in enumerate(record["kinds"], start=1):
                    kinds[(record["file"], number)] = kind
    return kinds


def raw_line(root: Path, relpath: str, number: int) -> bytes:
    return (root / relpath).read_bytes().split(b"\n")[number - 1]


# -- the rescue walk, without Spark ----------------------------------------------------------


def test_rescue_line_splits_unknown_case_and_type_mismatches():
    line = json.dumps(
        {
            "schema_version": "1",
            "event_id": "e-1",
            "Event_Type": "click",
            "device": {"type": "mobile", "screen": {"width": "390", "height": 844}},
            "page": {"title": "t", "scroll_depth": 0.5},
            "extra": {"a": [1, 2]},
        }
    )
    corrupt, rescued, cleaned = rescue_line(line, "file:/l/f.json")
    assert not corrupt
    assert rescued == (
        '{"schema_version":"1","Event_Type":"click","device":{"screen":{"width":"390"}},'
        '"page":{"scroll_depth":0.5},"extra":{"a":[1,2]},"_file_path":"file:/l/f.json"}'
    )
    assert json.loads(cleaned) == {
        "event_id": "e-1",
        "device": {"type": "mobile", "screen": {"height": 844}},
        "page": {"title": "t"},
    }


@pytest.mark.parametrize(
    ("line", "corrupt"),
    [
        ('{"event_id": "e-1"}', False),
        ('{"event_id": "e-1"', True),
        ("[1, 2]", True),
        ("GET /collect?x=1", True),
        (None, True),  # not valid UTF-8: decided in Spark, where the bytes are intact
    ],
)
def test_rescue_line_flags_lines_that_are_not_json_objects(line, corrupt):
    assert rescue_line(line, "f")[0] is corrupt
    if not corrupt:
        assert rescue_line(line, "f")[1:] == (None, None)


def test_rescue_line_checks_timestamps_and_numbers_like_the_json_reader():
    ok = '{"event_ts": "2026-11-29T10:15:30.123Z", "properties": {"price": 3, "quantity": 2}}'
    assert rescue_line(ok, "f") == (False, None, None)
    bad = '{"event_ts": "yesterday", "properties": {"price": true, "quantity": 1.5}}'
    _, rescued, _ = rescue_line(bad, "f")
    assert json.loads(rescued) == {
        "event_ts": "yesterday",
        "properties": {"price": True, "quantity": 1.5},
        "_file_path": "f",
    }


# -- bronze end to end on data_samples/ ------------------------------------------------------


@pytest.fixture(scope="module")
def sample_run(shared_settings, lakehouse):
    """data_samples/ copied into a landing folder (landing times restored), one update."""
    from lakehouse_testing import Sandbox

    database = "t_bronze_samples"
    landing = shared_settings.home / "landings" / database
    if landing.exists():
        shutil.rmtree(landing)
    shutil.copytree(SAMPLES, landing)
    assert restore_landing_times(landing) == 8
    sandbox = Sandbox(shared_settings, database, landing)
    result = sandbox.runner(lakehouse).run()
    assert result.ok, result.error
    return sandbox


@pytest.fixture(scope="module")
def bronze_rows(sample_run, spark):
    """(file relative to the landing root, line) -> bronze row, strings fetched as bytes."""
    from pyspark.sql import functions as F

    frame = spark.table(f"`{sample_run.database}`.`{config.BRONZE_EVENTS}`")
    # Corrupt records keep invalid UTF-8 bytes, which the client can only fetch as binary.
    rows = frame.select(
        *[c for c in frame.columns if c != "_corrupt_record"],
        F.col("_corrupt_record").cast("binary").alias("_corrupt_bytes"),
    ).collect()
    root = sample_run.landing.as_posix()
    out = {}
    for row in rows:
        path = unquote(urlparse(row["_source_file"]).path)
        out[(Path(path).relative_to(root).as_posix(), row["_line_number"])] = row
    assert len(out) == len(rows), "each (file, line) must be one bronze row"
    return out


def test_every_landed_line_is_one_bronze_row(sample_run, bronze_rows):
    landed = {
        (f.relative_to(sample_run.landing).as_posix(), n)
        for f in sample_run.landing.rglob("*.json")
        for n, line in enumerate(f.read_bytes().split(b"\n"), start=1)
        if line.strip()
    }
    assert set(bronze_rows) == landed and len(landed) == 400


def test_rescued_and_corrupt_rows_are_exactly_the_manifests_drift_and_malformed_lines(
    sample_run, bronze_rows
):
    kinds = manifest_kinds(sample_run.landing)
    rescued = {key for key, row in bronze_rows.items() if row["_rescued_data"] is not None}
    corrupt = {key for key, row in bronze_rows.items() if row["_corrupt_bytes"] is not None}
    assert rescued == {key for key, kind in kinds.items() if kind in DRIFT}
    assert corrupt == {key for key, kind in kinds.items() if kind in MALFORMED}
    for key in corrupt:
        row = bronze_rows[key]
        # Kept whole, byte for byte (invalid UTF-8 included), and nothing typed.
        assert bytes(row["_corrupt_bytes"]) == raw_line(sample_run.landing, *key)
        assert row["event_id"] is None and row["_rescued_data"] is None


@pytest.mark.parametrize(
    ("relpath", "line", "rescued", "typed_null"),
    [
        # drift_unknown_field, nested: the path is kept as a nested object
        (F1, 24, '{"page":{"scroll_depth":0.88},"_file_path":"%s"}', None),
        # drift_case_mismatch: the key under its own spelling; the typed column stays null
        (F1, 28, '{"Profile":null,"_file_path":"%s"}', "profile"),
        # drift_type_mismatch_top: a struct sent as a string
        (F3, 46, '{"device":"desktop","_file_path":"%s"}', "device"),
        # drift_type_mismatch_top: an integer sent as a string
        (B2F1, 14, '{"schema_version":"1","_file_path":"%s"}', "schema_version"),
        # drift_type_mismatch_nested
        (F1, 30, '{"user":{"is_logged_in":"false"},"_file_path":"%s"}', "user.is_logged_in"),
        (B2F1, 11, '{"page":{"load_ms":"298"},"_file_path":"%s"}', "page.load_ms"),
    ],
)
def test_golden_rescued_data(bronze_rows, relpath, line, rescued, typed_null):
    row = bronze_rows[(relpath, line)]
    assert row["_rescued_data"] == rescued % row["_source_file"]
    assert row["_corrupt_bytes"] is None and row["event_id"] is not None
    if typed_null:
        value = row
        for part in typed_null.split("."):
            value = value[part]
        assert value is None
    # Everything else on the line is typed as usual.
    assert row["event_type"] == "page_view" and row["user"]["anonymous_id"].startswith("a-")


def test_golden_corrupt_records(sample_run, bronze_rows):
    not_json = bronze_rows[(F2, 6)]
    assert bytes(not_json["_corrupt_bytes"]).decode() == (
        "2026-11-02T08:01:25.404Z ERROR collector upstream timed out after 30000 ms "
        "(request 7977965e7027)"
    )
    invalid_utf8 = bronze_rows[(F2, 12)]
    raw = raw_line(sample_run.landing, F2, 12)
    assert b'"title":"Caf\xe9 Harbour loafer"' in raw
    assert bytes(invalid_utf8["_corrupt_bytes"]) == raw
    assert invalid_utf8["event_id"] is None and invalid_utf8["_rescued_data"] is None


def test_bronze_columns_follow_the_contract(sample_run, spark):
    from clickstream import contract

    columns = spark.table(f"`{sample_run.database}`.`{config.BRONZE_EVENTS}`").columns
    assert columns == [f.name for f in contract.EVENT_FIELDS] + [
        "_rescued_data",
        "_corrupt_record",
        "_source_file",
        "_landed_at",
        "_line_number",
        "_ingested_at",
        "_update_id",
    ]
