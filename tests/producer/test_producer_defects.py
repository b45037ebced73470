"""Every line of a produced tree, classified independently, agrees with the manifests."""

from __future__ import annotations

import collections
import hashlib
import time
from pathlib import Path

import pytest
from producer_support import Tree
from producer_truth import DAY_MS, HOUR_MS, Classifier, event_files, manifests, parse_ts

from producer import DEFECT_KINDS, LATE_MIN_BEHIND, produce
from producer.defects import DEFAULT_RATES, LATE_MAX_BEHIND


def truth_by_line(records: list[dict]) -> dict[tuple[str, int], tuple[str | None, str | None]]:
    """(file, line) -> (kind, event_id) from the manifests' per-file ground truth."""
    truth = {}
    for record in records:
        if record["record"] == "file":
            for number, (kind, event_id) in enumerate(
                zip(record["kinds"], record["event_ids"], strict=True), start=1
            ):
                truth[(record["file"], number)] = (kind, event_id)
    return truth


def manifest_totals(records: list[dict]) -> collections.Counter[str]:
    totals: collections.Counter[str] = collections.Counter()
    for record in records:
        if record["record"] == "totals":
            totals.update(record["defects"])
    return totals


def test_per_kind_counts_equal_the_manifests(main_tree: Tree) -> None:
    found = collections.Counter(line.kind for line in main_tree.lines if line.kind)
    records = manifests(main_tree.root)
    assert found == +manifest_totals(records)
    assert set(found) == set(DEFECT_KINDS)  # every kind shows up at the default rates
    assert sum(found.values()) == sum(main_tree.result.defects.values())
    assert len(main_tree.lines) == main_tree.result.events == 15_000


def test_every_manifest_entry_points_at_a_line_of_its_kind(main_tree: Tree) -> None:
    by_position = {(line.file, line.number): line for line in main_tree.lines}
    entries = [r for r in manifests(main_tree.root) if r["record"] == "defect"]
    assert len(entries) == sum(1 for line in main_tree.lines if line.kind)
    for entry in entries:
        line = by_position[(entry["file"], entry["line"])]
        assert line.kind == entry["kind"], entry


def test_ground_truth_matches_line_by_line(main_tree: Tree) -> None:
    truth = truth_by_line(manifests(main_tree.root))
    assert len(truth) == len(main_tree.lines)
    for line in main_tree.lines:
        kind, event_id = truth[(line.file, line.number)]
        assert line.kind == kind, (line.file, line.number, line.raw[:120])
        if line.event is not None:
            assert line.event["event_id"] == event_id


def test_manifest_file_records_describe_the_files(main_tree: Tree) -> None:
    records = manifests(main_tree.root)
    files = {r["file"]: r for r in records if r["record"] == "file"}
    on_disk = dict(event_files(main_tree.root))
    assert set(files) == set(on_disk) == set(main_tree.result.files)
    for relpath, record in files.items():
        data = (main_tree.root / relpath).read_bytes()
        assert record["md5"] == hashlib.md5(data).hexdigest()
        assert record["lines"] == data.count(b"\n") == len(record["kinds"])
        assert parse_ts(record["landing_time"]) == on_disk[relpath]  # the mtime is the landing
    batches = [r for r in records if r["record"] == "batch"]
    assert [b["batch"] for b in batches] == [1, 2, 3]
    assert all(b["rates"] == DEFAULT_RATES for b in batches)


def test_manifests_never_look_like_event_files(main_tree: Tree) -> None:
    paths = [p.relative_to(main_tree.root).as_posix() for p in main_tree.root.rglob("*")]
    manifest_paths = [p for p in paths if "manifest" in p and not p.endswith("_manifests")]
    assert len(manifest_paths) == 3 == len(main_tree.result.manifests)
    for path in manifest_paths:
        assert path.startswith("_manifests/") and path.endswith(".manifest.jsonl")
    assert not any(Path(p).match("*.json") for p in manifest_paths)
    assert not any(p.endswith(".tmp") for p in paths)  # nothing left in the staging area


def test_partitions_follow_the_landing_time(main_tree: Tree) -> None:
    for relpath, landing_ms in event_files(main_tree.root):
        partition, name = relpath.rsplit("/", 1)
        expected = time.strftime("year=%Y/month=%m/day=%d/hour=%H", time.gmtime(landing_ms / 1000))
        assert partition == expected
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(landing_ms // 1000))
        assert name == f"events-{stamp}{landing_ms % 1000:03d}Z-s2026-{name.split('-s2026-')[1]}"


def test_time_defects_keep_their_distance_from_landing(main_tree: Tree) -> None:
    late_min = LATE_MIN_BEHIND.total_seconds() * 1000
    late_max = LATE_MAX_BEHIND.total_seconds() * 1000
    for line in main_tree.lines:
        if line.event is None or line.kind in ("rule_missing_event_id",):
            continue
        behind = line.landing_ms - parse_ts(line.event["event_ts"])
        if line.kind == "late":
            assert late_min < behind <= late_max
        elif line.kind == "rule_future_event_time":
            assert -behind >= DAY_MS
        elif line.kind == "duplicate":
            # Re-sent within the pipeline's allowed lateness (1 hour): a duplicate, not late.
            assert 0 <= behind < HOUR_MS
        else:
            # Everything else lands within the hour after it happened.
            assert 0 <= behind < HOUR_MS, (line.kind, behind)


def test_duplicates_resend_a_clean_line_of_an_earlier_file(main_tree: Tree) -> None:
    first: dict[str, tuple[str, bytes, str | None]] = {}
    files = [f for f, _ in event_files(main_tree.root)]
    duplicates = 0
    for line in main_tree.lines:
        if line.event is None or not isinstance(line.event.get("event_id"), str):
            continue
        event_id = line.event["event_id"]
        if line.kind == "duplicate":
            duplicates += 1
            original_file, original_raw, original_kind = first[event_id]
            assert original_raw == line.raw and original_kind is None
            assert files.index(original_file) < files.index(line.file)
        else:
            assert event_id not in first, "a fresh event id was used twice"
            first[event_id] = (line.file, line.raw, line.kind)
    assert duplicates > 0


@pytest.mark.parametrize("seed", [1, 77, 4242])
def test_heavy_defect_rates_still_classify_exactly(seed: int, tmp_path: Path) -> None:
    # Many defects close together and small files: the hard cases for out-of-order and late.
    result = produce(
        events=1_500,
        seed=seed,
        sink=tmp_path,
        batches=2,
        max_events_per_file=60,
        defect_rates={"all": 0.025},
    )
    lines = Classifier().tree(tmp_path)
    truth = truth_by_line(manifests(tmp_path))
    assert [line.kind for line in lines] == [truth[(x.file, x.number)][0] for x in lines]
    assert collections.Counter(x.kind for x in lines if x.kind) == +collections.Counter(
        result.defects
    )


def test_clean_runs_have_no_defects_and_validate(tmp_path: Path) -> None:
    result = produce(events=2_000, seed=8, sink=tmp_path, clean=True, max_events_per_file=300)
    lines = Classifier().tree(tmp_path)
    assert result.clean == 2_000 and not any(result.defects.values())
    assert [line.kind for line in lines] == [None] * 2_000
    totals = manifest_totals(manifests(tmp_path))
    assert set(totals) == set(DEFECT_KINDS) and not any(totals.values())


def test_switches_turn_single_kinds_on_and_off(tmp_path: Path) -> None:
    only = produce(
        events=3_000, seed=8, sink=tmp_path / "only", clean=True,
        defect_rates={"duplicate": 0.03, "late": 0.02},
    )  # fmt: skip
    assert {k for k, n in only.defects.items() if n} == {"duplicate", "late"}
    without = produce(events=3_000, seed=8, sink=tmp_path / "without", defect_rates={"late": 0})
    assert without.defects["late"] == 0
    assert all(n > 0 for k, n in without.defects.items() if k in ("duplicate", "out_of_order"))


def test_defects_never_change_the_sessions(tmp_path: Path) -> None:
    """Switching defects on only interleaves extra lines: the session events stay the same."""
    produce(events=2_000, seed=21, sink=tmp_path / "clean", clean=True)
    produce(events=2_000, seed=21, sink=tmp_path / "dirty")
    clean = [x.raw for x in Classifier().tree(tmp_path / "clean")]
    dirty = Classifier().tree(tmp_path / "dirty")
    sessions = [x.raw for x in dirty if x.kind in (None, "out_of_order")]
    position = {raw: i for i, raw in enumerate(clean)}
    assert sorted(position[raw] for raw in sessions) == list(range(len(sessions)))
