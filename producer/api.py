"""``produce()``: the producer as one call, for the CLI, notebooks and Databricks job tasks."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from producer import defects
from producer.assembler import Assembler
from producer.errors import ProducerError
from producer.manifest import FileEntry, build_manifest, manifest_relpath
from producer.progress import Progress
from producer.sinks import Sink
from producer.sinks.local import LocalSink
from producer.timefmt import format_ts, resolve_start

DEFAULT_EVENTS = 10_000
DEFAULT_SEED = 42
DEFAULT_MAX_EVENTS_PER_FILE = 1_000
# Simulated site traffic when no --rate is given: a small shop, about 170,000 events a day.
DEFAULT_SIMULATED_RATE = 2.0
MAX_EVENTS = 100_000_000


@dataclass(frozen=True)
class ProduceResult:
    """What a run wrote. Paths are relative to the sink's root (``sink``)."""

    sink: str
    events: int
    clean: int
    defects: dict[str, int]
    batches: int
    files: tuple[str, ...]
    manifests: tuple[str, ...]
    created: int  # files and manifests written by this run
    unchanged: int  # already there with identical content (a re-run): nothing duplicated
    first_landing: str
    last_landing: str
    seconds: float = field(compare=False)

    def summary(self) -> str:
        found = sum(self.defects.values())
        again = f", {self.unchanged} already present" if self.unchanged else ""
        return (
            f"produced {self.events:,} events ({self.clean:,} clean, {found:,} with defects) "
            f"in {len(self.files)} files and {len(self.manifests)} manifests{again} "
            f"→ {self.sink}"
        )


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProducerError(
            f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}"
        )
    return value


def _sink_for(sink: str | os.PathLike[str] | Sink | None) -> Sink:
    if sink is None:
        from clickstream.config import LocalSettings

        return LocalSink(LocalSettings.from_env().landing)
    if isinstance(sink, str | os.PathLike):
        return LocalSink(Path(sink))
    if isinstance(sink, Sink):
        return sink
    raise ProducerError(f"sink must be a folder path or a producer sink, got {type(sink).__name__}")


def produce(
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
    sink: str | os.PathLike[str] | Sink | None = None,
    *,
    batches: int = 1,
    rate: float | None = None,
    start: str | datetime | None = None,
    clean: bool = False,
    defect_rates: Mapping[str, float] | None = None,
    max_events_per_file: int = DEFAULT_MAX_EVENTS_PER_FILE,
    progress: bool | None = False,
) -> ProduceResult:
    """Produce ``events`` lines of clickstream into ``sink``, in ``batches`` batches.

    ``sink``: a folder (default: the local landing zone of ``$CLICKSTREAM_HOME``), or a sink
    object such as ``AzureBlobSink`` (left open for the caller to reuse or close).
    ``rate``: events per second, both simulated and real: files land at that pace, like a live
    site; without it the site simulates ``DEFAULT_SIMULATED_RATE`` events/s and files are
    written as fast as possible. ``start``: the simulated clock's start (ISO 8601, a datetime,
    or ``"now"``; default a fixed instant, so runs are reproducible). ``clean`` turns all defects
    off; ``defect_rates`` sets rates per kind (``"all"`` for every kind), after ``clean``.
    ``progress``: a progress bar on stderr (None: only when stderr is a terminal).
    """
    _check_int("events", events, 1, MAX_EVENTS)
    _check_int("seed", seed, 0, 2**63 - 1)
    _check_int("batches", batches, 1, events)
    _check_int("max_events_per_file", max_events_per_file, 1, 10_000_000)
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1e7
    ):
        raise ProducerError(f"rate must be a number of events per second above 0, got {rate!r}")
    rates = defects.resolve_rates(clean, defect_rates)
    start_ms = resolve_start(start)
    target = _sink_for(sink)
    owned = target is not sink  # close what this call opened, never the caller's sink

    assembler = Assembler(
        seed=seed,
        start_ms=start_ms,
        events_per_second=float(rate or DEFAULT_SIMULATED_RATE),
        rates=rates,
        max_events_per_file=max_events_per_file,
    )
    base, extra = divmod(events, batches)
    sizes = [base + (1 if b < extra else 0) for b in range(batches)]
    totals = dict.fromkeys(defects.DEFECT_KINDS, 0)
    files: list[str] = []
    manifests: list[str] = []
    created = unchanged = 0
    landings: list[int] = []
    began = time.perf_counter()
    done = 0
    try:
        with Progress(events, progress) as bar:
            for number, size in enumerate(sizes, start=1):
                entries: list[FileEntry] = []
                for planned in assembler.batch(number, size):
                    if rate:
                        _wait_for_landing(planned.landing_ms, start_ms, began)
                    fresh = target.write(planned.relpath, planned.data, planned.landing_ms)
                    created += fresh
                    unchanged += not fresh
                    files.append(planned.relpath)
                    landings.append(planned.landing_ms)
                    for kind in planned.kinds:
                        if kind is not None:
                            totals[kind] += 1
                    # Keep the ground truth for the manifest, not the bytes.
                    entries.append(FileEntry.of(planned))
                    done += len(planned.kinds)
                    bar.advance(len(planned.kinds), 1, time.perf_counter() - began, done)
                data = build_manifest(
                    seed=seed,
                    batch=number,
                    batches=batches,
                    start_ms=start_ms,
                    rates=rates,
                    files=entries,
                )
                relpath = manifest_relpath(seed, number, entries[0].landing_ms)
                # Written after its files: a manifest's presence means its batch is complete.
                fresh = target.write(relpath, data, entries[-1].landing_ms)
                created += fresh
                unchanged += not fresh
                manifests.append(relpath)
    finally:
        if owned:
            target.close()
    found = sum(totals.values())
    return ProduceResult(
        sink=target.describe(),
        events=events,
        clean=events - found,
        defects=totals,
        batches=batches,
        files=tuple(files),
        manifests=tuple(manifests),
        created=created,
        unchanged=unchanged,
        first_landing=format_ts(min(landings)),
        last_landing=format_ts(max(landings)),
        seconds=time.perf_counter() - began,
    )


def _wait_for_landing(landing_ms: int, start_ms: int, began: float) -> None:
    """Sleep until the wall clock has advanced as far as the simulated clock (live pacing)."""
    due = began + (landing_ms - start_ms) / 1000
    pause = due - time.perf_counter()
    if pause > 0:
        time.sleep(pause)
