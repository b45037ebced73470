"""Hostile input: every case of the corpus in one landing, one update, checked per case.

For each case: the update completed, bronze keeps every non-blank line (typed, or whole in
``_corrupt_record``), every bronze row has an accounting outcome, the good batch landed after
the cases reached silver, and ``clickstream sql --json`` prints every bronze row, escaped.
"""

from __future__ import annotations

import json
import os

import pytest
from reliability_support import CORRUPT, EVENT, LATE_FILE, expected_lines, python_event

from clickstream import config
from clickstream.observability.landing_audit import local_path
from clickstream.transforms import silver

CASES = [
    "empty_file",
    "blank_lines_only",
    "ten_mb_single_line",
    "deep_nesting_1000",
    "invalid_utf8",
    "utf8_bom",
    "utf16_bom",
    "crlf_line_ends",
    "nul_bytes",
    "duplicate_keys",
    "numbers_out_of_range",
    "timestamps_other_formats_and_zones",
    "json_arrays_not_objects",
    "gzip_named_json",
    "rewritten_after_landing",
    "unicode_and_spaces_in_name",
    "late_partition_file",
    "pii_under_drifted_keys",
]


@pytest.fixture(scope="module")
def corpus(corpus_run):
    return corpus_run[0]


@pytest.fixture(scope="module")
def sandbox(corpus_run):
    return corpus_run[1]


def relpath_of(sandbox, source_file: str) -> str:
    return local_path(source_file).relative_to(sandbox.landing).as_posix()


@pytest.fixture(scope="module")
def bronze(corpus_run, spark):
    _, sandbox, result = corpus_run
    assert result.ok, result.error
    rows = spark.sql(
        f"SELECT _source_file, _line_number, event_id, CAST(_corrupt_record AS BINARY) AS raw "
        f"FROM `{sandbox.database}`.`{config.BRONZE_EVENTS}`"
    ).collect()
    out: dict[tuple[str, int], list] = {}
    for row in rows:
        out.setdefault((relpath_of(sandbox, row["_source_file"]), row["_line_number"]), []).append(
            row
        )
    return out


@pytest.fixture(scope="module")
def accounting(corpus_run, spark):
    _, sandbox, _ = corpus_run
    frame = spark.table(f"`{sandbox.database}`.`{config.EVENT_ACCOUNTING}`")
    rows = frame.select("_source_file", "_line_number", "outcome").collect()
    out: dict[tuple[str, int], list[str]] = {}
    for row in rows:
        key = (relpath_of(sandbox, row["_source_file"]), row["_line_number"])
        out.setdefault(key, []).append(row["outcome"])
    return out, silver.accounting_summary(frame).where("_update_id IS NULL").collect()


@pytest.fixture(scope="module")
def sql_json(corpus_run, shared_server):
    _, sandbox, _ = corpus_run
    result = sandbox.cli("sql", f"SELECT * FROM {config.BRONZE_EVENTS}", "--json")
    assert result.code == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        assert line.isascii(), "sql --json escapes every non-ASCII character and byte"
        row = json.loads(line)
        rows[(relpath_of(sandbox, row["_source_file"]), row["_line_number"])] = row
    return rows, len(result.stdout.splitlines())


def test_the_update_survives_every_hostile_input(corpus_run, tally):
    corpus, _, result = corpus_run
    tally.inputs_tried += len(corpus.cases)
    assert sorted(corpus.cases) == sorted(CASES), "every case of the issue is in the corpus"
    assert result.ok, f"the update failed: {result.error}"


@pytest.mark.parametrize("case", CASES)
def test_bronze_keeps_every_non_blank_line(case, corpus, bronze, tally):
    lost = 0
    for item in corpus.cases[case].files:
        expected = expected_lines(item.data)
        for number, raw in expected.items():
            rows = bronze.get((item.relpath, number), [])
            if len(rows) != 1:
                lost += 1
                continue
            row = rows[0]
            want = item.expect.get(number)
            if row["raw"] is not None:
                assert bytes(row["raw"]) == raw, f"{item.relpath}:{number} corrupt bytes kept as is"
                assert want != EVENT, f"{item.relpath}:{number} should have been parsed"
            else:
                assert want != CORRUPT, f"{item.relpath}:{number} should be a corrupt record"
                event = python_event(raw)
                assert event is not None, f"{item.relpath}:{number} typed, yet not a JSON object"
                if isinstance(event.get("event_id"), str):
                    assert row["event_id"] == event["event_id"]
        extra = {n for (path, n) in bronze if path == item.relpath} - set(expected)
        assert not extra, f"{item.relpath}: bronze rows for blank or missing lines {extra}"
    tally.rows_lost += lost
    assert lost == 0, f"{lost} landed lines of {case} are not in bronze exactly once"


@pytest.mark.parametrize("case", CASES)
def test_every_row_is_accounted_for(case, corpus, bronze, accounting, tally):
    outcomes, summary = accounting
    unaccounted = 0
    for item in corpus.cases[case].files:
        fixed = corpus.cases[case].outcomes.get(item.relpath)
        for number in expected_lines(item.data):
            found = outcomes.get((item.relpath, number), [])
            if len(found) != 1 or found[0] not in {"silver", "quarantine", "duplicate", "late"}:
                unaccounted += 1
            elif fixed is not None:
                assert found[0] == fixed, f"{item.relpath}:{number} is {found[0]}, not {fixed}"
    tally.rows_lost += unaccounted
    assert unaccounted == 0
    (total,) = summary
    assert total["identity_holds"], total.asDict()


def test_the_late_file_really_is_late_by_its_times(corpus):
    """The late file's fixed outcome follows from its times alone (plain Python)."""
    (late,) = [f for f in corpus.cases["late_partition_file"].files if f.relpath == LATE_FILE]
    siblings = [f for f in corpus.cases["late_partition_file"].files if f is not late]
    assert all(late.mtime_ms - s.mtime_ms >= 24 * 3_600_000 for s in siblings)


def test_the_good_batch_after_the_cases_reaches_silver(corpus_run, spark):
    corpus, sandbox, _ = corpus_run
    ids = {
        r[0]
        for r in spark.table(f"`{sandbox.database}`.`{config.SILVER_EVENTS}`")
        .select("event_id")
        .collect()
    }
    assert corpus.good_event_ids and corpus.good_event_ids <= ids


@pytest.mark.parametrize("case", CASES)
def test_sql_json_prints_every_bronze_row_escaped(case, corpus, bronze, sql_json, tally):
    rows, printed = sql_json
    assert printed == sum(len(v) for v in bronze.values()), "one JSON line per bronze row"
    missing = 0
    for item in corpus.cases[case].files:
        for number, raw in expected_lines(item.data).items():
            row = rows.get((item.relpath, number))
            if row is None:
                missing += 1
                continue
            if row["_corrupt_record"] is not None:
                assert row["_corrupt_record"] == raw.decode("utf-8", errors="backslashreplace")
    tally.rows_lost += missing
    assert missing == 0


def test_a_file_rewritten_after_ingestion_is_reported(corpus_run, lakehouse):
    corpus, sandbox, result = corpus_run
    assert result.ok and result.warnings == [], "nothing changed before the audit"
    (item,) = corpus.cases["rewritten_after_landing"].files
    path = corpus.landing / item.relpath
    original = path.read_bytes()
    try:
        path.write_bytes(original + original)
        os.utime(path, ns=((item.mtime_ms + 5000) * 1_000_000,) * 2)
        warnings = sandbox.runner(lakehouse).audit_landing()
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(item.mtime_ms * 1_000_000,) * 2)
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and "rewritten after bronze ingested it" in warnings[0]
    assert "NOT in bronze" in warnings[0]
    assert sandbox.runner(lakehouse).audit_landing() == [], "restored file: no warning"
