"""Regenerate the README's benchmark table from benchmarks/results.json.

    python -m benchmarks.readme_table            # rewrites README.md between the markers
    python -m benchmarks.readme_table --check    # exit 1 when the README is out of date

The table sits between ``<!-- bench:begin -->`` and ``<!-- bench:end -->``; nothing else in
the README is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS = Path(__file__).resolve().parent / "results.json"

# (key, what it measures, how to print it)
ROWS: tuple[tuple[str, str, str], ...] = (
    (
        "pipeline_vs_floor",
        "bronze + silver throughput / plain batch read + one Delta write",
        "{:.2f}",
    ),
    (
        "pipeline_vs_handwritten",
        "bronze + silver throughput / hand-written Structured Streaming",
        "{:.2f}",
    ),
    ("incremental_vs_full", "+1% files: streaming layers' update / their full run", "{:.3f}"),
    ("growth_exponent", "k of (t - a) ∝ N^k over the scaling sizes", "{:.2f}"),
    ("fixed_cost_s", "a of t = a + b·N (s)", "{:.1f}"),
    ("per_event_us", "b of t = a + b·N (µs per event)", "{:.1f}"),
    ("producer_events_per_s", "producer to the local sink (events/s)", "{:,.0f}"),
    ("producer_vs_naive", "producer / naive generator throughput", "{:.2f}"),
    ("full_pipeline_s", "full pipeline incl. gold and BI views, largest size (s)", "{:.1f}"),
    ("gold_refresh_s", "gold refresh after the incremental update (s)", "{:.1f}"),
    ("freshness_p50_s", "landing → queryable in silver, p50 (s)", "{:.1f}"),
    ("freshness_p95_s", "landing → queryable in silver, p95 (s)", "{:.1f}"),
    ("peak_rss_mb", "peak memory of Python + JVM + workers, PSS (MB)", "{:,.0f}"),
)


def _value(document: dict[str, Any], key: str, fmt: str) -> str:
    value = document.get(key)
    return "—" if value is None else fmt.format(value)


def _target(document: dict[str, Any], key: str) -> str:
    verdict = document.get("targets", {}).get(key)
    if not verdict:
        return ""
    met = {True: "met", False: "**missed**", None: "not measured"}[verdict["met"]]
    return f"{verdict['target']} ({met})"


def render(document: dict[str, Any]) -> str:
    """The markdown table (with a line saying where and on what it was measured)."""
    m = document.get("machine", {})
    sizes = document.get("raw", {}).get("sizes", [])
    lines = [
        "| metric | what | value | target |",
        "|---|---|---:|---|",
        *(
            f"| `{key}` | {what} | {_value(document, key, fmt)} | {_target(document, key)} |"
            for key, what, fmt in ROWS
        ),
        "",
        f"Measured at commit `{(document.get('git_sha') or 'unknown')[:12]}` on "
        f"{m.get('cores')} cores, {m.get('ram_gb')} GB RAM ({m.get('cpu_model')}); "
        f"Python {m.get('python')}, Spark {m.get('spark')}, Delta {m.get('delta_spark')}, "
        f"{m.get('java')}; sizes {', '.join(f'{n:,}' for n in sizes)} events "
        f"(scale {document.get('config', {}).get('scale')}).",
    ]
    return "\n".join(lines)


def update(readme_text: str, document: dict[str, Any]) -> str:
    """``readme_text`` with the table between the markers replaced."""
    start = readme_text.find(BEGIN)
    end = readme_text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README lacks the markers {BEGIN} ... {END}")
    head = readme_text[: start + len(BEGIN)]
    return f"{head}\n{render(document)}\n{readme_text[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme_table", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    document = json.loads(args.results.read_text())
    text = args.readme.read_text()
    new = update(text, document)
    if args.check:
        return 0 if new == text else 1
    if new != text:
        args.readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
