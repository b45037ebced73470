"""Helpers for tests that use the shared lakehouse: the real CLI in a new process, sandboxes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from clickstream.config import LocalSettings
from clickstream.teaching import comparable  # noqa: F401 (the crash tests compare with it)

REPO = Path(__file__).resolve().parents[1]
_SETTINGS = pytest.StashKey[LocalSettings]()
_SERVER = pytest.StashKey[object]()


def shared_settings(config: pytest.Config) -> LocalSettings:
    """The test session's one throwaway lakehouse home (tests and notebooks share it)."""
    if _SETTINGS not in config.stash:
        home = config._tmp_path_factory.mktemp("shared-lakehouse")  # type: ignore[attr-defined]
        config.stash[_SETTINGS] = LocalSettings(
            home=home, landing=home / "landing", database="clickstream"
        )
    return config.stash[_SETTINGS]


def shared_server(config: pytest.Config) -> object:
    """The session's one Spark Connect server, started on first use."""
    if _SERVER not in config.stash:
        from clickstream import server

        config.stash[_SERVER] = server.start(shared_settings(config))
    return config.stash[_SERVER]


def stop_shared_server(config: pytest.Config) -> None:
    if _SERVER in config.stash:
        from clickstream import server

        server.stop(shared_settings(config))
        del config.stash[_SERVER]


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    home: Path,
    database: str | None = None,
    landing: Path | None = None,
    timeout: float = 600,
) -> CliResult:
    """Run the real ``clickstream`` command in a new process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKSTREAM_")}
    env["CLICKSTREAM_HOME"] = str(home)
    if database:
        env["CLICKSTREAM_DATABASE"] = database
    if landing:
        env["CLICKSTREAM_LANDING"] = str(landing)
    proc = subprocess.run(
        [sys.executable, "-m", "clickstream", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class Sandbox:
    """One test's private corner of the shared home: its database and landing folder."""

    settings: LocalSettings
    database: str
    landing: Path

    def runner(self, lakehouse: object, **pipeline_settings: str) -> object:
        """A runner on this sandbox. Liquid clustering (OPTIMIZE after each update) is off
        unless a test asks for it: only the gold tests check it, and it costs every update."""
        from clickstream.runner import PipelineRunner

        settings = {"liquid_clustering": "false", **pipeline_settings}
        return PipelineRunner(
            lakehouse,  # type: ignore[arg-type]
            database=self.database,
            landing=self.landing,
            pipeline_settings=settings,
        )

    def cli(self, *args: str, timeout: float = 600) -> CliResult:
        return run_cli(
            *args,
            home=self.settings.home,
            database=self.database,
            landing=self.landing,
            timeout=timeout,
        )


# --- crash runs: `clickstream run` on a home of its own, killed at a fault point ------------


def crash_run(home: Path, fault: str | None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`clickstream run` on ``home`` (its own JVM), with ``fault`` armed if given.

    A session of its own: the fault kills the command's process groups, never pytest's.
    """
    from clickstream import faults

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKSTREAM_")}
    env["CLICKSTREAM_HOME"] = str(home)
    if fault:
        env[faults.ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "clickstream", "run", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )


def home_table_dir(home: Path, table: str) -> Path:
    """Where a home's default pipeline keeps ``table``."""
    return home / "warehouse" / "clickstream.db" / table
