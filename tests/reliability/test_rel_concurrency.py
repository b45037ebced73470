"""Concurrency: a run on a busy pipeline fails fast and harms nothing; the producer writing while
`clickstream run --continuous` runs loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

from lakehouse_testing import REPO

from clickstream import config, quality
from clickstream.config import PipelineSettings
from clickstream.observability.landing_audit import local_path
from clickstream.query import stored_tables
from clickstream.transforms import silver
from producer.manifest import read_manifest

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from clickstream.locks import FileLock
    FileLock(Path(sys.argv[1])).acquire({"kind": "pipeline update"})
    print("locked", flush=True)
    time.sleep(600)
    """
)


def counts(spark, database: str) -> dict[str, tuple[int, int]]:
    out = {}
    for table in stored_tables(spark, database):
        name = f"`{database}`.`{table}`"
        version = spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").collect()[0]["version"]
        out[name] = (version, spark.table(name).count())
    return out


def test_a_second_run_on_a_busy_pipeline_fails_fast_and_harms_nothing(corpus_run, spark, tally):
    _, sandbox, result = corpus_run
    assert result.ok, result.error
    before = counts(spark, sandbox.database)
    lock = sandbox.settings.pipeline_storage(sandbox.database) / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = sandbox.cli("run", timeout=120)
    finally:
        holder.kill()
        holder.wait()
    tally.faults_injected += 1
    assert second.code == 1
    assert second.stderr.strip() == (
        f"clickstream: an update of the pipeline on database '{sandbox.database}' is already "
        f"running (process {holder.pid}); runs of one pipeline are serialized"
    )
    assert counts(spark, sandbox.database) == before, "no table changed"


def produced_lines(landing: Path) -> dict[tuple[str, int], str | None]:
    """(file, line) -> event id for every line the producer wrote (its manifests)."""
    out = {}
    for manifest in sorted((landing / "_manifests").glob("*.manifest.jsonl")):
        for record in read_manifest(manifest.read_bytes()):
            if record["record"] == "file":
                for number, event_id in enumerate(record["event_ids"], start=1):
                    out[(record["file"], number)] = event_id
    return out


def test_producer_writing_during_continuous_runs_loses_and_doubles_nothing(
    shared_settings, shared_server, spark, tally
):
    database = "t_rel_continuous"
    landing = shared_settings.home / "landings" / database
    landing.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKSTREAM_")}
    env.update(
        CLICKSTREAM_HOME=str(shared_settings.home),
        CLICKSTREAM_DATABASE=database,
        CLICKSTREAM_LANDING=str(landing),
    )
    command = [sys.executable, "-m", "clickstream"]
    # The streaming layers only: exactly-once is their guarantee, and the materialized views
    # (recomputed whole by every update) would only make each update longer.
    streaming = ",".join(config.STREAMING_TABLES)
    continuous = subprocess.Popen(
        [*command, "run", "--continuous", "--refresh", streaming, "--interval", "3", "--quiet"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    outcomes: list[str] = []
    after_producer = threading.Event()
    producer_done = threading.Event()

    def read_outcomes() -> None:
        # An update running when the producer finished may have missed its last file; the
        # second one to end after that started after it, so it has seen every file: stop then.
        ended_after = 0
        for line in continuous.stdout:
            if line.startswith("update "):
                outcomes.append(line.strip())
                ended_after += producer_done.is_set()
                if ended_after >= 2:
                    after_producer.set()
                    break

    reader = threading.Thread(target=read_outcomes, daemon=True)
    reader.start()
    try:
        start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).isoformat()
        producer = subprocess.run(
            [*command, "produce", "--no-progress", "--out", str(landing), "--events", "900",
             "--batches", "3", "--rate", "90", "--max-events-per-file", "100", "--seed", "12",
             "--start", start],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert producer.returncode == 0, producer.stderr
        producer_done.set()
        assert after_producer.wait(timeout=420), f"no update after the producer: {outcomes}"
    finally:
        continuous.send_signal(signal.SIGINT)
        try:
            code = continuous.wait(timeout=180)
        except subprocess.TimeoutExpired:
            continuous.kill()
            code = continuous.wait()
        reader.join(timeout=10)
    tally.faults_injected += 1  # the SIGINT that stops the loop
    assert code in (0, 130), continuous.stderr.read()
    assert outcomes and all(" completed in " in line for line in outcomes), outcomes
    # Every produced line is in bronze exactly once, and has exactly one outcome.
    truth = produced_lines(landing)
    bronze = spark.table(f"`{database}`.`{config.BRONZE_EVENTS}`")
    rows = bronze.select("_source_file", "_line_number").collect()
    seen: dict[tuple[str, int], int] = {}
    for row in rows:
        key = (local_path(row[0]).relative_to(landing).as_posix(), row[1])
        seen[key] = seen.get(key, 0) + 1
    lost = sum(1 for key in truth if seen.get(key, 0) == 0)
    doubled = sum(n - 1 for n in seen.values() if n > 1)
    tally.inputs_tried += len(truth)
    tally.rows_lost += lost
    assert (lost, doubled, set(seen) - set(truth)) == (0, 0, set())
    rules = quality.silver_rules(PipelineSettings(landing_path="-"))
    table = lambda name: spark.table(f"`{database}`.`{name}`")  # noqa: E731
    accounted = silver.accounting(
        bronze,
        table(config.SILVER_EVENTS),
        table(config.SILVER_QUARANTINE),
        table(config.SILVER_LATE_EVENTS),
        rules,
    )
    outcome_counts = {r[0]: r[1] for r in accounted.groupBy("outcome").count().collect()}
    assert sum(outcome_counts.values()) == len(truth)
    assert set(outcome_counts) <= {"silver", "quarantine", "duplicate", "late"}, outcome_counts
