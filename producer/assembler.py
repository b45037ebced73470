"""Cuts the clean event stream into files, injects the defects and decides each file's landing.

A file gathers up to ``max_events_per_file`` lines (fewer when its events would span more than
``FILE_MAX_SPAN``). Each line slot is, by the defect rates, a clean session event or a defect.
The file lands (simulated clock) a flush delay after its latest in-order event; landing times
strictly increase, and they name and partition the file.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from producer import defects
from producer.defects import (
    DUPLICATE,
    LATE,
    OUT_OF_ORDER,
    RULE_FUTURE_EVENT_TIME,
    RULE_NEGATIVE_PRICE,
    RULE_UNKNOWN_EVENT_TYPE,
)
from producer.sessions import SessionSimulator
from producer.timefmt import compact_ts, partition_of

# Kinds whose line is an in-stream event: its time counts when deciding what is out of order.
_IN_STREAM = frozenset((*defects.DRIFT_KINDS, RULE_UNKNOWN_EVENT_TYPE, RULE_NEGATIVE_PRICE))
# Kinds whose event time depends on the file's landing time (resolved once that is known).
_LANDING_RELATIVE = frozenset((LATE, RULE_FUTURE_EVENT_TIME))


@dataclass(frozen=True)
class PlannedFile:
    """One landed file: its bytes and its ground truth (per line: event id and defect kind)."""

    batch: int
    index: int
    relpath: str
    data: bytes
    landing_ms: int
    event_ids: tuple[str | None, ...]
    kinds: tuple[str | None, ...]


class _DuplicatePool:
    """Clean lines of earlier files, oldest first, that a duplicate may re-send."""

    MAX_SIZE = 50_000

    def __init__(self) -> None:
        self._items: list[tuple[int, str, str]] = []
        self._head = 0

    def add(self, ts: int, line: str, event_id: str) -> None:
        self._items.append((ts, line, event_id))

    def pick(self, rng: random.Random, not_before_ms: int) -> tuple[str, str] | None:
        items = self._items
        head = self._head
        while head < len(items) and items[head][0] < not_before_ms:
            head += 1
        head = max(head, len(items) - self.MAX_SIZE)
        if head > 4096 and head * 2 > len(items):  # compact now and then, not on every pick
            del items[:head]
            head = 0
        self._head = head
        if head >= len(items):
            return None
        _, line, event_id = items[rng.randrange(head, len(items))]
        return line, event_id


class Assembler:
    """Turns a seed and a start clock into a reproducible sequence of files."""

    def __init__(
        self,
        *,
        seed: int,
        start_ms: int,
        events_per_second: float,
        rates: Mapping[str, float],
        max_events_per_file: int,
    ) -> None:
        self.seed = seed
        self.sessions = SessionSimulator(seed, start_ms, events_per_second)
        # Defects draw from their own stream: switching them off leaves the sessions unchanged.
        self.rng = random.Random(f"clickstream/{seed}/defects")
        self.factory = defects.DefectFactory(self.rng, self.sessions)
        self.max_events_per_file = max_events_per_file
        active = [(kind, rate) for kind, rate in rates.items() if rate > 0]
        self._kinds = [kind for kind, _ in active]
        self._cumulative: list[float] = []
        total = 0.0
        for _, rate in active:
            total += rate
            self._cumulative.append(total)
        self._total = total
        self._peeked: tuple[int, str, str, str] | None = None
        self._clock = start_ms  # event time of the latest clean event taken from the stream
        self._template: str | None = None  # its line: the context for defects sent meanwhile
        self._last_landing = start_ms
        self._pool = _DuplicatePool()
        self._span_ms = defects.ms(defects.FILE_MAX_SPAN)
        self._ooo_ms = defects.ms(defects.OUT_OF_ORDER_MIN_BEHIND)
        self._dup_ms = defects.ms(defects.DUPLICATE_MAX_BEHIND)

    def _draw(self) -> str | None:
        r = self.rng.random()
        if r >= self._total:
            return None
        return self._kinds[bisect.bisect_right(self._cumulative, r)]

    def batch(self, batch: int, lines: int) -> Iterator[PlannedFile]:
        """The files of one batch, ``lines`` lines in all."""
        index = 0
        while lines > 0:
            index += 1
            planned = self._file(batch, index, min(lines, self.max_events_per_file))
            lines -= len(planned.kinds)
            yield planned

    def _file(self, batch: int, index: int, capacity: int) -> PlannedFile:
        rng = self.rng
        stream = self.sessions
        lines: list[str] = []
        # Event time of lines that take part in the in-order sequence; None for the others.
        times: list[int | None] = []
        ids: list[str | None] = []
        kinds: list[str | None] = []
        first_ts: int | None = None
        while len(lines) < capacity:
            kind = self._draw()
            duplicate = None
            if kind == DUPLICATE:
                duplicate = self._pool.pick(rng, self._clock - self._dup_ms)
            if (
                kind is None
                or kind == OUT_OF_ORDER
                or self._template is None
                or (kind == DUPLICATE and duplicate is None)
            ):
                # A session event (a defect needing a template or an earlier file falls back).
                peeked = self._peeked or next(stream)
                ts = peeked[0]
                if first_ts is not None and ts - first_ts > self._span_ms:
                    self._peeked = peeked
                    break
                self._peeked = None
                first_ts = ts if first_ts is None else first_ts
                self._clock = ts
                self._template = peeked[3]
                lines.append(peeked[3])
                times.append(ts)
                ids.append(peeked[2])
                kinds.append(OUT_OF_ORDER if kind == OUT_OF_ORDER else None)
            elif duplicate is not None:
                lines.append(duplicate[0])
                times.append(None)
                ids.append(duplicate[1])
                kinds.append(DUPLICATE)
            elif kind in _LANDING_RELATIVE:
                lines.append("")  # filled in once the landing time is known
                times.append(None)
                ids.append(None)
                kinds.append(kind)
            else:
                line, event_id = self.factory.build(kind, self._template, self._clock)
                lines.append(line)
                times.append(self._clock if kind in _IN_STREAM else None)
                ids.append(event_id)
                kinds.append(kind)

        latest = max((t for t in times if t is not None), default=self._clock)
        # A flush delay after the latest event; strictly after the previous file, but the
        # delays never add up (landing stays within FLUSH_DELAY_MS of the events).
        landing = max(latest + rng.randint(*defects.FLUSH_DELAY_MS), self._last_landing + 1)
        self._last_landing = landing
        for i, kind in enumerate(kinds):
            if kind in _LANDING_RELATIVE:
                assert self._template is not None  # only drawn once a session event was seen
                lines[i], ids[i] = self.factory.build(kind, self._template, landing)
        self._deliver_out_of_order(lines, times, ids, kinds)
        for line, ts, event_id, kind in zip(lines, times, ids, kinds, strict=True):
            if kind is None and ts is not None and event_id is not None:
                self._pool.add(ts, line, event_id)

        lines.append("")  # every line, the last included, ends with a newline
        # Lone surrogates in a line stand for raw bytes (the invalid-UTF-8 defect).
        data = "\n".join(lines).encode("utf-8", "surrogateescape")
        name = f"events-{compact_ts(landing)}-s{self.seed}-b{batch:04d}-f{index:04d}.json"
        return PlannedFile(
            batch=batch,
            index=index,
            relpath=f"{partition_of(landing)}/{name}",
            data=data,
            landing_ms=landing,
            event_ids=tuple(ids),
            kinds=tuple(kinds),
        )

    def _deliver_out_of_order(
        self,
        lines: list[str],
        times: list[int | None],
        ids: list[str | None],
        kinds: list[str | None],
    ) -> None:
        """Move each out-of-order event behind a later one that is at least 2 s newer.

        Only the moved line becomes out of order: every other line keeps its relative order.
        Working from the last flagged line backwards keeps earlier positions valid. A flagged
        event with no such later line in its file is delivered in order (and counted clean).
        """
        flagged = [i for i, kind in enumerate(kinds) if kind == OUT_OF_ORDER]
        for i in reversed(flagged):
            ts = times[i]
            assert ts is not None
            threshold = ts + self._ooo_ms
            later = next(
                (j for j in range(i + 1, len(times)) if (times[j] or 0) >= threshold), None
            )
            if later is None:
                kinds[i] = None
                continue
            target = min(later + self.rng.randint(0, 3), len(lines) - 1)
            for column in (lines, times, ids, kinds):
                column.insert(target, column.pop(i))
