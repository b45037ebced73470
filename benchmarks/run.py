"""The benchmark harness: every case in ONE process against ONE lakehouse, so noise cancels.

    python -m benchmarks                      # full size (100k / 300k / 1M events), results.json
    python -m benchmarks --scale 0.01         # a hundredth of every size (a quick check)
    python -m benchmarks --no-freshness       # skip the live-producer freshness case

Cases (issue 10): producer vs a naive generator; ingestion through bronze + silver next to the
floor (plain batch read + one Delta write) and a hand-written Structured Streaming job; the full
pipeline; an incremental update after 1% more files; scaling over three sizes with a fit
t = a + b·N and the exponent k of (t - a) ∝ N^k; freshness with a producer streaming at a fixed
rate while ``run_continuously`` loops over the streaming layers; peak RSS of Python + JVM.
Each case has its own database and landing folder; data is produced once per size with a fixed
seed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import platform as pyplatform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import handwritten, producer_bench, profile
from clickstream.config import LocalSettings, PipelineSettings
from clickstream.observability import event_log

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results.json"
FULL_SIZES = (100_000, 300_000, 1_000_000)
STREAMING_TABLES = handwritten.STREAMING_TABLES
TARGETS = {
    "pipeline_vs_floor": (">=", 0.5),
    "pipeline_vs_handwritten": (">=", 0.9),
    "incremental_vs_full": ("<=", 0.15),
    "growth_exponent": ("<=", 1.1),
    "producer_vs_naive": (">=", 0.7),
}
# The keys results.json always carries (None when a case was skipped).
REQUIRED_KEYS = (
    "pipeline_vs_floor",
    "pipeline_vs_handwritten",
    "incremental_vs_full",
    "growth_exponent",
    "fixed_cost_s",
    "per_event_us",
    "producer_events_per_s",
    "producer_vs_naive",
    "freshness_p50_s",
    "freshness_p95_s",
    "peak_rss_mb",
)


@dataclass(frozen=True)
class BenchConfig:
    """What to run. Sizes are multiplied by ``scale`` (at least 1 event each)."""

    scale: float = 1.0
    sizes: tuple[int, ...] = FULL_SIZES
    seed: int = 42
    incremental_share: float = 0.01
    # The full pipeline in a database of its own (True), or as the gold update after the
    # bronze + silver update on the largest size (False: two updates fewer, for the smoke run).
    fresh_full_pipeline: bool = True
    # Gold and the BI views (full pipeline, gold refresh); off in the smoke run (fewer updates).
    gold: bool = True
    # The floor and the hand-written job run on the smallest and the largest size (the issue's
    # 100k and 1M); the smoke run compares on the largest only.
    baselines_on_smallest: bool = True
    freshness: bool = True
    # Liquid clustering after each update (pipeline and hand-written alike), as a user runs it;
    # off in the smoke run, where it is a fixed cost that checks nothing about the harness.
    clustering: bool = True
    # Freshness loops over the streaming layers only (``run --continuous --refresh``): silver is
    # what it measures, and recomputing the materialized views in every update only delays it.
    freshness_streaming_only: bool = True
    freshness_seconds: float = 120.0
    freshness_rate: float = 100.0
    trigger_interval_s: float = 10.0
    database_prefix: str = "bench"

    def scaled(self) -> tuple[int, ...]:
        """The sizes to run; one size runs every case but the scaling fit (the smoke run)."""
        return tuple(sorted({max(1, round(n * self.scale)) for n in self.sizes}))


# --- pure helpers (unit-tested without Spark) -----------------------------------------------


def linear_fit(ns: Sequence[float], ts: Sequence[float]) -> tuple[float, float]:
    """Least squares t = a + b·N: returns (a, b)."""
    count = len(ns)
    mean_n = sum(ns) / count
    mean_t = sum(ts) / count
    sxx = sum((n - mean_n) ** 2 for n in ns)
    if sxx == 0:
        raise ValueError("the sizes must differ")
    b = sum((n - mean_n) * (t - mean_t) for n, t in zip(ns, ts, strict=True)) / sxx
    return mean_t - b * mean_n, b


def growth_exponent(ns: Sequence[float], ts: Sequence[float], a: float) -> float | None:
    """k of (t - a) ∝ N^k, a log-log least-squares slope over the sizes whose variable part is
    positive; None unless three sizes qualify (with two, a from the same points makes k exactly
    1; at tiny sizes the fixed cost and noise swamp the variable part)."""
    points = [(math.log(n), math.log(t - a)) for n, t in zip(ns, ts, strict=True) if t - a > 0]
    if len({x for x, _ in points}) < 3:
        return None
    return linear_fit([x for x, _ in points], [y for _, y in points])[1]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator  # type: ignore[operator]


# --- memory -------------------------------------------------------------------------------------


class MemorySampler:
    """Peak memory of this Python process plus its children (the in-process JVM and Spark's
    Python workers) and any extra process given (a shared server's JVM), sampled.

    Each sample sums the processes' PSS (resident memory with shared pages split between the
    processes sharing them): a plain RSS sum counts a page twice when the JVM forks a worker,
    whose RSS briefly equals the JVM's. Where PSS is unreadable, RSS is used.
    """

    def __init__(self, extra_pids: Sequence[int] = (), interval_s: float = 0.25) -> None:
        import psutil

        self._psutil = psutil
        self._roots = [psutil.Process(os.getpid())]
        for pid in extra_pids:
            with contextlib.suppress(psutil.Error):
                self._roots.append(psutil.Process(pid))
        self.interval_s = interval_s
        # Peaks of the total and of each kind of process (python, jvm, workers).
        self.peaks: dict[str, int] = {"total": 0, "python": 0, "jvm": 0, "workers": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def _tree(self) -> list[Any]:
        seen: dict[int, Any] = {}
        for root in self._roots:
            with contextlib.suppress(self._psutil.Error):
                for proc in (root, *root.children(recursive=True)):
                    seen[proc.pid] = proc
        return list(seen.values())

    def _kind(self, proc: Any) -> str:
        if proc.pid == os.getpid():
            return "python"
        with contextlib.suppress(self._psutil.Error):
            if proc.name() == "java":
                return "jvm"
        return "workers"

    def _memory(self, proc: Any) -> int:
        try:
            return int(proc.memory_full_info().pss)
        except (self._psutil.Error, AttributeError):
            with contextlib.suppress(self._psutil.Error):
                return int(proc.memory_info().rss)
        return 0

    def sample(self) -> None:
        totals = {"python": 0, "jvm": 0, "workers": 0}
        for proc in self._tree():
            totals[self._kind(proc)] += self._memory(proc)
        totals["total"] = sum(totals.values())
        for kind, value in totals.items():
            self.peaks[kind] = max(self.peaks[kind], value)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


# --- machine ------------------------------------------------------------------------------------


def git_sha() -> str | None:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def machine(spark: Any) -> dict[str, Any]:
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        ram_gb = round(int(meminfo[0].split()[1]) / 1024**2, 1)
    java = None
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, check=True)
        java = (out.stderr or out.stdout).splitlines()[0].strip()
    return {
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "cpu_model": cpu_model,
        "os": pyplatform.platform(),
        "python": pyplatform.python_version(),
        "java": java,
        "spark": spark.version,
        "pyspark": importlib.metadata.version("pyspark"),
        "delta_spark": importlib.metadata.version("delta-spark"),
    }


# --- the cases ----------------------------------------------------------------------------------


@dataclass
class Bench:
    """One harness run: a lakehouse, a work folder for landings and checkpoints, the results."""

    lakehouse: Any
    work: Path
    config: BenchConfig
    log: Any = field(default=sys.stderr)
    raw: dict[str, Any] = field(default_factory=dict)
    updates: int = 0
    # Spark's event log as it was when the harness began: profiles read only what came after.
    events_since: dict[Path, int] = field(default_factory=dict)

    @property
    def spark(self) -> Any:
        return self.lakehouse.spark

    def say(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=self.log, flush=True)

    def database(self, case: str) -> str:
        return f"{self.config.database_prefix}_{case}"

    def landing(self, name: str) -> Path:
        return self.work / "landings" / name

    def fresh_database(self, database: str) -> None:
        self.spark.sql(f"DROP DATABASE IF EXISTS `{database}` CASCADE")
        shutil.rmtree(self.lakehouse.settings.pipeline_storage(database), ignore_errors=True)

    def produce(self, events: int, seed: int, landing: Path) -> tuple[float, Any]:
        from producer import produce

        shutil.rmtree(landing, ignore_errors=True)
        landing.mkdir(parents=True)
        began = time.perf_counter()
        result = produce(events=events, seed=seed, sink=landing, progress=False)
        return time.perf_counter() - began, result

    def runner(self, database: str, landing: Path) -> Any:
        from clickstream.runner import PipelineRunner

        settings = None if self.config.clustering else {"liquid_clustering": "false"}
        return PipelineRunner(
            self.lakehouse, database=database, landing=landing, pipeline_settings=settings
        )

    def update(self, runner: Any, **selection: Any) -> dict[str, Any]:
        """One timed pipeline update; a failed update stops the harness."""
        began = time.perf_counter()
        result = runner.run(**selection)
        seconds = time.perf_counter() - began
        self.updates += 1
        if not result.ok:
            raise RuntimeError(f"pipeline update on {runner.database} failed: {result.error}")
        return {"seconds": seconds, "update_id": result.update_id, "result": result}

    def count(self, database: str, tables: Sequence[str]) -> dict[str, int]:
        return handwritten.count_rows(self.spark, database, tuple(tables))


def producer_case(bench: Bench, size: int, produced_s: float) -> dict[str, Any]:
    """The producer's time for the largest landing (already measured) next to the naive one."""
    out = Path(tempfile.mkdtemp(prefix="naive-", dir=bench.work))
    try:
        began = time.perf_counter()
        producer_bench.naive_generator(size, out)
        naive_s = time.perf_counter() - began
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "events": size,
        "producer_s": produced_s,
        "naive_s": naive_s,
        "producer_events_per_s": size / produced_s,
        "naive_events_per_s": size / naive_s,
    }


def ingestion_case(
    bench: Bench, size: int, with_baselines: bool, profiled: bool = False
) -> dict[str, Any]:
    """Bronze + silver through the pipeline; on comparison sizes also the floor and by hand."""
    landing = bench.landing(f"n{size}")
    case: dict[str, Any] = {"events": size}
    settings = PipelineSettings(landing_path=str(landing))
    if with_baselines:
        floor_db = bench.database(f"floor_n{size}")
        bench.fresh_database(floor_db)
        bench.say(f"floor, {size:,} events")
        case["floor"] = handwritten.run_floor(bench.spark, landing, floor_db)
        hw_db = bench.database(f"handwritten_n{size}")
        bench.fresh_database(hw_db)
        checkpoints = bench.work / "checkpoints" / hw_db
        shutil.rmtree(checkpoints, ignore_errors=True)
        bench.say(f"hand-written streaming, {size:,} events")
        case["handwritten"] = handwritten.run_handwritten(
            bench.spark, landing, hw_db, checkpoints, settings, cluster=bench.config.clustering
        )
    database = bench.database(f"pipeline_n{size}")
    bench.fresh_database(database)
    bench.say(f"pipeline bronze + silver, {size:,} events")
    run = bench.update(bench.runner(database, landing), refresh=list(STREAMING_TABLES))
    case["pipeline"] = {
        "seconds": run["seconds"],
        "update_id": run["update_id"],
        "clustering": run["result"].clustering,
        "rows": bench.count(database, STREAMING_TABLES),
        "database": database,
    }
    case["_lineage"] = run["result"].lineage
    if profiled:
        # Spark's event log: per streaming query, batches, rows and milliseconds by step.
        events = bench.lakehouse.settings.spark_events
        case["pipeline"]["profile"] = profile.query_profile(events, database, bench.events_since)
        if with_baselines:
            hand = profile.query_profile(events, hw_db, bench.events_since)
            case["handwritten"]["profile"] = hand
    return case


def views_of(lineage: Any) -> list[str]:
    """Every dataset of the pipeline that is not a streaming table: gold, BI, the accounting."""
    return sorted(
        name
        for name, kind in lineage.datasets.items()
        if kind not in ("streaming_table", "temporary_view")
    )


def full_and_incremental_case(bench: Bench, size: int, ingestion: dict[str, Any]) -> dict[str, Any]:
    """The full pipeline, then +share% files: the streaming layers' update, then gold's."""
    config = bench.config
    views = views_of(ingestion.pop("_lineage"))
    case: dict[str, Any] = {"events": size, "views": views if config.gold else []}
    case["full_pipeline_s"] = case["gold_refresh_s"] = None
    if not config.gold:
        database = ingestion["pipeline"]["database"]
        landing = bench.landing(f"n{size}")
        runner = bench.runner(database, landing)
        case["full_pipeline_method"] = "skipped (gold off)"
    elif config.fresh_full_pipeline:
        database = bench.database(f"full_n{size}")
        landing = bench.landing(f"full_n{size}")
        shutil.rmtree(landing, ignore_errors=True)
        # Hard links: the same files (and modification times) without copying a byte.
        shutil.copytree(bench.landing(f"n{size}"), landing, copy_function=os.link)
        bench.fresh_database(database)
        runner = bench.runner(database, landing)
        bench.say(f"full pipeline, {size:,} events")
        case["full_pipeline_s"] = bench.update(runner)["seconds"]
        case["full_pipeline_method"] = "one update of every dataset on a fresh database"
    else:
        database = ingestion["pipeline"]["database"]
        landing = bench.landing(f"n{size}")
        runner = bench.runner(database, landing)
        bench.say(f"gold after bronze + silver, {size:,} events")
        gold_s = bench.update(runner, refresh=views)["seconds"]
        case["full_pipeline_s"] = ingestion["pipeline"]["seconds"] + gold_s
        case["full_pipeline_method"] = "bronze + silver update plus a gold update (both phases)"
    extra = max(1, round(size * config.incremental_share))
    # Another seed: new sessions and event ids, file names that cannot clash with the first run's.
    from producer import produce

    produce(events=extra, seed=config.seed + 1, sink=landing, progress=False)
    bench.say(f"incremental update, +{extra:,} events")
    case["incremental_events"] = extra
    events = bench.lakehouse.settings.spark_events
    before = profile.query_profile(events, database, bench.events_since)
    update = bench.update(runner, refresh=list(STREAMING_TABLES))
    case["incremental_s"] = update["seconds"]
    # Where the incremental update's time goes: per flow from Spark's event log, and the rest
    # of the update (graph registration, clustering, the event log) as the remainder.
    after = profile.query_profile(events, database, bench.events_since)
    flows = profile.profile_since(before, after)
    busy_ms = sum(entry["ms"].get("triggerExecution", 0) for entry in flows.values())
    # Wall time with any flow running (silver's four run side by side), and the rest.
    flows_s = profile.wall_seconds(span for entry in flows.values() for span in entry["spans"])
    case["incremental_profile"] = {
        "flows": flows,
        "flows_busy_s": busy_ms / 1000,
        "flows_s": flows_s,
        "outside_flows_s": update["seconds"] - flows_s,
        "clustering": update["result"].clustering,
    }
    if config.gold:
        bench.say("gold refresh after the incremental update")
        case["gold_refresh_s"] = bench.update(runner, refresh=views)["seconds"]
    case["rows_after_incremental"] = bench.count(database, STREAMING_TABLES)
    return case


class _Done(Exception):
    """Stops run_continuously once every landed file is visible."""


def freshness_case(bench: Bench) -> dict[str, Any]:
    """A producer at a fixed rate in a thread while ``run_continuously`` loops: per landed file,
    the delay from its landing (modification time) to its rows being queryable in silver."""
    from clickstream.runner import run_continuously
    from producer import produce

    config = bench.config
    database = bench.database("freshness")
    landing = bench.landing("freshness")
    shutil.rmtree(landing, ignore_errors=True)
    landing.mkdir(parents=True)
    bench.fresh_database(database)
    events = max(1, round(config.freshness_rate * config.freshness_seconds))
    # About one file every two seconds, like a collector flushing often.
    per_file = max(1, round(config.freshness_rate * 2))
    failure: list[BaseException] = []

    def producing() -> None:
        try:
            produce(
                events=events,
                seed=config.seed + 2,
                sink=landing,
                rate=config.freshness_rate,
                start="now",
                max_events_per_file=per_file,
                progress=False,
            )
        except BaseException as exc:  # reported after the loop
            failure.append(exc)

    visible_at: dict[str, float] = {}
    landed_at: dict[str, float] = {}
    rows: dict[str, int] = {}
    producer_thread = threading.Thread(target=producing, name="freshness-producer", daemon=True)
    table = f"`{database}`.silver_events"
    updates_after_producer = [0]
    updates = [0]

    def on_result(result: Any) -> None:
        bench.updates += 1
        updates[0] += 1
        if not result.ok:
            raise RuntimeError(f"freshness update failed: {result.error}")
        now = time.time()
        seen = bench.spark.sql(
            f"SELECT _source_file, count(*) AS n, max(unix_micros(_landed_at)) AS landed "
            f"FROM {table} GROUP BY _source_file"
        ).collect()
        for row in seen:
            if row["_source_file"] not in visible_at:
                visible_at[row["_source_file"]] = now
                landed_at[row["_source_file"]] = row["landed"] / 1e6
                rows[row["_source_file"]] = row["n"]
        if not producer_thread.is_alive():
            # An update that started after the producer ended has seen everything it landed.
            updates_after_producer[0] += 1
            if updates_after_producer[0] >= 2:
                raise _Done

    runner = bench.runner(database, landing)
    scope = STREAMING_TABLES if config.freshness_streaming_only else ()
    bench.say(
        f"freshness: {events:,} events at {config.freshness_rate:g}/s, "
        f"updates {'of the streaming layers ' if scope else ''}every "
        f"{config.trigger_interval_s:g} s"
    )
    began = time.perf_counter()
    producer_thread.start()
    with contextlib.suppress(_Done):
        run_continuously(runner, config.trigger_interval_s, on_result=on_result, refresh=scope)
    producer_thread.join()
    if failure:
        raise RuntimeError(f"freshness producer failed: {failure[0]}")
    delays = [visible_at[f] - landed_at[f] for f in visible_at]
    return {
        "events": events,
        "rate_events_per_s": config.freshness_rate,
        "trigger_interval_s": config.trigger_interval_s,
        "updates_refresh": list(scope) or "every dataset",
        "files": len(delays),
        "rows": sum(rows.values()),
        "seconds": time.perf_counter() - began,
        "updates": updates[0],
        "delays_s": sorted(round(d, 3) for d in delays),
        "p50_s": percentile(delays, 50) if delays else None,
        "p95_s": percentile(delays, 95) if delays else None,
    }


# --- the whole run ------------------------------------------------------------------------------


def run_benchmarks(
    config: BenchConfig, lakehouse: Any = None, work: Path | None = None, log: Any = sys.stderr
) -> dict[str, Any]:
    """Run every case; returns the results document. ``lakehouse``: an open Lakehouse to use
    (e.g. a test's shared server); without it, an in-process one on a throwaway home."""
    from clickstream.engine import Lakehouse

    with contextlib.ExitStack() as stack:
        if lakehouse is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-home-")))
            settings = LocalSettings(home=home, landing=home / "landing", database="bench")
            began = time.perf_counter()
            lakehouse = stack.enter_context(Lakehouse.open(settings, mode="in-process"))
            start_s: float | None = time.perf_counter() - began
        else:
            start_s = None
        work = work or lakehouse.settings.home / "bench"
        work.mkdir(parents=True, exist_ok=True)
        bench = Bench(lakehouse, work, config, log)
        # The event log recorder's own offsets: the same files, where they end now.
        bench.events_since = event_log.event_log_offsets(lakehouse.settings.spark_events)
        sampler = stack.enter_context(MemorySampler(_server_pids(lakehouse)))
        document = _run_cases(bench)
        sampler.sample()
        document["raw"]["engine_start_s"] = start_s
        document["raw"]["memory"] = {
            f"peak_{kind}_mb": round(value / 1024**2, 1) for kind, value in sampler.peaks.items()
        }
        document["raw"]["memory"]["method"] = (
            "sum of PSS, sampled every 0.25 s: this Python process and its children (JVM, "
            "Python workers)"
            + (", and the shared server's process tree" if lakehouse.mode == "server" else "")
        )
        document["peak_rss_mb"] = document["raw"]["memory"]["peak_total_mb"]
    document["targets"] = _verdicts(document)
    return document


def _server_pids(lakehouse: Any) -> list[int]:
    if lakehouse.mode != "server":
        return []
    from clickstream import server

    info = server.status(lakehouse.settings)
    return [info.pid] if info is not None else []


def _run_cases(bench: Bench) -> dict[str, Any]:
    config = bench.config
    sizes = config.scaled()
    small, largest = sizes[0], sizes[-1]
    began = time.perf_counter()
    produced: dict[int, Any] = {}
    for size in sizes:
        bench.say(f"producing {size:,} events (seed {config.seed})")
        seconds, result = bench.produce(size, config.seed, bench.landing(f"n{size}"))
        produced[size] = {"seconds": seconds, "events": result.events, "files": len(result.files)}
    bench.say(f"naive generator, {largest:,} events")
    producer = producer_case(bench, largest, produced[largest]["seconds"])

    compared = {largest, small} if config.baselines_on_smallest else {largest}
    ingestion = {
        size: ingestion_case(bench, size, size in compared, profiled=size == largest)
        for size in sizes
    }
    incremental = full_and_incremental_case(bench, largest, ingestion[largest])
    for case in ingestion.values():
        case.pop("_lineage", None)
    freshness = freshness_case(bench) if config.freshness else None

    times = [ingestion[n]["pipeline"]["seconds"] for n in sizes]
    a, b = linear_fit(sizes, times) if len(sizes) > 1 else (None, None)
    k = growth_exponent(sizes, times, a) if a is not None else None
    big = ingestion[largest]
    document: dict[str, Any] = {
        "git_sha": git_sha(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": asdict(config),
        "machine": machine(bench.spark),
        "pipeline_vs_floor": ratio(big["floor"]["seconds"], big["pipeline"]["seconds"]),
        "pipeline_vs_handwritten": ratio(big["handwritten"]["seconds"], big["pipeline"]["seconds"]),
        "incremental_vs_full": ratio(incremental["incremental_s"], big["pipeline"]["seconds"]),
        "growth_exponent": k,
        "fixed_cost_s": a,
        "per_event_us": b * 1e6 if b is not None else None,
        "producer_events_per_s": producer["producer_events_per_s"],
        "producer_vs_naive": ratio(
            producer["producer_events_per_s"], producer["naive_events_per_s"]
        ),
        "freshness_p50_s": freshness["p50_s"] if freshness else None,
        "freshness_p95_s": freshness["p95_s"] if freshness else None,
        "peak_rss_mb": None,
        "pipeline_events_per_s": {str(n): n / ingestion[n]["pipeline"]["seconds"] for n in sizes},
        "ratios_by_size": {
            str(n): {
                "pipeline_vs_floor": ratio(
                    ingestion[n]["floor"]["seconds"], ingestion[n]["pipeline"]["seconds"]
                ),
                "pipeline_vs_handwritten": ratio(
                    ingestion[n]["handwritten"]["seconds"], ingestion[n]["pipeline"]["seconds"]
                ),
            }
            for n in sorted(compared)
        },
        "full_pipeline_s": incremental["full_pipeline_s"],
        "gold_refresh_s": incremental["gold_refresh_s"],
        "raw": {
            "sizes": list(sizes),
            "produced": {str(n): v for n, v in produced.items()},
            "producer": producer,
            "ingestion": {str(n): v for n, v in ingestion.items()},
            "incremental": incremental,
            "scaling": {"events": list(sizes), "seconds": times, "a_s": a, "b_s_per_event": b},
            "freshness": freshness if freshness else {"skipped": True},
            "pipeline_updates": bench.updates,
            "total_s": None,
        },
    }
    if a is None:
        document["raw"]["scaling"]["note"] = "one size: no fit (make bench runs three)"
    elif k is None:
        document["raw"]["scaling"]["note"] = (
            "fewer than three sizes (with a positive variable part t - a): no exponent"
        )
    document["raw"]["total_s"] = time.perf_counter() - began
    return document


def _verdicts(document: dict[str, Any]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for key, (op, bound) in TARGETS.items():
        value = document.get(key)
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        verdicts[key] = {"target": f"{op} {bound}", "value": value, "met": met}
    p50 = document.get("freshness_p50_s")
    interval = document["config"]["trigger_interval_s"]
    verdicts["freshness_p50_s"] = {
        "target": f"<= {2 * interval} (2 x trigger interval)",
        "value": p50,
        "met": None if p50 is None else p50 <= 2 * interval,
    }
    return verdicts


def write_results(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every size")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument("--no-freshness", action="store_true", help="skip the freshness case")
    parser.add_argument("--freshness-seconds", type=float, default=BenchConfig.freshness_seconds)
    parser.add_argument("--interval", type=float, default=BenchConfig.trigger_interval_s)
    parser.add_argument(
        "--freshness-every-dataset",
        action="store_true",
        help="freshness with every update computing every dataset (gold too), not only the "
        "streaming layers",
    )
    parser.add_argument(
        "--gold-after-silver",
        action="store_true",
        help="time the full pipeline as the largest size's bronze + silver update plus a gold "
        "update, instead of a fresh full run (one large ingestion fewer)",
    )
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error("--scale must be above 0")
    config = BenchConfig(
        scale=args.scale,
        freshness=not args.no_freshness,
        freshness_seconds=args.freshness_seconds,
        trigger_interval_s=args.interval,
        freshness_streaming_only=not args.freshness_every_dataset,
        fresh_full_pipeline=not args.gold_after_silver,
    )
    document = run_benchmarks(config)
    write_results(document, args.output)
    from benchmarks import readme_table

    print(readme_table.render(document))
    print(f"results written to {args.output}", file=sys.stderr)
    return 0
