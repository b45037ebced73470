"""Hostile inputs for the reliability tier, and their ground truth in plain Python.

Every case lands in its own folder of ONE landing zone (named after the case), with file times
set explicitly, then a good producer batch lands after them. The expected bronze lines of each
file are computed here from the bytes alone (split on LF, one trailing CR dropped, a UTF-8 BOM
at the start of the file dropped, lines of spaces only are blank), never by the pipeline's code.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from producer import produce

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
MINUTE_MS = 60_000
BOM = b"\xef\xbb\xbf"
TEN_MB = 10 * 1024 * 1024
# (where, raw value): a misspelled, a case-mismatched and an unknown key holding personal data.
DRIFTED_PII = (
    ("user__emial", "drift.ann@example.org"),
    ("user__Email", "drift.bob@example.org"),
    ("geo__client_ip", "198.51.100.77"),
)
EVENT = "event"  # the line must be a typed bronze row (not corrupt)
CORRUPT = "corrupt"  # the line must be kept whole in _corrupt_record
LATE_FILE = "late_partition_file/year=2026/month=11/day=02/hour=08/events-late.json"


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso(ms_value: int) -> str:
    moment = datetime.fromtimestamp(ms_value / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms_value % 1000:03d}Z"


@dataclass
class CaseFile:
    relpath: str
    data: bytes
    mtime_ms: int
    # line number -> EVENT or CORRUPT; a non-blank line not listed may be either, never lost.
    expect: dict[int, str] = field(default_factory=dict)


@dataclass
class Case:
    name: str
    files: list[CaseFile]
    # When set: the accounting outcome every row of this file must get.
    outcomes: dict[str, str] = field(default_factory=dict)


@dataclass
class Corpus:
    landing: Path
    cases: dict[str, Case]
    good_event_ids: set[str]
    good_files: list[str]


def expected_lines(data: bytes) -> dict[int, bytes]:
    """Line number -> the bytes bronze must keep, for every non-blank line."""
    out = {}
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM) :]
        if line.strip(b" "):
            out[number] = line
    return out


def python_event(raw: bytes) -> dict[str, Any] | None:
    """The line as a JSON object, if Python's own parser reads it as one."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def template_event() -> dict[str, Any]:
    """One clean producer event: the v1 shape with reserved (example) personal values."""
    with tempfile.TemporaryDirectory() as tmp:
        produce(events=1, seed=4242, sink=tmp, clean=True, start=START)
        (path,) = Path(tmp).rglob("*.json")
        return json.loads(path.read_bytes().splitlines()[0])


class Events:
    """Valid events with fresh ids and a chosen time."""

    def __init__(self) -> None:
        self.template = template_event()
        self.count = 0

    def make(self, ts_ms: int, **overrides: Any) -> dict[str, Any]:
        self.count += 1
        event = json.loads(json.dumps(self.template))
        event["event_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"reliability-{self.count}"))
        event["event_ts"] = iso(ts_ms)
        for dotted, value in overrides.items():
            *parents, leaf = dotted.split("__")
            target = event
            for parent in parents:
                target = target[parent]
            target[leaf] = value
        return event

    def line(self, ts_ms: int, **overrides: Any) -> bytes:
        return json.dumps(self.make(ts_ms, **overrides), separators=(",", ":")).encode()


def nested(depth: int, opener: str, closer: str, inner: str = "1") -> str:
    return opener * depth + inner + closer * depth


def _cases(ev: Events) -> list[Case]:
    def at(index: int) -> int:
        return ms(START) + index * MINUTE_MS

    def one(name: str, index: int, data: bytes, expect: dict[int, str] | None = None) -> Case:
        return Case(name, [CaseFile(f"{name}/events.json", data, at(index), expect or {})])

    def lines(*items: bytes) -> bytes:
        return b"\n".join(items) + b"\n"

    t = lambda index: at(index) - MINUTE_MS  # noqa: E731 - events a minute before landing
    cases: list[Case] = []
    cases.append(one("empty_file", 1, b""))
    cases.append(one("blank_lines_only", 2, b"\n\n   \n\r\n \r\n\n"))
    big = ev.line(t(3), page__title="x" * TEN_MB)
    cases.append(one("ten_mb_single_line", 3, big + b"\n" + ev.line(t(3)) + b"\n", {1: EVENT}))
    deep_object = json.dumps(ev.make(t(4))).encode()[:-1] + (
        b',"nest":' + nested(1000, '{"a":', "}").encode() + b"}"
    )
    deep_array = nested(1000, "[", "]").encode()
    deep_allowed = ev.line(t(4), properties__extra=json.loads(nested(500, '{"a":', "}")))
    cases.append(
        one(
            "deep_nesting_1000",
            4,
            lines(deep_object, deep_array, deep_allowed, ev.line(t(4))),
            {1: CORRUPT, 2: CORRUPT, 3: EVENT, 4: EVENT},
        )
    )
    latin1_city = ev.line(t(5), geo__city="Caf\u00e9").replace(b"Caf\\u00e9", b"Caf\xe9")
    cases.append(
        one(
            "invalid_utf8",
            5,
            lines(
                b"\xff\xfe not text",
                latin1_city,
                b'{"a":"\xf0\x9f"}',
                b'{"a":"\xc0\xaf"}',
                ev.line(t(5)),
            ),
            {1: CORRUPT, 2: CORRUPT, 3: CORRUPT, 4: CORRUPT, 5: EVENT},
        )
    )
    cases.append(
        one("utf8_bom", 6, BOM + lines(ev.line(t(6)), ev.line(t(6))), {1: EVENT, 2: EVENT})
    )
    utf16 = ("\ufeff" + ev.line(t(7)).decode() + "\n" + ev.line(t(7)).decode() + "\n").encode(
        "utf-16-le"
    )
    expect16 = {n: CORRUPT for n in expected_lines(utf16)}
    cases.append(one("utf16_bom", 7, utf16, expect16))
    cases.append(
        one(
            "crlf_line_ends",
            8,
            b"\r\n".join([ev.line(t(8)), ev.line(t(8)), ev.line(t(8))]) + b"\r\n",
            {1: EVENT, 2: EVENT, 3: EVENT},
        )
    )
    raw_nul = ev.line(t(9), page__title="a\u0000b").replace(b"\\u0000", b"\x00")
    cases.append(
        one(
            "nul_bytes",
            9,
            lines(
                raw_nul,
                b"\x00\x00\x00",
                ev.line(t(9), page__title="a\u0000b"),
                ev.line(t(9)) + b"\x00",
            ),
            {1: CORRUPT, 2: CORRUPT, 3: EVENT, 4: CORRUPT},
        )
    )
    dup = ev.line(t(10))
    dup = b'{"event_type":"not_a_type","page":{"path":"/dup"},' + dup[1:]
    cases.append(one("duplicate_keys", 10, lines(dup, ev.line(t(10))), {1: EVENT, 2: EVENT}))
    out_of_range = [
        ev.line(t(11), page__load_ms=10**30),
        ev.line(t(11), device__screen__width=2**31),
        ev.line(t(11), properties__quantity=2**63),
        ev.line(t(11), properties__price=1.0).replace(b'"price":1.0', b'"price":1e400'),
        ev.line(t(11), properties__price=1.0).replace(b'"price":1.0', b'"price":-1e-400'),
        ev.line(t(11), page__load_ms=1.0).replace(b'"load_ms":1.0', b'"load_ms":1e400'),
    ]
    cases.append(one("numbers_out_of_range", 11, lines(*out_of_range), {1: EVENT, 2: EVENT}))
    ts_formats = [
        "2026-11-02T13:30:00+05:30",
        "2026-11-02 08:10:00",
        "2026-11-02T08:10:00.123456789Z",
        "02/11/2026 08:10:00",
        "Mon, 02 Nov 2026 08:10:00 GMT",
        "2026-W45-1",
        "1793606400",
        "2026-11-02T08:10:00 Europe/London",
        "",
    ]
    ts_lines = [ev.line(t(12), event_ts=value) for value in ts_formats]
    ts_lines.append(ev.line(t(12), event_ts=1793606400000))
    cases.append(one("timestamps_other_formats_and_zones", 12, lines(*ts_lines), {1: EVENT}))
    arrays = [b"[" + ev.line(t(13)) + b"]", b"[]", b"[1,2,3]", b'"text"', b"42", b"null", b"true"]
    cases.append(
        one("json_arrays_not_objects", 13, lines(*arrays), {n: CORRUPT for n in range(1, 8)})
    )
    payload = lines(*[ev.line(t(14)) for _ in range(20)])
    cases.append(one("gzip_named_json", 14, gzip.compress(payload, mtime=0)))
    cases.append(
        one(
            "rewritten_after_landing",
            15,
            lines(ev.line(t(15)), ev.line(t(15))),
            {1: EVENT, 2: EVENT},
        )
    )
    cases.append(
        Case(
            "unicode_and_spaces_in_name",
            [
                CaseFile(
                    "unicode_and_spaces_in_name/événements du 2 novembre 日本 ☃ + x.json",
                    lines(ev.line(t(16)), ev.line(t(16))),
                    at(16),
                    {1: EVENT, 2: EVENT},
                )
            ],
        )
    )
    folder = LATE_FILE.rsplit("/", 1)[0]
    siblings = [
        CaseFile(
            f"{folder}/events-{n}.json",
            lines(ev.line(t(17)), ev.line(t(17))),
            at(17),
            {1: EVENT, 2: EVENT},
        )
        for n in (1, 2)
    ]
    two_days = 2 * 24 * 60 * MINUTE_MS
    late = CaseFile(
        LATE_FILE, lines(ev.line(t(17)), ev.line(t(17))), at(17) + two_days, {1: EVENT, 2: EVENT}
    )
    cases.append(
        Case(
            "late_partition_file",
            [*siblings, late],
            {LATE_FILE: "late", **{s.relpath: "silver" for s in siblings}},
        )
    )
    # Personal data under keys the contract does not know: rescued, then tokens in silver.
    cases.append(
        one(
            "pii_under_drifted_keys",
            18,
            lines(*(ev.line(t(18), **{path: value}) for path, value in DRIFTED_PII)),
            dict.fromkeys(range(1, len(DRIFTED_PII) + 1), EVENT),
        )
    )
    return cases


def build_corpus(landing: Path) -> Corpus:
    """Land every hostile case, then a good producer batch three days later."""
    ev = Events()
    cases = {case.name: case for case in _cases(ev)}
    for case in cases.values():
        for item in case.files:
            path = landing / item.relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.data)
            os.utime(path, ns=(item.mtime_ms * 1_000_000, item.mtime_ms * 1_000_000))
    good = produce(
        events=300,
        seed=91,
        sink=landing / "good",
        clean=True,
        start=START + timedelta(days=3),
        max_events_per_file=150,
    )
    ids = set()
    for relpath in good.files:
        for raw in (landing / "good" / relpath).read_bytes().splitlines():
            ids.add(json.loads(raw)["event_id"])
    return Corpus(landing, cases, ids, [f"good/{r}" for r in good.files])
