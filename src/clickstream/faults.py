"""The project's one fault-injection hook: kill the whole command at a named point.

``CLICKSTREAM_FAULT=<point>[@<nth>]`` arms a point; the ``nth`` time (default: the first) the
running command reaches it, every process of the command is killed with SIGKILL, at once and
without clean-up: the Python CLI, its in-process JVM and Spark's Python workers. That is the crash
an exactly-once pipeline must survive: the next run must end with the rows of an uninterrupted one.

The command's processes live in more than one process group (Spark's Python worker daemon makes
a group of its own), so the command that arms a fault records its group in
``CLICKSTREAM_FAULT_GROUPS``, which every child inherits, and a point kills every recorded group
and its own. Hits are counted in a file under ``CLICKSTREAM_FAULT_DIR``, because the points are
reached in different processes (and in the JVM). Unarmed, a point costs one comparison.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

ENV = "CLICKSTREAM_FAULT"
GROUPS_ENV = "CLICKSTREAM_FAULT_GROUPS"
DIR_ENV = "CLICKSTREAM_FAULT_DIR"

BRONZE_PARSE_LINE = "bronze.parse-line"
SILVER_EVENTS_CHECKPOINT_COMMIT = "silver_events.checkpoint-commit"
UPDATE_STREAMING_TABLES_DONE = "update.streaming-tables-done"
GOLD_CLUSTERING = "gold.clustering"

# Every named point and where the command is when it dies there.
POINTS: dict[str, str] = {
    BRONZE_PARSE_LINE: "a Spark Python worker parsing a landed line for bronze: the micro-batch's "
    "offsets are logged, its Delta commit is not",
    SILVER_EVENTS_CHECKPOINT_COMMIT: "the JVM, after silver_events' Delta commit of a "
    "micro-batch and before the streaming checkpoint marks that batch done",
    UPDATE_STREAMING_TABLES_DONE: "the runner, after every streaming table of the update has "
    "committed and before any materialized view is computed",
    GOLD_CLUSTERING: "the runner, after the update's gold tables are written, while the local "
    "liquid-clustering step runs: the nth gold table clustered and optimized, the rest not yet",
}
# Points reached inside the JVM (see jvm_settings).
JVM_POINTS = frozenset({SILVER_EVENTS_CHECKPOINT_COMMIT})


class FaultConfigError(ValueError):
    """CLICKSTREAM_FAULT names no known point, or the command can't be killed safely."""


@dataclass(frozen=True)
class Fault:
    point: str
    nth: int = 1


def parse(value: str) -> Fault:
    """``point[@nth]`` -> Fault; refuses unknown points with the list of known ones."""
    point, _, nth_text = value.strip().partition("@")
    if point not in POINTS:
        known = ", ".join(sorted(POINTS))
        raise FaultConfigError(f"{ENV}={value!r} names no fault point; known points: {known}")
    try:
        nth = int(nth_text) if nth_text else 1
    except ValueError:
        nth = 0
    if nth < 1:
        raise FaultConfigError(f"{ENV}={value!r}: the part after @ must be a whole number >= 1")
    return Fault(point, nth)


def armed_fault() -> Fault | None:
    value = os.environ.get(ENV)
    return parse(value) if value else None


def arm_command(fault_dir: Path) -> Fault | None:
    """Called once by a command at start: record its process group and reset the hit counters.

    Refuses to arm unless the command leads its own process group: killing the group of a
    command started from a shell or a test would kill the shell or the test too.
    """
    fault = armed_fault()
    if fault is None:
        return None
    if os.getpgrp() != os.getpid():
        raise FaultConfigError(
            f"{ENV} is set, but this command does not lead its own process group; start it "
            "with setsid (or start_new_session=True) so that the fault kills only the command"
        )
    fault_dir.mkdir(parents=True, exist_ok=True)
    for old in fault_dir.glob("*.hits"):
        old.unlink()
    os.environ[DIR_ENV] = str(fault_dir)
    groups = {g for g in os.environ.get(GROUPS_ENV, "").split(",") if g}
    os.environ[GROUPS_ENV] = ",".join(sorted(groups | {str(os.getpgrp())}))
    global _ARMED
    _ARMED = fault
    return fault


def hits_file(point: str) -> Path | None:
    folder = os.environ.get(DIR_ENV)
    return Path(folder) / f"{point}.hits" if folder else None


def hits(point: str) -> int:
    """How many times ``point`` was reached since the command armed it."""
    path = hits_file(point)
    return path.stat().st_size if path is not None and path.exists() else 0


def reached(point: str) -> None:
    """Mark that the command reached ``point``; kill the command if this is the armed hit."""
    if _ARMED is None or _ARMED.point != point:
        return
    path = hits_file(point)
    if path is None:
        return
    # One byte per hit, appended atomically, so hits from several workers are all counted.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, b".")
        count = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if count >= _ARMED.nth:
        kill_command()


def kill_command() -> None:
    """SIGKILL every recorded process group of the command, this process's own group last."""
    own = os.getpgrp()
    groups = {int(g) for g in os.environ.get(GROUPS_ENV, "").split(",") if g}
    for group in sorted(groups - {own}):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    os.killpg(own, signal.SIGKILL)


def jvm_settings(classes_dir: Path) -> dict[str, str]:
    """Static JVM settings for an armed JVM point: our checkpoint file manager on the classpath.

    Empty unless the armed point lives in the JVM, so normal runs use Spark's own manager.
    """
    fault = armed_fault()
    if fault is None or fault.point not in JVM_POINTS:
        return {}
    from clickstream import jvm

    return {
        "spark.driver.extraClassPath": str(jvm.compiled_classes(classes_dir)),
        "spark.sql.streaming.checkpointFileManagerClass": jvm.CHECKPOINT_FILE_MANAGER,
    }


try:
    _ARMED: Fault | None = armed_fault()
except FaultConfigError:
    # A worker never raises at import; the command itself refused the setting at start.
    _ARMED = None
