"""What the notebooks use: a fresh, deterministic lab per notebook, on the project's engine.

A notebook never re-types pipeline logic. It produces events with the real producer, runs the
real pipeline definitions of ``src/clickstream/pipeline/`` through the same runner as
``clickstream run``, and queries the tables. Each notebook gets its own database and landing
folder and starts from nothing, so its outputs do not depend on which notebooks ran before it.

Locally the lab uses the home's shared Spark Connect server when one runs (tests, workshops) and
an in-process engine otherwise. On Databricks the notebooks run against the deployed pipeline's
tables instead (``on_databricks``).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickstream.config import LocalSettings

# Every notebook's simulated clock starts here: the same command gives the same events.
LAB_START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PIPELINE_DIR = Path(__file__).parent / "pipeline"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _text(value: Any) -> Any:
    # Bronze may hold bytes that are not UTF-8; show them, don't fail on them.
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else value


def on_databricks() -> bool:
    """True inside a Databricks runtime (the bundle deploys these notebooks there too)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def database_for(notebook: str) -> str:
    """``02_bronze_ingestion`` -> ``nb02``: one database per notebook."""
    match = re.match(r"(\d+)", notebook)
    if not match:
        raise ValueError(f"notebook names start with their number, not {notebook!r}")
    return f"nb{match.group(1)}"


@dataclass
class Lab:
    """One notebook's corner of the lakehouse: its database, landing folder and engine."""

    notebook: str
    settings: LocalSettings
    database: str
    landing: Path
    lakehouse: Any
    updates: list[Any] = field(default_factory=list)

    # The local engine (the workspace lab, teaching_workspace.WorkspaceLab, says False).
    local = True

    @property
    def spark(self) -> Any:
        return self.lakehouse.spark

    def table(self, name: str) -> str:
        """The name to query ``name`` by from anywhere: ``nb03.silver_events``."""
        return f"{self.database}.{name}"

    def produce(self, events: int, seed: int = 42, **options: Any) -> Any:
        """Land ``events`` lines of clickstream with the real producer (deterministic)."""
        from producer import produce

        options.setdefault("start", LAB_START)
        result = produce(events=events, seed=seed, sink=self.landing, **options)
        print(result.summary())
        return result

    def runner(self, **pipeline_settings: str) -> Any:
        from clickstream.runner import PipelineRunner

        return PipelineRunner(
            self.lakehouse,
            database=self.database,
            landing=self.landing,
            pipeline_settings=pipeline_settings or None,
        )

    def run(self, full_refresh: bool = False, **pipeline_settings: str) -> Any:
        """One pipeline update, as `clickstream run` does it; prints its outcome."""
        result = self.runner(**pipeline_settings).run(full_refresh_all=full_refresh)
        self.updates.append(result)
        number = len(self.updates)
        if result.ok:
            print(f"update {number}: COMPLETED")
        else:
            print(f"update {number}: FAILED — {result.error}")
        return result

    def sql(self, query: str) -> Any:
        """A query on this lab's database, as a pandas DataFrame (strings decoded leniently)."""
        import pandas as pd

        from clickstream.query import run_query

        columns, rows = run_query(self.spark, query, self.database)
        decoded = [tuple(_text(v) for v in row) for row in rows]
        return pd.DataFrame(decoded, columns=columns)

    def table_counts(self) -> Any:
        """Rows per table of this lab's database."""
        import pandas as pd

        from clickstream.query import table_counts

        return pd.DataFrame(table_counts(self.spark, self.database), columns=["table", "rows"])

    def history(self, table: str) -> Any:
        """DESCRIBE HISTORY of one table: version, operation and rows written, oldest first."""
        return history_frame(self.spark, self.table(table))

    def close(self) -> None:
        self.lakehouse.close()


def history_frame(spark: Any, table: str) -> Any:
    """DESCRIBE HISTORY of ``table`` as pandas: version, operation, rows written, oldest first."""
    from pyspark.sql import functions as F

    return (
        spark.sql(f"DESCRIBE HISTORY {table}")
        .select(
            "version",
            "operation",
            F.col("operationMetrics")["numOutputRows"].alias("rows_written"),
        )
        .orderBy("version")
        .toPandas()
    )


# Columns that differ between two runs of the same files by design.
PER_RUN_COLUMNS = frozenset({"_ingested_at", "_update_id"})


def comparable(df: Any) -> Any:
    """The columns two runs of the same files must agree on, in name order.

    Per-run columns are left out; ``_corrupt_record`` is compared as bytes, so a line that is
    not UTF-8 must match byte for byte (and can be collected at all).
    """
    columns = sorted(c for c in df.columns if c not in PER_RUN_COLUMNS)
    return df.select(
        *(df[c].cast("binary").alias(c) if c == "_corrupt_record" else df[c] for c in columns)
    )


def same_rows(left: Any, right: Any) -> bool:
    """Whether two DataFrames hold exactly the same rows (as multisets), per-run columns aside."""
    a, b = comparable(left), comparable(right)
    if a.columns != b.columns:
        return False
    return a.count() == b.count() and a.exceptAll(b).isEmpty() and b.exceptAll(a).isEmpty()


def quiet() -> None:
    """Keep notebook outputs to what the notebook shows: no client-side Spark chatter."""
    import warnings

    import pandas as pd

    for name in ("py4j", "pyspark", "SQLQueryContextLogger"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # rich's live progress works in a notebook without widgets; don't warn about them.
    warnings.filterwarnings("ignore", message='install "ipywidgets"')
    # A BI ranking over all rows is meant to be global; Spark warns about any such window.
    warnings.filterwarnings("ignore", message="WARN WindowExpression")
    # Whole values in tables: truncation would depend on path lengths, not on the data.
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", 200)


def start(notebook: str, settings: LocalSettings | None = None) -> Any:
    """A fresh lab for ``notebook``: its database dropped, its landing and checkpoints emptied.

    In a Databricks workspace it is the deployed pipeline's lab instead (nothing is reset).
    """
    quiet()
    if on_databricks():
        from clickstream import teaching_workspace

        return teaching_workspace.start(notebook, PROJECT_ROOT)
    from clickstream.engine import Lakehouse

    settings = settings or LocalSettings.from_env()
    database = database_for(notebook)
    lakehouse = Lakehouse.open(settings)
    spark = lakehouse.spark
    spark.sql(f"DROP DATABASE IF EXISTS `{database}` CASCADE")
    landing = settings.home / "notebooks" / database / "landing"
    for folder in (landing, settings.pipeline_storage(database)):
        shutil.rmtree(folder, ignore_errors=True)
    landing.mkdir(parents=True)
    print(f"lab {database}: a fresh database and landing zone on the {lakehouse.mode} engine")
    return Lab(notebook, settings, database, landing, lakehouse)


def definition_source(layer: str, dataset: str | None = None) -> str:
    """The source of a pipeline definition file, or of one dataset's function in it.

    Definition files run only inside a pipeline update, so notebooks show them as text.
    """
    text = (PIPELINE_DIR / f"{layer}.py").read_text()
    if dataset is None:
        return text
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"def {dataset}(")]
    if not starts:
        raise KeyError(f"no dataset function {dataset!r} in pipeline/{layer}.py")
    first = last = starts[0]
    # Up over its decorators (they end at the blank line before them), down over its body.
    while first > 0 and lines[first - 1].strip():
        first -= 1
    while last + 1 < len(lines) and (not lines[last + 1] or lines[last + 1][0] in " \t"):
        last += 1
    return "\n".join(lines[first : last + 1]).rstrip() + "\n"


def show_definition(layer: str, dataset: str | None = None) -> None:
    print(definition_source(layer, dataset))


def show_source(obj: Any) -> None:
    """Print a transform's source (the pure functions the definitions call)."""
    print(inspect.getsource(obj))



# ---- exercises: each notebook ends with one; `check` tells the learner whether it is solved ----


def _landed_lines(lab: Lab) -> list[bytes]:
    return [
        line
        for path in sorted(lab.landing.rglob("*.json"))
        for line in path.read_bytes().split(b"\n")
        if line.strip()
    ]


def _is_json_object(line: bytes) -> bool:
    import json

    try:
        return isinstance(json.loads(line.decode("utf-8").lstrip("\ufeff")), dict)
    except ValueError:
        return False


def _expected(exercise: str, lab: Any) -> Any:
    """The right answer, found independently of the project's pipeline code where possible."""
    import importlib.metadata
    import json
    from collections import Counter

    if exercise == "00":
        return (lab.spark.version, importlib.metadata.version("delta-spark"))
    if exercise == "01":
        ids = Counter(
            json.loads(line).get("event_id") for line in _landed_lines(lab) if _is_json_object(line)
        )
        return sum(n - 1 for event_id, n in ids.items() if event_id and n > 1)
    if exercise == "02":
        return sum(not _is_json_object(line) for line in _landed_lines(lab))
    if exercise == "03":
        counts: Counter[str] = Counter()
        for rules in lab.sql("SELECT failed_rules FROM silver_quarantine")["failed_rules"]:
            counts.update(rules)
        return dict(counts)
    if exercise == "04":
        changes = lab.sql("SELECT user_key, sequence_ts, tier FROM silver_user_changes")
        latest = changes.sort_values("sequence_ts").groupby("user_key").tail(1)
        return int((latest["tier"] == "gold").sum())
    if exercise == "05":
        orders = lab.sql(
            "SELECT DISTINCT properties.order_id, properties.revenue FROM silver_events "
            "WHERE event_type = 'purchase'"
        )
        return round(float(orders["revenue"].astype(float).sum()), 2)
    if exercise == "06":
        return len(lab.updates)
    if exercise == "07":
        import yaml

        bundle = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text())
        return sorted(bundle["targets"])
    raise KeyError(f"no exercise {exercise!r}")


def _normalise(exercise: str, lab: Any, answer: Any) -> Any:
    """A learner's answer in the shape `_expected` returns (SQL answers are run first)."""
    if exercise in ("02", "03", "04", "05", "06") and isinstance(answer, str):
        frame = lab.sql(answer)
        if exercise == "03":
            return {str(rule): int(rows) for rule, rows in frame.itertuples(index=False)}
        if exercise == "05":
            return round(float(frame.iloc[0, 0]), 2)
        return int(frame.iloc[0, 0])
    if exercise == "00" and isinstance(answer, list | tuple):
        return tuple(answer)
    if exercise == "07" and isinstance(answer, list | tuple | set):
        return sorted(answer)
    return answer


def verdict(exercise: str, lab: Lab | None, answer: Any) -> tuple[bool, str]:
    """(solved?, what to tell the learner) for an answer to a notebook's exercise."""
    if answer is None:
        return False, f"exercise {exercise}: not answered yet — replace `answer = None` with yours"
    try:
        given = _normalise(exercise, lab, answer)
    except Exception as exc:  # a learner's SQL may fail in any way; say how, don't crash
        return False, f"exercise {exercise}: your answer did not run — {type(exc).__name__}: {exc}"
    if given == _expected(exercise, lab):
        return True, f"exercise {exercise}: correct"
    return False, f"exercise {exercise}: not yet — your answer gives {given!r}"


def check(exercise: str, lab: Lab | None, answer: Any) -> None:
    """The check cell at the end of a notebook: prints whether the exercise is solved."""
    print(verdict(exercise, lab, answer)[1])
