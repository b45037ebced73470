"""Local sink: reproducible trees, atomic appearance of files, and the API and CLI around it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from producer_truth import parse_ts

import producer.api
from clickstream.cli import main
from producer import LocalSink, ProducerError, SinkConflict, produce
from producer.assembler import Assembler
from producer.defects import DEFAULT_RATES, FLUSH_DELAY_MS

SMALL = {"events": 2_500, "seed": 13, "batches": 2, "max_events_per_file": 400}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: its bytes and modification time (ns)."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_and_clock_give_the_same_tree(tmp_path: Path) -> None:
    first = produce(sink=tmp_path / "a", **SMALL)
    second = produce(sink=tmp_path / "b", **SMALL)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert first.files == second.files and first.defects == second.defects


def test_cli_twice_gives_byte_identical_trees(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["produce", "--events", "2500", "--seed", "13", "--batches", "2",
            "--max-events-per-file", "400"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    produce(sink=tmp_path / "api", **SMALL)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b") == snapshot(tmp_path / "api")
    out, err = capsys.readouterr()
    assert out.count("produced 2,500 events") == 2
    assert err == ""  # no progress bar when stderr is not a terminal


def test_different_seed_or_clock_gives_different_data(tmp_path: Path) -> None:
    base = produce(sink=tmp_path / "base", **SMALL)
    seeded = produce(sink=tmp_path / "seed", **{**SMALL, "seed": 14})
    later = produce(sink=tmp_path / "later", start="2027-03-01T12:00:00Z", **SMALL)
    ids = {}
    for name in ("base", "seed", "later"):
        tree = snapshot(tmp_path / name)
        ids[name] = {
            line[32:68]  # the event id of a well-formed line
            for path, (data, _) in tree.items()
            if path.endswith(".json")
            for line in data.splitlines()
            if line.startswith(b'{"schema_version":1,"event_id":"')
        }
    assert not ids["base"] & ids["seed"]
    assert set(base.files).isdisjoint(seeded.files)
    assert all(f.startswith("year=2027/month=03/day=01/hour=12/") for f in later.files[:1])
    assert base.first_landing.startswith("2026-11-02T08:")


def test_start_now_follows_the_wall_clock(tmp_path: Path) -> None:
    before = time.time()
    result = produce(events=300, seed=1, sink=tmp_path, start="now")
    first = parse_ts(result.first_landing) / 1000
    assert before <= first <= before + 3600


class FakeClock:
    """Stands in for the ``time`` module of producer.api: sleeping advances it instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


@pytest.mark.parametrize("rate", [None, 3_000.0])
def test_rate_paces_the_files_like_a_live_site(rate, tmp_path: Path, monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(producer.api, "time", clock)
    writes: list[tuple[float, int]] = []  # (clock when written, landing time)

    class RecordingSink(LocalSink):
        def write(self, relpath: str, data: bytes, landing_ms: int) -> bool:
            writes.append((clock.now, landing_ms))
            return super().write(relpath, data, landing_ms)

    start = parse_ts("2026-11-02T08:00:00Z")
    produce(events=600, seed=2, sink=RecordingSink(tmp_path), rate=rate, max_events_per_file=100)
    files = writes[:-1]  # the last write is the manifest
    assert len(files) >= 6
    if rate is None:
        assert clock.slept == 0  # as fast as possible
    else:
        # Each file is written once the clock has reached its simulated landing, not before.
        for written, landing_ms in files:
            assert written >= (landing_ms - start) / 1000 - 1e-6
        assert clock.slept >= (files[-1][1] - start) / 1000 - 1e-6


def test_landing_never_drifts_from_the_events_at_high_rates() -> None:
    # Hundreds of files each spanning a few milliseconds: flush delays must not add up.
    assembler = Assembler(
        seed=3, start_ms=0, events_per_second=20_000, rates=DEFAULT_RATES, max_events_per_file=20
    )
    for planned in assembler.batch(1, 6_000):
        times = [
            parse_ts(json.loads(line)["event_ts"])
            for line, kind in zip(planned.data.splitlines(), planned.kinds, strict=True)
            if kind is None
        ]
        if times:
            assert 0 < planned.landing_ms - max(times) <= FLUSH_DELAY_MS[1]


READER = r"""
import hashlib, json, pathlib, sys, time
root, stop, out = (pathlib.Path(a) for a in sys.argv[1:4])
seen, polls = [], []
pathlib.Path(str(out) + ".ready").touch()
while not stop.exists():
    try:
        names = list(root.rglob("*.json"))
    except FileNotFoundError:  # a folder vanished while listing: poll again
        continue
    polls.append(len(names))
    for path in names:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        seen.append([path.relative_to(root).as_posix(), hashlib.md5(data).hexdigest()])
out.write_text(json.dumps({"seen": seen, "polls": polls}))
"""


def watch(root: Path, tmp_path: Path, write: callable) -> tuple[list, list]:
    """Run ``write()`` while another process polls ``root`` for ``*.json`` and reads them."""
    root.mkdir(parents=True, exist_ok=True)
    stop, out = tmp_path / "stop", tmp_path / "seen.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root), str(stop), str(out)])
    try:
        deadline = time.monotonic() + 30
        while not Path(str(out) + ".ready").exists():
            assert time.monotonic() < deadline and reader.poll() is None, "reader did not start"
            time.sleep(0.02)
        write()
        time.sleep(0.2)  # let the reader see the final state too
    finally:
        stop.touch()
        reader.wait(timeout=30)
    report = json.loads(out.read_text())
    return report["seen"], report["polls"]


def test_a_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    seen, polls = watch(
        root, tmp_path, lambda: produce(
            events=2_400, seed=4, sink=root, rate=8_000, max_events_per_file=120
        ),
    )  # fmt: skip
    final = {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in root.rglob("*.json")
    }
    assert len(final) >= 20
    assert any(0 < n < len(final) for n in polls), "the reader never polled mid-run"
    assert {path for path, _ in seen} == set(final)
    for path, digest in seen:
        assert digest == final[path], f"{path} was read while incomplete"


def test_the_reader_would_notice_a_non_atomic_writer(tmp_path: Path) -> None:
    """Control for the test above: writing in place does get caught half-written."""
    root = tmp_path / "landing"
    payload = b'{"x":1}\n' * 20_000

    def write_in_place() -> None:
        for n in range(5):
            with open(root / f"part-{n}.json", "wb") as handle:
                handle.write(payload[: len(payload) // 2])
                handle.flush()
                time.sleep(0.15)
                handle.write(payload[len(payload) // 2 :])

    seen, _ = watch(root, tmp_path, write_in_place)
    full = hashlib.md5(payload).hexdigest()
    assert any(digest != full for _, digest in seen)


def test_local_sink_is_idempotent_and_refuses_conflicts(tmp_path: Path) -> None:
    first = produce(sink=tmp_path, **SMALL)
    again = produce(sink=tmp_path, **SMALL)
    assert again.created == 0 and again.unchanged == len(first.files) + len(first.manifests)
    victim = tmp_path / first.files[0]
    victim.write_bytes(b"changed\n")
    with pytest.raises(SinkConflict, match=r"already exists .* different content"):
        produce(sink=tmp_path, **SMALL)
    assert victim.read_bytes() == b"changed\n"
    assert list((tmp_path / "_staging").iterdir()) == []  # nothing left half-written


def test_local_sink_sets_the_landing_time_and_rejects_escapes(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    assert sink.write("year=2026/x.json", b"{}\n", 1_795_000_000_123) is True
    assert (tmp_path / "year=2026/x.json").stat().st_mtime_ns == 1_795_000_000_123_000_000
    for bad in ("../escape.json", "/abs.json", "a//b.json"):
        with pytest.raises(ProducerError, match="invalid relative path"):
            sink.write(bad, b"{}\n", 0)
    assert LocalSink("/Volumes/main/raw/landing").set_mtime is False


def test_default_sink_is_the_home_landing_zone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLICKSTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLICKSTREAM_LANDING", raising=False)
    result = produce(events=50, seed=1)
    assert result.sink == str(tmp_path / "home" / "landing")
    assert (tmp_path / "home" / "landing" / result.files[0]).is_file()


def test_result_accounts_for_every_line(tmp_path: Path) -> None:
    result = produce(sink=tmp_path, **SMALL)
    lines = sum((tmp_path / f).read_bytes().count(b"\n") for f in result.files)
    assert lines == result.events == result.clean + sum(result.defects.values())
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json")) == sorted(
        result.files
    )
    assert result.batches == 2 and len(result.manifests) == 2
    assert "2,500 events" in result.summary()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"events": 0}, "events must be a whole number"),
        ({"events": 5, "batches": 6}, "batches must be"),
        ({"rate": -1.0}, "rate must be"),
        ({"start": "yesterday"}, "invalid time"),
        ({"defect_rates": {"bogus": 0.1}}, "unknown defect kind"),
        ({"defect_rates": {"all": 0.2}}, "add up to"),
        ({"defect_rates": {"late": 2}}, "from 0 to 1"),
        ({"max_events_per_file": 0}, "max_events_per_file"),
    ],
)
def test_api_rejects_bad_input(kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ProducerError, match=message):
        produce(sink=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--events", "lots"], "--events must be a whole number"),
        (["--rate", "fast"], "--rate must be a number"),
        (["--defect", "late"], "KIND=RATE"),
        (["--defect", "bogus=0.1"], "unknown defect kind"),
        (["--sink", "ftp"], "--sink must be one of"),
        (["--start", "2026-13-45"], "invalid time"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    code = main(["produce", "--out", str(tmp_path / "out"), *args])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("clickstream: ") and message in err


def test_cli_json_and_defect_switches(tmp_path: Path, capsys) -> None:
    args = ["--events", "800", "--clean", "--defect", "duplicate=0.05",
            "--max-events-per-file", "100", "--json"]  # fmt: skip
    code = main(["produce", "--out", str(tmp_path), *args])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["events"] == 800
    assert {k for k, n in result["defects"].items() if n} == {"duplicate"}
    assert os.path.isfile(tmp_path / result["manifests"][0])


def test_progress_bar_shows_events_files_and_rate(tmp_path: Path, capsys) -> None:
    produce(events=1_500, seed=1, sink=tmp_path, max_events_per_file=300, progress=True)
    err = capsys.readouterr().err
    assert "producing" in err and "1500/1500" in err and "5 files" in err and "ev/s" in err


def test_output_does_not_depend_on_the_interpreter_hash_seed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("clickstream")
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        args = ["produce", "--events", "1500", "--seed", "3", "--max-events-per-file", "300",
                "--out", str(tmp_path / hash_seed)]  # fmt: skip
        subprocess.run([str(script), *args], env=env, check=True, capture_output=True)
    assert snapshot(tmp_path / "1") == snapshot(tmp_path / "2")
