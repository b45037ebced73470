"""The fault-injection hook itself, without Spark: parsing, refusals, and the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lakehouse_testing import REPO

from clickstream import faults


def test_a_point_and_its_nth_hit_are_parsed() -> None:
    assert faults.parse("bronze.parse-line") == faults.Fault("bronze.parse-line", 1)
    assert faults.parse("update.streaming-tables-done@3") == faults.Fault(
        "update.streaming-tables-done", 3
    )


@pytest.mark.parametrize("value", ["bronze.parse-lines", "bronze.parse-line@0", "x@y"])
def test_a_bad_setting_is_refused_with_the_known_points(value: str) -> None:
    with pytest.raises(faults.FaultConfigError) as error:
        faults.parse(value)
    assert value in str(error.value)


def cli(env: dict[str, str], *args: str, new_session: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clickstream", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        start_new_session=new_session,
    )


def test_the_command_refuses_an_unknown_point_in_one_line(tmp_path: Path) -> None:
    proc = cli({"CLICKSTREAM_HOME": str(tmp_path), faults.ENV: "silver.nowhere"}, "run")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    for point in faults.POINTS:
        assert point in lines[0]


def test_the_command_refuses_to_arm_inside_a_process_group_it_does_not_lead(
    tmp_path: Path,
) -> None:
    # Killing the group of a command started like this would kill the caller (here: pytest).
    proc = cli(
        {"CLICKSTREAM_HOME": str(tmp_path), faults.ENV: faults.BRONZE_PARSE_LINE},
        "run",
        new_session=False,
    )
    assert proc.returncode == 2
    assert "does not lead its own process group" in proc.stderr


# A command that arms the hook, a child in its group, and a child in a NEW group (like Spark's
# Python worker daemon) that reaches the point N times and, if still alive, writes its pid.
SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    from clickstream import faults
    faults.arm_command(Path(sys.argv[1]))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    worker = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\\n"
         "from clickstream import faults\\n"
         "from pathlib import Path\\n"
         "for _ in range(int(sys.argv[1])):\\n"
         "    faults.reached(faults.BRONZE_PARSE_LINE)\\n"
         "Path(sys.argv[2]).write_text(str(os.getpid()))\\n"
         "time.sleep(600)\\n", sys.argv[2], sys.argv[3]],
        start_new_session=True)
    print(os.getpid(), sleeper.pid, flush=True)
    time.sleep(600)
    """
)


def worker_file(tmp_path: Path) -> Path:
    return tmp_path / "worker.pid"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of ours stays a zombie until reaped; /proc tells the difference.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def run_script(tmp_path: Path, fault: str, hits: int) -> tuple[subprocess.Popen, list[int]]:
    arguments = [str(tmp_path / "faults"), str(hits), str(worker_file(tmp_path))]
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *arguments],
        env={**os.environ, faults.ENV: fault, "PYTHONPATH": str(REPO / "src")},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    return proc, pids


def test_the_nth_hit_kills_every_group_of_the_command(tmp_path: Path) -> None:
    proc, (command, sleeper) = run_script(tmp_path, f"{faults.BRONZE_PARSE_LINE}@3", hits=3)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    # The sleeper shared the command's group; the worker had a group of its own and died at the
    # hit, before it could write its pid.
    deadline = time.monotonic() + 30
    while alive(sleeper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(command)
    assert not alive(sleeper)
    assert not worker_file(tmp_path).exists()
    assert (tmp_path / "faults" / f"{faults.BRONZE_PARSE_LINE}.hits").read_bytes() == b"..."


def test_hits_before_the_nth_leave_the_command_running(tmp_path: Path) -> None:
    proc, (command, sleeper) = run_script(tmp_path, f"{faults.BRONZE_PARSE_LINE}@3", hits=2)
    try:
        deadline = time.monotonic() + 30
        while not worker_file(tmp_path).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(worker_file(tmp_path).read_text())
        hits = tmp_path / "faults" / f"{faults.BRONZE_PARSE_LINE}.hits"
        assert hits.read_bytes() == b".."
        assert proc.poll() is None
        assert alive(command) and alive(sleeper) and alive(worker)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if worker_file(tmp_path).exists():
            os.killpg(int(worker_file(tmp_path).read_text()), signal.SIGKILL)
