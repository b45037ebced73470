"""One long-lived local Spark Connect server per lakehouse home.

Starting a JVM costs ~20 s; a server started once lets the CLI, notebooks and tests connect in
about a second, and keeps Derby's single-owner rule (the server is the owner).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clickstream.config import LocalSettings
from clickstream.engine import (
    EngineError,
    acquire_home,
    announce_jar_download,
    free_port,
    jvm_environment,
    port_open,
    spark_home,
    write_conf_dir,
)
from clickstream.locks import pid_alive

CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    home: str
    log: str

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"


def status(settings: LocalSettings) -> ServerInfo | None:
    """The home's server if it is alive and listening, else None (a stale record is removed)."""
    try:
        info = ServerInfo(**json.loads(settings.server_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if pid_alive(info.pid) and port_open(info.port):
        return info
    if not pid_alive(info.pid):
        settings.server_file.unlink(missing_ok=True)
    return None


def connect(info: ServerInfo) -> Any:
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(info.url).create()


def start(settings: LocalSettings, timeout_s: float = 300.0) -> ServerInfo:
    """Start the server in the background (idempotent) and wait until it accepts clients."""
    running = status(settings)
    if running is not None:
        return running
    settings.home.mkdir(parents=True, exist_ok=True)
    owner = acquire_home(settings, "Spark Connect server")
    try:
        write_conf_dir(settings)
        announce_jar_download()
        port = free_port()
        log_path = settings.home / "logs" / "connect-server.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(spark_home() / "bin" / "spark-submit"),
            "--class",
            CONNECT_SERVER_CLASS,
            "--name",
            f"clickstream-connect ({settings.home})",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
        ]
        with open(log_path, "ab") as log:
            # The JVM inherits the owner lock's descriptor, so the home stays locked exactly as
            # long as the server lives, whatever happens to this process.
            proc = subprocess.Popen(
                command,
                env=jvm_environment(settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(owner.fd,) if owner.fd is not None else (),
                cwd=settings.home,
            )
        owner.rewrite({"pid": proc.pid, "kind": "Spark Connect server", "since": time.time()})
        info = ServerInfo(pid=proc.pid, port=port, home=str(settings.home), log=str(log_path))
        deadline = time.monotonic() + timeout_s
        while not port_open(port):
            if proc.poll() is not None:
                raise EngineError(
                    f"the Spark Connect server exited with code {proc.returncode}; see {log_path}"
                )
            if time.monotonic() > deadline:
                _kill_group(proc.pid)
                raise EngineError(f"the Spark Connect server did not start in {timeout_s:.0f} s")
            time.sleep(0.5)
        settings.server_file.write_text(json.dumps(asdict(info)))
        return info
    finally:
        # Our copy of the descriptor; the server process keeps its own.
        if owner.fd is not None:
            os.close(owner.fd)
            owner.fd = None


def stop(settings: LocalSettings, timeout_s: float = 60.0) -> bool:
    """Stop the home's server; True if one was running."""
    try:
        info = ServerInfo(**json.loads(settings.server_file.read_text()))
    except (OSError, ValueError, TypeError):
        return False
    was_running = pid_alive(info.pid)
    if was_running:
        _kill_group(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(info.pid) and time.monotonic() < deadline:
            _reap(info.pid)
            time.sleep(0.2)
        if pid_alive(info.pid):
            _kill_group(info.pid, signal.SIGKILL)
    settings.server_file.unlink(missing_ok=True)
    return was_running


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _reap(pid: int) -> None:
    """Collect our own child's exit status, so a stopped server isn't left as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def describe(info: ServerInfo | None, home: Path) -> str:
    if info is None:
        return f"no server running for {home}"
    return f"server running for {home}: pid {info.pid}, {info.url}, log {info.log}"

