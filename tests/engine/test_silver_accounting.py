"""Silver end to end on defect-rich producer data: every manifest line in its expected outcome.

Expected outcomes come from the producer's manifest (what was injected where) and plain Python
over the landed files, never from the project's own transforms.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from clickstream import config, quality
from clickstream.config import PipelineSettings
from producer import produce
from producer.manifest import read_manifest

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
RATES = {"all": 0.012}
MALFORMED = ("malformed_truncated", "malformed_not_json", "malformed_invalid_utf8")
# kind -> (outcome, failed drop rules) that the rules imply.
EXPECTED: dict[str | None, tuple[str, tuple[str, ...] | None]] = {
    None: ("silver", ()),
    "out_of_order": ("silver", ()),
    "drift_unknown_field": ("silver", ()),
    "drift_case_mismatch": ("silver", ()),
    "drift_type_mismatch_top": ("silver", ()),
    "drift_type_mismatch_nested": ("silver", ()),
    "duplicate": ("duplicate", ()),
    "late": ("late", ()),
    "rule_unknown_event_type": ("quarantine", ("known_event_type",)),
    "rule_missing_event_id": ("quarantine", ("has_event_id",)),
    "rule_negative_price": ("quarantine", ("non_negative_price_quantity",)),
    "rule_future_event_time": ("quarantine", ("event_time_not_in_future",)),
    # Nothing is typed on a corrupt line, so every rule on a typed column fails with it.
    **{
        kind: (
            "quarantine",
            ("known_event_type", "has_event_id", "parseable_event_time", "no_corrupt_record"),
        )
        for kind in MALFORMED
    },
}


def manifest_lines(landing: Path) -> dict[tuple[str, int], tuple[str | None, str | None]]:
    """(file, line) -> (defect kind or None, event_id) for every landed line."""
    out = {}
    for manifest in sorted((landing / "_manifests").glob("*.manifest.jsonl")):
        for record in read_manifest(manifest.read_bytes()):
            if record["record"] == "file":
                for number, (kind, event_id) in enumerate(
                    zip(record["kinds"], record["event_ids"], strict=True), start=1
                ):
                    out[(record["file"], number)] = (kind, event_id)
    return out


def landed_events(landing: Path) -> list[dict]:
    """Every landed line that parses as a JSON object (plain Python)."""
    events = []
    for path in sorted(landing.rglob("*.json")):
        for line in path.read_bytes().split(b"\n"):
            try:
                event = json.loads(line.decode("utf-8"))
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def token(value: str, key: str = config.DEMO_PII_KEY) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def run(shared_settings, lakehouse):
    """Two batches of defect-rich events (several files each), one update after each."""
    from lakehouse_testing import Sandbox

    database = "t_silver_accounting"
    landing = shared_settings.home / "landings" / database
    landing.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(shared_settings, database, landing)
    kw = {"defect_rates": RATES, "max_events_per_file": 100}
    first = produce(events=800, seed=21, sink=landing, start=START, **kw)
    runner = sandbox.runner(lakehouse)
    run1 = runner.run()
    assert run1.ok, run1.error
    second = produce(events=400, seed=22, sink=landing, start=START + timedelta(hours=3), **kw)
    run2 = runner.run()
    assert run2.ok, run2.error
    return {"sandbox": sandbox, "first": first, "second": second, "run1": run1, "run2": run2}


def table(spark, run, name):
    return spark.table(f"`{run['sandbox'].database}`.`{name}`")


def relpath(run, source_file: str) -> str:
    path = Path(unquote(urlparse(source_file).path))
    return path.relative_to(run["sandbox"].landing).as_posix()


@pytest.fixture(scope="module")
def accounting(run, spark):
    rows = table(spark, run, config.EVENT_ACCOUNTING).collect()
    return {(relpath(run, r["_source_file"]), r["_line_number"]): r for r in rows}


def test_every_manifest_line_lands_in_the_outcome_its_kind_implies(run, accounting):
    truth = manifest_lines(run["sandbox"].landing)
    assert set(accounting) == set(truth), "bronze rows == landed (non-blank) lines"
    kinds = Counter(kind for kind, _ in truth.values())
    assert all(kinds[k] > 0 for k in EXPECTED if k), f"every defect kind must occur: {kinds}"
    wrong = {}
    for key, (kind, _) in truth.items():
        outcome, rules = EXPECTED[kind]
        row = accounting[key]
        got = (row["outcome"], tuple(row["failed_rules"]))
        if got != (outcome, rules):
            wrong[key] = (kind, got)
    assert not wrong


def test_warn_rules_keep_the_row_and_count_it(run, accounting, spark):
    truth = manifest_lines(run["sandbox"].landing)
    drifted = {k for k, (kind, _) in truth.items() if kind and kind.startswith("drift_")}
    warned = {k for k, r in accounting.items() if "no_rescued_data" in r["warned_rules"]}
    assert warned == drifted
    from clickstream.transforms import silver

    rules = quality.silver_rules(PipelineSettings(landing_path="x"))
    counted = silver.expectation_metrics(table(spark, run, config.EVENT_ACCOUNTING), rules)
    metrics = {(r["_update_id"], r["rule"]): r["failed"] for r in counted.collect()}
    per_rule = Counter()
    for (_, rule), failed in metrics.items():
        per_rule[rule] += failed
    kinds = Counter(kind for kind, _ in truth.values())
    assert per_rule["no_rescued_data"] == sum(kinds[k] for k in kinds if k and "drift" in k)
    assert per_rule["event_time_not_in_future"] == kinds["rule_future_event_time"]
    assert per_rule["has_event_id"] == kinds["rule_missing_event_id"] + sum(
        kinds[k] for k in MALFORMED
    )
    assert set(metrics) == {
        (u, r.name)
        for u in (run["run1"].update_id, run["run2"].update_id)
        for r in rules
        if r.action != quality.FAIL
    }


def test_accounting_identity_per_update_and_in_total(run, spark):
    truth = manifest_lines(run["sandbox"].landing)
    kinds = Counter(kind for kind, _ in truth.values())
    from clickstream.transforms import silver

    counted = silver.accounting_summary(table(spark, run, config.EVENT_ACCOUNTING))
    summary = {r["_update_id"]: r for r in counted.collect()}
    assert set(summary) == {None, run["run1"].update_id, run["run2"].update_id}
    assert all(r["identity_holds"] for r in summary.values())
    total = summary[None]
    assert total["bronze_rows"] == len(truth)
    assert total["duplicates"] == kinds["duplicate"]
    assert total["late"] == kinds["late"]
    assert total["corrupt"] == sum(kinds[k] for k in MALFORMED)
    assert total["rescued"] == sum(kinds[k] for k in kinds if k and k.startswith("drift_"))
    assert total["unaccounted"] == total["conflicts"] == total["dropped_by_watermark"] == 0
    # Incremental: the second update ingested exactly the second batch's lines.
    assert summary[run["run2"].update_id]["bronze_rows"] == run["second"].events


def test_silver_tables_hold_exactly_their_rows(run, accounting, spark):
    truth = manifest_lines(run["sandbox"].landing)
    silver = table(spark, run, config.SILVER_EVENTS)
    ids = [r["event_id"] for r in silver.select("event_id").collect()]
    assert len(ids) == len(set(ids)), "each event_id once"
    expected_ids = {eid for key, (kind, eid) in truth.items() if EXPECTED[kind][0] == "silver"}
    assert set(ids) == expected_ids
    late = {
        (relpath(run, r["_source_file"]), r["_line_number"])
        for r in table(spark, run, config.SILVER_LATE_EVENTS).collect()
    }
    assert late == {k for k, (kind, _) in truth.items() if kind == "late"}
    quarantine = table(spark, run, config.SILVER_QUARANTINE).collect()
    assert {(relpath(run, r["_source_file"]), r["_line_number"]) for r in quarantine} == {
        k for k, (kind, _) in truth.items() if EXPECTED[kind][0] == "quarantine"
    }


def test_user_changes_hold_every_valid_profile_update_once(run, spark):
    updates = {
        e["event_id"]: e
        for e in landed_events(run["sandbox"].landing)
        if e.get("event_type") == "profile_update" and e.get("event_id")
    }
    assert updates, "the producer writes profile updates"
    rows = table(spark, run, config.SILVER_USER_CHANGES).collect()
    assert sorted(r["event_id"] for r in rows) == sorted(updates)
    for r in rows:
        event = updates[r["event_id"]]
        assert r["user_key"] == token(event["user"]["user_id"])
        assert r["tier"] == event["profile"]["tier"]


def test_no_raw_email_or_ip_in_silver_and_tokens_are_keyed(run, spark):
    from pyspark.sql import functions as F

    events = landed_events(run["sandbox"].landing)
    emails = {e["user"]["email"] for e in events if isinstance(e.get("user"), dict)} - {None}
    ips = {e["geo"]["ip"] for e in events if isinstance(e.get("geo"), dict)} - {None}
    assert len(emails) > 10 and len(ips) > 10
    for name in config.LAYER_TABLES["silver"]:
        frame = table(spark, run, name)
        texts = [r[0] for r in frame.select(F.to_json(F.struct("*"))).collect()]
        assert texts, name
        leaked = {v for v in emails | ips for t in texts if f'"{v}"' in t}
        assert not leaked, f"{name} holds raw personal data: {sorted(leaked)[:3]}"
    # Same key and value, same token: the silver token is the HMAC of the landed email.
    silver = table(spark, run, config.SILVER_EVENTS)
    row = silver.where("user.email IS NOT NULL").select("event_id", "user.email").first()
    source = next(e for e in events if e.get("event_id") == row["event_id"])
    assert row["email"] == token(source["user"]["email"])
