"""Right to erasure: `clickstream forget-user` removes a user from every layer and the landing.

Ground truth is plain Python over the landed files: the user's lines are the lines that carry
the user's id or email as a JSON string. After the erasure no table's current version holds the
user, old versions still do (time travel) until `--vacuum`, silver keeps streaming after the
bronze DELETE, and after the vacuum no file under any table folder (data, _delta_log,
checkpoints, change data) contains the raw id or email.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clickstream import config
from clickstream.observability import event_log
from clickstream.query import stored_tables
from producer import produce

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DATABASE = "t_rel_forget"
STREAMING_TABLES = config.STREAMING_TABLES
PLANTED_FILE = "planted-raw-text.json"


def token(value: str) -> str:
    return hmac.new(config.DEMO_PII_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def landed_lines(landing: Path) -> list[bytes]:
    return [
        line
        for path in sorted(landing.rglob("*.json"))
        for line in path.read_bytes().split(b"\n")
        if line.strip(b" \r")
    ]


def pick_user(landing: Path) -> tuple[str, str]:
    """The logged-in user with the most events, and their email (plain Python)."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in landed_lines(landing):
        try:
            event = json.loads(line)
            user = event["user"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(user, dict) and user.get("user_id") and user.get("email"):
            counts[(user["user_id"], user["email"])] += 1
    return counts.most_common(1)[0][0]


def plant_raw_text_lines(landing: Path, user_id: str, email: str) -> int:
    """Lines where only raw text holds the user, in a file of their own: one of the user's
    lines cut short (bronze keeps it as ``_corrupt_record``), another user's event with the
    user's email under a field the contract doesn't know (``_rescued_data``), and a line of the
    user's that is not valid UTF-8."""
    lines = [json.loads(line) for line in landed_lines(landing) if _parses(line)]
    mine = next(
        e for e in lines if isinstance(e.get("user"), dict) and e["user"].get("user_id") == user_id
    )
    other = next(
        e
        for e in lines
        if isinstance(e.get("user"), dict)
        and e["user"].get("user_id") not in (None, user_id)
        and isinstance(e.get("properties"), dict)
    )
    text = json.dumps(mine)
    cut = text[: text.index(json.dumps(user_id)) + len(json.dumps(user_id)) + 3]
    drifted = {**other, "event_id": f"{other['event_id']}-drift"}
    drifted["properties"] = {**other["properties"], "contact_email": email}
    not_utf8 = b'{"event_id": "planted-bytes", "user": {"user_id": %s}, "note": "\xff\xfe"}' % (
        json.dumps(user_id).encode()
    )
    planted = [cut.encode(), json.dumps(drifted).encode(), not_utf8]
    # Landed with the producer's last file: a landing time of today would make the next
    # files late by the watermark.
    last = max(landing.rglob("*.json"), key=lambda path: path.stat().st_mtime_ns).stat()
    target = landing / PLANTED_FILE
    target.write_bytes(b"\n".join(planted) + b"\n")
    os.utime(target, ns=(last.st_atime_ns, last.st_mtime_ns))
    return len(planted)


def planted_rows(spark):
    bronze = spark.table(f"`{DATABASE}`.`{config.BRONZE_EVENTS}`")
    return bronze.where(bronze["_source_file"].endswith(PLANTED_FILE))


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def users_lines(landing: Path, needles: list[str]) -> int:
    markers = [json.dumps(n).encode() for n in needles]
    return sum(1 for line in landed_lines(landing) if any(m in line for m in markers))


def table_names(spark) -> list[str]:
    return stored_tables(spark, DATABASE)


def holding_rows(spark, name: str, user_id: str, email: str, version: int | None = None) -> int:
    """Rows of a table (a version of it) that hold the user, by raw value or token."""
    frame = spark.table(f"`{DATABASE}`.`{name}`")
    if version is not None:
        frame = spark.read.option("versionAsOf", version).table(f"`{DATABASE}`.`{name}`")
    wanted = {user_id, email, token(user_id), token(email)}
    found = 0
    for row in frame.selectExpr("to_json(struct(*)) AS j").collect():
        found += any(json.dumps(w) in row["j"] for w in wanted)
    return found


def _as_binary(dtype: pa.DataType) -> pa.DataType:
    """The type with every string as binary: bronze keeps lines that are not valid UTF-8."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pa.binary()
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_as_binary(f.type)) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(_as_binary(dtype.value_type))
    if pa.types.is_map(dtype):
        return pa.map_(_as_binary(dtype.key_type), _as_binary(dtype.item_type))
    return dtype


def parquet_text(path: Path) -> str:
    """A Parquet file's values, decompressed (compression may hide a string's bytes)."""
    table = pq.read_table(path)
    schema = pa.schema([f.with_type(_as_binary(f.type)) for f in table.schema])
    return repr(table.cast(schema).to_pylist())


def files_holding(spark, needles: list[str]) -> list[str]:
    hits = []
    for name in table_names(spark):
        location = spark.sql(f"DESCRIBE DETAIL `{DATABASE}`.`{name}`").collect()[0]["location"]
        root = Path(location.removeprefix("file:"))
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            text = parquet_text(path) if path.suffix == ".parquet" else ""
            if any(n.encode() in data or n in text for n in needles):
                hits.append(str(path))
    return hits


def logged_since(spark, folder: Path, since: dict[Path, int]) -> tuple[bytes, str]:
    """What Spark's event log received after ``since``, read once a marker query sent now is
    in it: the listener bus writes the log asynchronously, but in order."""
    marker = f"event-log-marker-{uuid.uuid4().hex}"
    spark.sql(f"SELECT '{marker}' AS marker").collect()
    deadline = time.monotonic() + 30
    while True:
        data = b""
        for path in sorted(p for p in folder.rglob("events_*") if p.is_file()):
            with path.open("rb") as handle:
                handle.seek(since.get(path, 0))
                data += handle.read()
        if marker.encode() in data or time.monotonic() > deadline:
            return data, marker
        time.sleep(0.2)


@pytest.fixture(scope="module")
def erasure(shared_settings, lakehouse, shared_server):
    from lakehouse_testing import Sandbox

    landing = shared_settings.home / "landings" / DATABASE
    landing.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(shared_settings, DATABASE, landing)
    spark = lakehouse.spark
    produce(
        events=600,
        seed=33,
        sink=landing,
        start=START,
        defect_rates={"all": 0.02},
        max_events_per_file=200,
    )
    user_id, email = pick_user(landing)
    planted = plant_raw_text_lines(landing, user_id, email)
    runner = sandbox.runner(lakehouse)
    before_run = event_log.event_log_offsets(shared_settings.spark_events)
    first = runner.run()
    assert first.ok, first.error
    run_logged, _ = logged_since(spark, shared_settings.spark_events, before_run)
    before = {n: spark.table(f"`{DATABASE}`.`{n}`").count() for n in table_names(spark)}
    versions = {
        n: spark.sql(f"DESCRIBE HISTORY `{DATABASE}`.`{n}` LIMIT 1").collect()[0]["version"]
        for n in table_names(spark)
    }
    users = users_lines(landing, [user_id, email])
    planted_kinds = planted_rows(spark).selectExpr(
        "count(*) AS n",
        "count_if(_corrupt_record IS NOT NULL) AS corrupt",
        "count_if(_rescued_data LIKE '%contact_email%') AS rescued",
    ).first()
    since = event_log.event_log_offsets(shared_settings.spark_events)
    forget = sandbox.cli("forget-user", user_id)
    logged, marker = logged_since(spark, shared_settings.spark_events, since)
    return {
        "sandbox": sandbox,
        "runner": runner,
        "user_id": user_id,
        "email": email,
        "before": before,
        "versions": versions,
        "user_lines": users,
        "planted": planted,
        "planted_kinds": planted_kinds.asDict(),
        "forget": forget,
        "logged": logged,
        "run_logged": run_logged,
        "marker": marker,
    }


def test_forget_user_removes_the_user_from_every_current_table(erasure, spark, tally):
    forget = erasure["forget"]
    assert forget.code == 0, forget.stderr
    assert erasure["user_lines"] > 0, "the chosen user has events"
    leaks = {
        n: holding_rows(spark, n, erasure["user_id"], erasure["email"]) for n in table_names(spark)
    }
    tally.leaks_found += sum(leaks.values())
    assert leaks == dict.fromkeys(leaks, 0)


def test_neither_the_raw_id_nor_the_email_reaches_sparks_event_log(erasure, tally):
    # Spark logs each query's plan and each Spark Connect command with their literals, and
    # keeps the log: an erasure that looked the user up by raw id would leave it there.
    assert erasure["marker"].encode() in erasure["logged"], "the log was read after the erasure"
    assert b"DELETE FROM" in erasure["logged"], "the erasure's queries are in what was read"
    leaked = [n for n in (erasure["user_id"], erasure["email"]) if n.encode() in erasure["logged"]]
    tally.leaks_found += len(leaked)
    assert leaked == []


def key_forms(key: str) -> list[bytes]:
    """The key, and its HMAC pads as hex in either case: whichever a log could hold."""
    raw = key.encode().ljust(64, b"\0")
    pads = [bytes(b ^ pad for b in raw).hex() for pad in (0x36, 0x5C)]
    return [key.encode(), *[p.encode() for p in pads], *[p.upper().encode() for p in pads]]


def test_the_pii_key_never_reaches_sparks_event_log(erasure):
    # Spark logs the pipeline's registration (its configuration) and every plan (its
    # literals): the pipeline run and the erasure must key their tokens without either.
    for logged in (erasure["run_logged"], erasure["logged"]):
        assert b"silver_events" in logged, "the log read covers the queries"
        assert [form for form in key_forms(config.DEMO_PII_KEY) if form in logged] == []


def test_lines_tied_to_the_user_only_by_raw_text_are_erased(erasure, spark):
    kinds = erasure["planted_kinds"]
    # The planted lines reached bronze by the paths they were written for.
    assert kinds["n"] == erasure["planted"]
    assert kinds["corrupt"] >= 1 and kinds["rescued"] == 1
    assert planted_rows(spark).count() == 0


def test_other_users_rows_are_kept(erasure, spark, tally):
    after = spark.table(f"`{DATABASE}`.`{config.BRONZE_EVENTS}`").count()
    expected = erasure["before"][config.BRONZE_EVENTS] - erasure["user_lines"]
    tally.rows_lost += max(0, expected - after)
    assert after == expected


def test_landing_files_no_longer_hold_the_user(erasure):
    landing = erasure["sandbox"].landing
    assert users_lines(landing, [erasure["user_id"], erasure["email"]]) == 0
    assert "lines blanked in" in erasure["forget"].stdout


def test_the_report_names_the_versions_that_still_hold_the_user(erasure, spark):
    out = erasure["forget"].stdout
    bronze = f"`{DATABASE}`.`{config.BRONZE_EVENTS}`"
    old = erasure["versions"][config.BRONZE_EVENTS]
    assert holding_rows(spark, config.BRONZE_EVENTS, erasure["user_id"], erasure["email"], old)
    line = next(x for x in out.splitlines() if x.strip().startswith(bronze + ":"))
    assert "still hold them (time travel)" in line and f"{old}" in line
    assert "--vacuum" in out


def test_silver_keeps_streaming_after_the_bronze_delete_and_vacuum_leaves_no_file(
    erasure, spark, tally
):
    sandbox, runner = erasure["sandbox"], erasure["runner"]
    second = produce(
        events=200, seed=34, sink=sandbox.landing, start=START + timedelta(hours=5), clean=True
    )
    # The streaming layers only: what must keep working after a DELETE in their source.
    update = runner.run(refresh=list(STREAMING_TABLES))
    assert update.ok, update.error
    ids = {
        r[0]
        for r in spark.table(f"`{DATABASE}`.`{config.SILVER_EVENTS}`").select("event_id").collect()
    }
    new_ids = {
        json.loads(line)["event_id"]
        for rel in second.files
        for line in (sandbox.landing / rel).read_bytes().splitlines()
    }
    assert new_ids <= ids, "events landed after the erasure reach silver"
    vacuum = sandbox.cli("forget-user", erasure["user_id"], "--vacuum")
    assert vacuum.code == 0, vacuum.stderr
    assert "WARNING: VACUUM RETAIN 0 HOURS" in vacuum.stdout and "time travel" in vacuum.stdout
    hits = files_holding(spark, [erasure["user_id"], erasure["email"]])
    tally.leaks_found += len(hits)
    assert hits == []
