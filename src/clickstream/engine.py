"""The local engine: Spark Connect + Delta + a persistent Derby catalog under one home.

Static Spark settings (catalog implementation, warehouse, SQL extensions, jars) only take effect
before the JVM starts; set later, Spark ignores them with a warning. So they are written to the
home's ``SPARK_CONF_DIR`` (``spark-defaults.conf``) and every JVM of this home — the in-process
server of a single command or the long-lived server of ``clickstream server start`` — reads the
same file at start-up.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clickstream import faults
from clickstream.config import LocalSettings
from clickstream.locks import FileLock, LockBusy, pid_alive

SCALA_VERSION = "2.13"
LOCAL_CORES = 2

LOG4J2_PROPERTIES = """\
# Written by clickstream: errors only, so notebooks and the CLI stay readable.
rootLogger.level = error
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.derby.name = org.apache.hadoop.hive
logger.derby.level = off
"""


class EngineError(Exception):
    """A failure the user can act on; its message is one line."""


def delta_package() -> str:
    """Maven coordinates of the Delta jar matching the installed delta-spark and pyspark."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    delta_version = importlib.metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_VERSION}:{delta_version}"


def cache_dir() -> Path:
    """The per-user cache shared by every home (jars, compiled classes)."""
    return Path.home() / ".cache" / "lakeflow-clickstream"


def ivy_dir() -> Path:
    """Where Ivy caches the Delta jars: per user, shared by every home."""
    custom = os.environ.get("CLICKSTREAM_IVY_DIR")
    if custom:
        return Path(custom).expanduser().absolute()
    return cache_dir() / "ivy"


def delta_jars_cached() -> bool:
    group, artifact, version = delta_package().split(":")
    return (ivy_dir() / "jars" / f"{group}_{artifact}-{version}.jar").exists()


def jar_settings() -> dict[str, str]:
    """Delta's jars: resolved by Ivy from Maven Central once, then taken from the cache.

    Naming the cached files directly skips Ivy (and its console report) on every later start;
    like ``--packages``, they go on the user class path, so Spark's own libraries win conflicts.
    """
    if delta_jars_cached():
        jars = sorted(str(p) for p in (ivy_dir() / "jars").glob("*.jar"))
        return {"spark.jars": ",".join(jars)}
    return {"spark.jars.packages": delta_package(), "spark.jars.ivy": str(ivy_dir())}


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def spark_defaults(settings: LocalSettings) -> dict[str, str]:
    """Every static setting of the home's JVMs."""
    derby_url = f"jdbc:derby:;databaseName={settings.metastore};create=true"
    return {
        "spark.master": f"local[{LOCAL_CORES}]",
        **jar_settings(),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.sources.default": "delta",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": settings.warehouse.as_uri(),
        "spark.hadoop.javax.jdo.option.ConnectionURL": derby_url,
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
        # derby.log goes into the home instead of the current directory.
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={settings.home}",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": settings.spark_events.as_uri(),
        # Plain JSON lines, so the observability code can read streaming progress per flow.
        "spark.eventLog.compress": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Sized for a 2-core laptop: Delta's default of 50 snapshot partitions costs seconds.
        "spark.sql.shuffle.partitions": str(LOCAL_CORES),
        "spark.default.parallelism": str(LOCAL_CORES),
        "spark.databricks.delta.snapshotPartitions": str(LOCAL_CORES),
        # VACUUM lists a table's files in this many tasks (default 10,000): ~18 s per VACUUM of
        # a small table on 2 cores, and every task's end in the Spark event log.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(4 * LOCAL_CORES),
        # Liquid clustering: a clustered cube of 64 MB or more is left alone by the next OPTIMIZE
        # (Delta's default merges new rows into far bigger cubes): measured on 1M events, the
        # incremental update's clustering of bronze and silver went from 29.4 s (a rewrite of
        # both tables) to 8.0 s (the new files only).
        "spark.databricks.delta.optimize.clustering.mergeStrategy.minCubeSize.threshold": str(
            64 * 1024**2
        ),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": os.environ.get("CLICKSTREAM_DRIVER_MEMORY", "4g"),
        # Python UDFs of the pipeline run in this interpreter's environment.
        "spark.pyspark.python": sys.executable,
        "spark.sql.connect.serverStacktrace.enabled": "false",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        **faults.jvm_settings(cache_dir() / "faults"),
    }


def write_conf_dir(settings: LocalSettings) -> Path:
    """Write the home's SPARK_CONF_DIR (only files whose content changed)."""
    conf_dir = settings.conf_dir
    for folder in (conf_dir, settings.warehouse, settings.spark_events, settings.pipelines):
        folder.mkdir(parents=True, exist_ok=True)
    defaults = "".join(f"{k} {v}\n" for k, v in spark_defaults(settings).items())
    for name, text in (("spark-defaults.conf", defaults), ("log4j2.properties", LOG4J2_PROPERTIES)):
        target = conf_dir / name
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    return conf_dir


def check_home_usable(settings: LocalSettings) -> None:
    """Fail with one line when the home can't be a folder we write to."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        probe = settings.home / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise EngineError(
            f"the lakehouse home {settings.home} is not usable: {exc.strerror or exc}"
        ) from None


CONNECT_CLIENT_VARIABLES = (
    "SPARK_REMOTE",
    "SPARK_LOCAL_REMOTE",
    "SPARK_CONNECT_MODE_ENABLED",
    "SPARK_CONNECT_AUTHENTICATE_TOKEN",
)


def jvm_environment(settings: LocalSettings) -> dict[str, str]:
    """Environment variables for a JVM of this home."""
    env = dict(os.environ)
    env["SPARK_CONF_DIR"] = str(settings.conf_dir)
    env["SPARK_HOME"] = str(spark_home())
    env["PYSPARK_PYTHON"] = sys.executable
    for key in CONNECT_CLIENT_VARIABLES:
        env.pop(key, None)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def busy_message(settings: LocalSettings, holder: dict[str, Any]) -> str:
    what = holder.get("kind", "a Spark session")
    return (
        f"the lakehouse home {settings.home} is in use by process {holder.get('pid', '?')} "
        f"({what}); wait for it to finish, or run `clickstream server start` so that "
        "commands share one server"
    )


def acquire_home(settings: LocalSettings, kind: str) -> FileLock:
    """Become the one owner of the home's metastore (Derby allows one JVM)."""
    try:
        lock = FileLock(settings.owner_file).acquire({"kind": kind})
    except LockBusy as busy:
        raise EngineError(busy_message(settings, busy.holder)) from None
    if lock.took_over_from and not pid_alive(lock.took_over_from):
        print(
            f"clickstream: took over the lakehouse home from process {lock.took_over_from}, "
            "which is no longer running",
            file=sys.stderr,
        )
    return lock


@dataclass
class Lakehouse:
    """A Spark Connect session on a lakehouse home, in-process or through the home's server."""

    settings: LocalSettings
    spark: Any
    mode: str
    _owner: FileLock | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: LocalSettings | None = None, mode: str = "auto") -> Lakehouse:
        """Connect to the home's server if one runs, else start an in-process server.

        ``mode`` is ``auto``, ``server`` (fail unless a server runs) or ``in-process``.
        """
        from clickstream import server

        settings = settings or LocalSettings.from_env()
        check_home_usable(settings)
        info = server.status(settings)
        if info is not None and mode != "in-process":
            return cls(settings, server.connect(info), "server")
        if mode == "server":
            raise EngineError(
                f"no server is running for {settings.home}: `clickstream server start`"
            )
        return cls.in_process(settings)

    @classmethod
    def in_process(cls, settings: LocalSettings) -> Lakehouse:
        owner = acquire_home(settings, "in-process Spark session")
        try:
            write_conf_dir(settings)
            announce_jar_download()
            spark = start_in_process(settings)
        except BaseException:
            owner.release()
            raise
        return cls(settings, spark, "in-process", owner)

    def close(self) -> None:
        """Stop the in-process server (a shared server keeps running)."""
        try:
            if self.mode == "in-process":
                stop_in_process(self.spark)
            else:
                self.spark.stop()
        finally:
            if self._owner is not None:
                self._owner.release()
                self._owner = None

    def __enter__(self) -> Lakehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def announce_jar_download() -> None:
    if not delta_jars_cached():
        print(
            f"clickstream: first run — downloading the Delta Lake jars ({delta_package()}) "
            f"from Maven Central into {ivy_dir()}; later runs use the cache",
            file=sys.stderr,
        )


def start_in_process(settings: LocalSettings) -> Any:
    """Start Spark Connect inside this Python process (its JVM is our child)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    env = jvm_environment(settings)
    for key in ("SPARK_CONF_DIR", "SPARK_HOME", "PYSPARK_PYTHON"):
        os.environ[key] = env[key]
    # Left over from a Spark Connect client in this (or a parent) process, these would make
    # pyspark refuse to start a local server; the token must be this server's own.
    for key in CONNECT_CLIENT_VARIABLES:
        os.environ.pop(key, None)
    # A port of our own (pyspark's local mode always takes 15002), so in-process servers never
    # clash with each other or with a shared server.
    port = free_port()
    try:
        RemoteSparkSession._start_connect_server(
            f"local[{LOCAL_CORES}]", {"spark.connect.grpc.binding.port": str(port)}
        )
        # Tells pyspark that stop() should also stop the local server, as in its local mode.
        os.environ["SPARK_LOCAL_REMOTE"] = "1"
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        return RemoteSparkSession.builder.remote(f"sc://localhost:{port}").getOrCreate()
    except Exception as exc:
        raise EngineError(f"could not start the local Spark engine: {first_line(exc)}") from exc


def stop_in_process(spark: Any) -> None:
    """Stop the client, then the JVM behind it, so the next session can own Derby."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession as ClassicSession

    spark.stop()
    classic = getattr(ClassicSession, "_instantiatedSession", None)
    if classic is not None:
        classic.stop()
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        proc = getattr(gateway, "proc", None)
        if proc is not None:
            # The JVM's gateway exits when its stdin closes; then Derby's lock is free.
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        SparkContext._gateway = None
        SparkContext._jvm = None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
