"""The long tier (`make soak`): mutation fuzzing of valid events, several seeds, one landing.

Each seed mutates producer events byte-wise (truncation, a flipped byte, a deleted or doubled
character, an inserted control byte or quote) and lands them all; one update must keep every
non-blank line in bronze exactly once, account for every row, and keep the raw bytes of each
corrupt line.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from reliability_support import START, expected_lines, python_event

from clickstream import config
from clickstream.observability.landing_audit import local_path
from producer import produce

pytestmark = pytest.mark.soak
SEEDS = (1, 2, 3, 4, 5)
LINES_PER_SEED = 2_000


def mutate(line: bytes, rng: random.Random) -> bytes:
    data = bytearray(line)
    kind = rng.randrange(6)
    at = rng.randrange(len(data))
    if kind == 0:
        return bytes(data[:at])
    if kind == 1:
        data[at] = rng.randrange(256)
    elif kind == 2:
        del data[at]
    elif kind == 3:
        data.insert(at, data[at])
    elif kind == 4:
        data.insert(at, rng.choice(b"\x00\x01\x1b\x7f\xff\xc3"))
    else:
        data.insert(at, ord(rng.choice('"{}[],:\\')))
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_run(shared_settings, lakehouse, tmp_path_factory):
    from lakehouse_testing import Sandbox

    database = "t_rel_soak_fuzz"
    landing = shared_settings.home / "landings" / database
    landing.mkdir(parents=True, exist_ok=True)
    source = tmp_path_factory.mktemp("fuzz-source")
    files = {}
    for seed in SEEDS:
        result = produce(
            events=LINES_PER_SEED, seed=seed, sink=source / str(seed), clean=True,
            start=START + timedelta(days=seed), max_events_per_file=LINES_PER_SEED,
        )  # fmt: skip
        rng = random.Random(seed)
        for relpath in result.files:
            lines = (source / str(seed) / relpath).read_bytes().split(b"\n")
            data = b"\n".join(mutate(x, rng) if x and rng.random() < 0.5 else x for x in lines)
            path = landing / f"seed-{seed}" / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            files[path.relative_to(landing).as_posix()] = data
    run = Sandbox(shared_settings, database, landing).runner(lakehouse).run()
    return database, landing, files, run


def test_fuzzed_lines_are_all_kept_and_accounted_for(fuzz_run, spark, tally):
    database, landing, files, run = fuzz_run
    assert run.ok, run.error
    rows = spark.sql(
        f"SELECT _source_file, _line_number, CAST(_corrupt_record AS BINARY) AS raw "
        f"FROM `{database}`.`{config.BRONZE_EVENTS}`"
    ).collect()
    seen: dict[tuple[str, int], list[bytes | None]] = {}
    for row in rows:
        key = (local_path(row[0]).relative_to(landing).as_posix(), row[1])
        seen.setdefault(key, []).append(None if row[2] is None else bytes(row[2]))
    lost = 0
    for relpath, data in files.items():
        for number, raw in expected_lines(data).items():
            found = seen.get((relpath, number), [])
            tally.inputs_tried += 1
            if len(found) != 1:
                lost += 1
            elif found[0] is not None:
                assert found[0] == raw
            else:
                assert python_event(raw) is not None, f"{relpath}:{number} typed, not an object"
    tally.rows_lost += lost
    assert lost == 0
    accounted = spark.sql(
        f"SELECT count(*) FROM `{database}`.`{config.EVENT_ACCOUNTING}` "
        "WHERE outcome IN ('silver', 'quarantine', 'duplicate', 'late')"
    ).collect()[0][0]
    assert accounted == len(rows)
