"""``clickstream report``: one self-contained HTML file about the pipeline's recent updates.

Every number comes from a query on the lakehouse (the event log and its views, the silver and
accounting tables) and is shown in a table next to its plot; the plots are matplotlib SVG inlined
in the page, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickstream import config
from clickstream.config import LocalSettings
from clickstream.observability.lineage import Lineage

LAYER_COLOURS = {
    "landing": "#9e9e9e",
    "bronze": "#b87333",
    "silver": "#8a9ba8",
    "gold": "#d4a017",
    "bi": "#4f81bd",
    "ops": "#6a9f58",
}
STATE_COLOURS = {"COMPLETED": "#4caf50", "FAILED": "#e53935"}


@dataclass
class Section:
    """One part of the report: a heading, the numbers (a table) and optionally a plot."""

    id: str
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    svg: str | None = None
    note: str = ""


def cell(value: Any) -> str:
    """How a value is printed in the report's tables."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# --- queries ---------------------------------------------------------------------------------


def _rows(spark: Any, sql: str) -> list[tuple[Any, ...]]:
    """The rows of a query; none while a table it reads does not exist yet (say, the first
    update failed before creating it)."""
    from pyspark.errors import AnalysisException

    try:
        return [tuple(r) for r in spark.sql(sql).collect()]
    except AnalysisException as exc:
        if "TABLE_OR_VIEW_NOT_FOUND" in str(exc):
            return []
        raise


def _tables(spark: Any, database: str) -> list[str]:
    return sorted(
        t.name
        for t in spark.catalog.listTables(database)
        if t.tableType != "VIEW" and not t.isTemporary
    )


def run_history(spark: Any, db: str) -> list[tuple[Any, ...]]:
    return _rows(
        spark,
        f"SELECT update_id, started_at, state, duration_s, rows_written, errors, error "
        f"FROM `{db}`.v_run_history ORDER BY started_at",
    )


def rows_per_table(spark: Any, db: str) -> list[tuple[str, str, int]]:
    out = [
        (config.layer_of(t), t, spark.table(f"`{db}`.`{t}`").count()) for t in _tables(spark, db)
    ]
    order = list(config.LAYER_TABLES)
    return sorted(out, key=lambda r: (order.index(r[0]) if r[0] in order else 99, r[1]))


def expectation_history(spark: Any, db: str) -> list[tuple[Any, ...]]:
    return _rows(
        spark,
        f"SELECT update_id, timestamp, expectation, action, passed_records, failed_records "
        f"FROM `{db}`.v_expectation_metrics ORDER BY timestamp, expectation",
    )


def quarantine_by_rule(spark: Any, db: str) -> list[tuple[Any, ...]]:
    return _rows(
        spark,
        f"SELECT rule, count(*) AS quarantined_rows FROM `{db}`.`{config.SILVER_QUARANTINE}` "
        f"LATERAL VIEW explode(failed_rules) r AS rule GROUP BY rule ORDER BY rule",
    )


def late_and_duplicates(spark: Any, db: str) -> list[tuple[Any, ...]]:
    return _rows(
        spark,
        f"SELECT _update_id AS update_id, count_if(outcome = 'late') AS late, "
        f"count_if(outcome = 'duplicate') AS duplicates, count(*) AS bronze_rows "
        f"FROM `{db}`.`{config.EVENT_ACCOUNTING}` GROUP BY _update_id "
        f"ORDER BY min(_ingested_at)",
    )


def throughput(spark: Any, db: str) -> list[tuple[Any, ...]]:
    return _rows(
        spark,
        f"SELECT update_id, flow_name, input_rows, output_rows, duration_s, rows_per_second "
        f"FROM `{db}`.v_flow_throughput ORDER BY completed_at, flow_name",
    )


def accounting_identity(spark: Any, db: str) -> list[tuple[Any, ...]]:
    return _rows(
        spark,
        f"SELECT count(*) AS bronze_rows, count_if(outcome = 'silver') AS silver, "
        f"count_if(outcome = 'quarantine') AS quarantined, "
        f"count_if(outcome = 'duplicate') AS duplicates, count_if(outcome = 'late') AS late, "
        f"count_if(outcome = 'unaccounted') AS unaccounted, "
        f"count_if(outcome = 'conflict') AS conflicts "
        f"FROM `{db}`.`{config.EVENT_ACCOUNTING}`",
    )


# --- plots -----------------------------------------------------------------------------------


def _figure(width: float = 8.0, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: small, searchable
    return plt.subplots(figsize=(width, height))


def _svg(fig: Any) -> str:
    from matplotlib import pyplot as plt

    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    # Inline SVG: the XML prolog and doctype are not allowed inside HTML.
    return text[text.index("<svg") :]


def _short_id(update_id: str) -> str:
    return (update_id or "")[:8]


def plot_history(history: Sequence[tuple[Any, ...]]) -> str:
    fig, ax = _figure()
    labels = [_short_id(r[0]) for r in history]
    colours = [STATE_COLOURS.get(r[2], "#9e9e9e") for r in history]
    ax.bar(labels, [r[3] or 0 for r in history], color=colours)
    ax.set_ylabel("duration (s)")
    ax.set_xlabel("update (green: completed, red: failed)")
    rows = ax.twinx()
    rows.plot(labels, [r[4] or 0 for r in history], color="#333333", marker="o")
    rows.set_ylabel("rows written")
    return _svg(fig)


def plot_layers(counts: Sequence[tuple[str, str, int]]) -> str:
    fig, ax = _figure(8.0, 0.35 * max(len(counts), 4) + 1)
    ax.barh(
        [r[1] for r in counts][::-1],
        [r[2] for r in counts][::-1],
        color=[LAYER_COLOURS.get(r[0], "#9e9e9e") for r in counts][::-1],
    )
    ax.set_xlabel("rows")
    return _svg(fig)


def plot_expectations(history: Sequence[tuple[Any, ...]]) -> str:
    fig, ax = _figure()
    updates = list(dict.fromkeys(_short_id(r[0]) for r in history))
    rules = sorted({r[2] for r in history})
    for rule in rules:
        failed = {_short_id(r[0]): r[5] for r in history if r[2] == rule}
        ax.plot(updates, [failed.get(u, 0) for u in updates], marker="o", label=rule)
    ax.set_ylabel("failed records")
    ax.set_xlabel("update")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _svg(fig)


def plot_bars(labels: Sequence[str], values: Sequence[float], ylabel: str) -> str:
    fig, ax = _figure()
    ax.bar(list(labels), list(values), color="#4f81bd")
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return _svg(fig)


def plot_late_duplicates(rows: Sequence[tuple[Any, ...]]) -> str:
    fig, ax = _figure()
    labels = [_short_id(r[0]) for r in rows]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], [r[1] for r in rows], width=0.4, label="late")
    ax.bar([x + 0.2 for x in xs], [r[2] for r in rows], width=0.4, label="duplicates")
    ax.set_xticks(list(xs), labels)
    ax.set_xlabel("update that ingested the rows")
    ax.legend()
    return _svg(fig)


def lineage_layout(lineage: Lineage) -> dict[str, tuple[int, int]]:
    """Column = longest path from a source, row = order within the column."""
    nodes = {e.source for e in lineage.edges} | {e.target for e in lineage.edges}
    nodes |= set(lineage.datasets)
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):
        for edge in lineage.edges:
            if edge.source != edge.target:
                depth[edge.target] = max(depth[edge.target], depth[edge.source] + 1)
    columns: dict[int, list[str]] = {}
    for node in sorted(nodes):
        columns.setdefault(depth[node], []).append(node)
    # Each column ordered by the mean row of its sources: fewer crossing arrows.
    row: dict[str, float] = {}
    for column in sorted(columns):

        def key(node: str) -> tuple[float, str]:
            sources = [row[e.source] for e in lineage.edges if e.target == node and e.source in row]
            return (sum(sources) / len(sources) if sources else 0.0, node)

        columns[column].sort(key=key)
        row.update({n: i for i, n in enumerate(columns[column])})
    return {n: (d, i) for d, names in columns.items() for i, n in enumerate(names)}


def node_label(name: str) -> str:
    return "landing files" if name.startswith("files:") else name


def plot_lineage(lineage: Lineage) -> str:
    layout = lineage_layout(lineage)
    width = max((c for c, _ in layout.values()), default=0) + 1
    height = max((r for _, r in layout.values()), default=0) + 1
    fig, ax = _figure(2.6 * width + 1, 0.8 * height + 1)

    def centre(node: str) -> tuple[float, float]:
        column, row = layout[node]
        return column * 3.0, -row * 1.0

    for edge in lineage.edges:
        (sx, sy), (tx, ty) = centre(edge.source), centre(edge.target)
        # From the right of the source's box to the left of the target's.
        ax.annotate(
            "",
            xy=(tx - 0.85, ty),
            xytext=(sx + 0.85, sy),
            arrowprops={
                "arrowstyle": "->",
                "color": "#555555",
                "linestyle": "-" if edge.streaming else "--",
                "shrinkA": 0,
                "shrinkB": 0,
            },
        )
    for node in layout:
        layer = "landing" if node.startswith("files:") else config.layer_of(node)
        x, y = centre(node)
        ax.text(
            x,
            y,
            node_label(node),
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": LAYER_COLOURS.get(layer, "#cccccc")},
        )
    ax.set_xlim(-1.5, 3.0 * (width - 1) + 1.5)
    ax.set_ylim(-(height - 1) - 0.7, 0.7)
    ax.axis("off")
    return _svg(fig)


# --- assembling ------------------------------------------------------------------------------


def collect(spark: Any, settings: LocalSettings, database: str) -> list[Section]:
    """Every section of the report, from queries on the lakehouse."""
    sections: list[Section] = []
    history = run_history(spark, database)
    latest = history[-1:] if history else []
    sections.append(
        Section(
            "latest-update",
            "Latest update",
            ["update_id", "started_at", "state", "duration_s", "rows_written", "errors", "error"],
            latest,
        )
    )
    sections.append(
        Section(
            "update-history",
            "Update history",
            ["update_id", "started_at", "state", "duration_s", "rows_written", "errors"],
            [r[:6] for r in history],
            plot_history(history) if history else None,
        )
    )
    counts = rows_per_table(spark, database)
    sections.append(
        Section(
            "rows-per-layer",
            "Rows per layer",
            ["layer", "table", "rows"],
            counts,
            plot_layers(counts) if counts else None,
        )
    )
    expectations = expectation_history(spark, database)
    sections.append(
        Section(
            "expectations",
            "Expectations per rule over time",
            ["update_id", "timestamp", "expectation", "action", "passed_records", "failed_records"],
            expectations,
            plot_expectations(expectations) if expectations else None,
            "Drop rules are checked on every bronze row an update ingested, warn rules on the "
            "rows silver kept.",
        )
    )
    quarantine = quarantine_by_rule(spark, database)
    sections.append(
        Section(
            "quarantine",
            "Quarantine by rule",
            ["rule", "quarantined_rows"],
            quarantine,
            plot_bars([r[0] for r in quarantine], [r[1] for r in quarantine], "rows")
            if quarantine
            else None,
            "A row failing several rules counts once per rule.",
        )
    )
    late = late_and_duplicates(spark, database)
    sections.append(
        Section(
            "late-duplicates",
            "Late and duplicate events",
            ["update_id", "late", "duplicates", "bronze_rows"],
            late,
            plot_late_duplicates(late) if late else None,
        )
    )
    flows = throughput(spark, database)
    latest_flows = [r for r in flows if latest and r[0] == latest[0][0]] or flows
    sections.append(
        Section(
            "throughput",
            "Throughput per flow",
            [
                "update_id",
                "flow_name",
                "input_rows",
                "output_rows",
                "duration_s",
                "rows_per_second",
            ],
            flows,
            plot_bars(
                [r[1] for r in latest_flows],
                [r[5] or 0 for r in latest_flows],
                "rows written per second",
            )
            if latest_flows
            else None,
            "Input rows come from Spark's streaming progress (materialized views have none); "
            "the plot shows the latest update.",
        )
    )
    lineage_path = settings.pipeline_storage(database) / "lineage.json"
    lineage = Lineage.from_json(lineage_path.read_text()) if lineage_path.is_file() else Lineage()
    edges = sorted(lineage.edges, key=lambda e: (e.target, e.source))
    sections.append(
        Section(
            "lineage",
            "Lineage",
            ["source", "target", "flow", "mode"],
            [
                (node_label(e.source), e.target, e.flow, "stream" if e.streaming else "read")
                for e in edges
            ],
            plot_lineage(lineage) if edges else None,
            "Captured from the pipeline definitions as they registered (solid: streaming read).",
        )
    )
    identity = accounting_identity(spark, database)
    holds = [(*r, r[0] == r[1] + r[2] + r[3] + r[4] and r[5] == 0 and r[6] == 0) for r in identity]
    sections.append(
        Section(
            "accounting",
            "Accounting identity",
            [
                "bronze_rows",
                "silver",
                "quarantined",
                "duplicates",
                "late",
                "unaccounted",
                "conflicts",
                "identity_holds",
            ],
            holds,
            note="bronze_rows = silver + quarantined + duplicates + late, "
            "with nothing unaccounted and no row in two tables.",
        )
    )
    return sections


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0; } .meta { color: #666; margin-top: 0.2em; }
section { margin: 2em 0; border-top: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state-COMPLETED { color: #2e7d32; font-weight: bold; }
.state-FAILED { color: #c62828; font-weight: bold; }
.note { color: #555; font-size: 0.9em; }
svg { max-width: 100%; height: auto; }
"""


def _id_of(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def render(sections: Sequence[Section], database: str, generated_at: datetime) -> str:
    """The HTML page (no external resource)."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>clickstream pipeline report: {html.escape(database)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Clickstream pipeline report</h1>",
        f'<p class="meta">database <code>{html.escape(database)}</code>, generated '
        f"{generated_at:%Y-%m-%d %H:%M:%S} UTC</p>",
        "<nav><ul>",
        *[f'<li><a href="#{s.id}">{html.escape(s.title)}</a></li>' for s in sections],
        "</ul></nav>",
    ]
    for section in sections:
        out.append(f'<section id="{_id_of(section.id)}"><h2>{html.escape(section.title)}</h2>')
        if section.note:
            out.append(f'<p class="note">{html.escape(section.note)}</p>')
        if section.svg:
            out.append(f'<div class="plot">{section.svg}</div>')
        out.append("<table><thead><tr>")
        out += [f"<th>{html.escape(c)}</th>" for c in section.columns]
        out.append("</tr></thead><tbody>")
        if not section.rows:
            out.append(f'<tr><td colspan="{len(section.columns)}">no data yet</td></tr>')
        for row in section.rows:
            out.append("<tr>")
            for column, value in zip(section.columns, row, strict=True):
                classes = []
                if isinstance(value, int | float) and not isinstance(value, bool):
                    classes.append("num")
                if column == "state":
                    classes.append(f"state-{value}")
                attr = f' class="{" ".join(classes)}"' if classes else ""
                out.append(f'<td data-column="{column}"{attr}>{html.escape(cell(value))}</td>')
            out.append("</tr>")
        out.append("</tbody></table></section>")
    out.append("</body></html>")
    return "\n".join(out)


def default_path(settings: LocalSettings, database: str) -> Path:
    return settings.home / "reports" / f"{database}.html"


def write_report(
    spark: Any, settings: LocalSettings, database: str, out: Path | None = None
) -> Path:
    """Write the report and return its path."""
    from clickstream.engine import EngineError
    from clickstream.query import use_database

    use_database(spark, database)
    if not spark.catalog.tableExists(f"{database}.{config.EVENT_LOG_TABLE}"):
        raise EngineError(
            f"no event log yet for database {database!r}: run `clickstream run` first"
        )
    path = (out or default_path(settings, database)).absolute()
    sections = collect(spark, settings, database)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(sections, database, datetime.now(UTC)), encoding="utf-8")
    return path
