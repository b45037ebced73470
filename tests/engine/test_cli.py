"""The `clickstream` command: errors are one line with a non-zero exit, never a stack trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from lakehouse_testing import run_cli

from clickstream import config
from clickstream.config import LocalSettings
from clickstream.locks import FileLock
from clickstream.query import stored_tables


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("clickstream: ")]
    assert lines, result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_no_data_landed_yet(sandbox, shared_server):
    result = sandbox.cli("run")
    assert result.code == 1
    assert "no data landed yet in" in one_line_error(result)


def test_unknown_table(sandbox, shared_server, spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{sandbox.database}`")
    result = sandbox.cli("sql", "SELECT * FROM no_such_table")
    assert result.code == 1
    assert one_line_error(result) == (
        f"clickstream: unknown table `no_such_table` in database '{sandbox.database}'"
    )


def test_unknown_database(sandbox, shared_server):
    result = sandbox.cli("sql", "SELECT * FROM bronze_events")
    assert result.code == 1
    assert "has no tables yet: run `clickstream run` first" in one_line_error(result)


def test_sql_json_keeps_nulls_and_escapes(sandbox, shared_server, spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{sandbox.database}`")
    query = (
        "SELECT NULL AS missing, 'tab\\there' AS ctrl, 'café' AS accent, 1.5D AS x, "
        "named_struct('a', CAST(NULL AS INT)) AS s"
    )
    result = sandbox.cli("sql", query, "--json")
    assert result.code == 0, result.stderr
    assert result.stdout.isascii()
    assert json.loads(result.stdout) == {
        "missing": None,
        "ctrl": "tab\there",
        "accent": "café",
        "x": 1.5,
        "s": {"a": None},
    }


def test_two_clients_query_one_after_the_other(sandbox, shared_server, spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{sandbox.database}`")
    for _ in range(2):
        result = sandbox.cli("sql", "SELECT 42 AS answer", "--json")
        assert result.code == 0, result.stderr
        assert json.loads(result.stdout) == {"answer": 42}


def test_runs_of_one_pipeline_are_serialized(sandbox, shared_server):
    (sandbox.landing / "a.json").write_text('{"event_id": "x"}\n')
    storage = sandbox.settings.pipeline_storage(sandbox.database)
    with FileLock(storage / "run.lock").acquire({"kind": "pipeline update"}):
        result = sandbox.cli("run")
    assert result.code == 1
    assert f"an update of the pipeline on database '{sandbox.database}' is already running" in (
        one_line_error(result)
    )
    assert f"(process {os.getpid()})" in one_line_error(result)


HOLD_HOME = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from clickstream.locks import FileLock
    FileLock(Path(sys.argv[1])).acquire({"kind": "in-process Spark session"})
    print("locked", flush=True)
    time.sleep(600)
    """
)


def test_home_in_use_by_another_live_process(tmp_path):
    settings = LocalSettings(
        home=tmp_path / "home", landing=tmp_path / "home" / "landing", database="d"
    )
    settings.home.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_HOME, str(settings.owner_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = run_cli("sql", "SELECT 1", home=settings.home)
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 1
    assert one_line_error(result) == (
        f"clickstream: the lakehouse home {settings.home} is in use by process {holder.pid} "
        "(in-process Spark session); wait for it to finish, or run `clickstream server start` "
        "so that commands share one server"
    )


def test_stale_lock_is_taken_over(tmp_path):
    """A lock file left by a dead process does not block: the command runs (in-process)."""
    home = tmp_path / "home"
    home.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / "owner.lock").write_text(
        json.dumps({"pid": dead.pid, "kind": "in-process Spark session"})
    )
    result = run_cli("sql", "SELECT 7 AS seven", "--json", home=home)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {"seven": 7}
    takeover = f"took over the lakehouse home from process {dead.pid}, which is no longer running"
    assert f"clickstream: {takeover}" in result.stderr
    # The metastore of that home is the persistent Derby catalog the settings point at.
    assert (home / "metastore_db").is_dir()
    assert json.loads((home / "owner.lock").read_text() or "{}") == {}, "lock released at exit"


def test_unusable_home(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("sql", "SELECT 1", home=blocker / "home")
    assert result.code == 1
    assert one_line_error(result).startswith(
        f"clickstream: the lakehouse home {blocker / 'home'} is not usable"
    )


@pytest.mark.parametrize("action,code", [("status", 3)])
def test_server_status_without_server(tmp_path, action, code):
    result = run_cli("server", action, home=tmp_path / "idle")
    assert result.code == code
    assert result.stdout.strip() == f"no server running for {tmp_path / 'idle'}"


def test_server_status_with_the_shared_server(shared_settings, shared_server):
    result = run_cli("server", "status", home=shared_settings.home)
    assert result.code == 0
    assert result.stdout.startswith(f"server running for {shared_settings.home}: pid ")
    assert "sc://127.0.0.1:" in result.stdout


def test_reset_asks_first_and_deletes_the_home(tmp_path):
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    refused = run_cli("reset", home=home)
    assert refused.code == 1
    assert one_line_error(refused) == (
        f"clickstream: refusing to delete {home} without confirmation: pass --yes"
    )
    assert home.is_dir()
    done = run_cli("reset", "--yes", home=home)
    assert done.code == 0, done.stderr
    assert done.stdout.strip() == f"deleted {home}"
    assert not home.exists()


def test_continuous_runs_updates_until_told_to_stop(sandbox, shared_server, spark):
    from datetime import UTC, datetime

    from producer import produce

    produce(
        events=120,
        seed=5,
        sink=sandbox.landing,
        clean=True,
        start=datetime(2026, 11, 2, tzinfo=UTC),
    )
    # The streaming layers only, as a user keeps bronze and silver fresh between gold refreshes.
    streaming = ",".join(config.STREAMING_TABLES)
    result = sandbox.cli(
        "run", "--continuous", "--refresh", streaming, "--interval", "0", "--max-updates", "2"
    )
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(f"running an update of {streaming.replace(',', ', ')} every")
    outcomes = [line for line in result.stdout.splitlines() if line.startswith("update ")]
    assert len(outcomes) == 2 and all(" completed in " in line for line in outcomes)
    # The second update found no new file: bronze holds each line once.
    assert spark.table(f"`{sandbox.database}`.bronze_events").count() == 120
    # Every update kept to its selection: no materialized view was computed.
    stored = set(stored_tables(spark, sandbox.database))
    assert set(config.STREAMING_TABLES) <= stored
    assert stored - set(config.STREAMING_TABLES) <= {config.EVENT_LOG_TABLE}, stored


def test_continuous_full_refresh_is_refused_in_one_line(sandbox):
    result = sandbox.cli("run", "--continuous", "--full-refresh")
    assert result.code == 2
    assert one_line_error(result).startswith("clickstream: --continuous and --full-refresh")
