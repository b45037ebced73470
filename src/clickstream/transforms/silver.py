"""From bronze rows to the silver tables: rule outcomes, late events, user changes.

Every function takes bronze-shaped rows (the v1 columns plus bronze's metadata) and is pure, so
the pipeline definitions, notebooks and unit tests share one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clickstream import contract, quality
from clickstream.transforms import pii

# Where a silver row came from: joins back to its bronze row (and the landed line).
LINEAGE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_landed_at",
    "_line_number",
    "_ingested_at",
    "_update_id",
)
EVENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in contract.EVENT_FIELDS)

# Test-only fault (PipelineSettings.inject_fault): a transform bug that loses lineage.
FAULT_NULL_LINEAGE = "silver_null_lineage"


def late_condition(allowed_lateness: str) -> str:
    """SQL: the event is older than its file's landing time minus the allowed lateness."""
    return f"coalesce(event_ts < _landed_at - INTERVAL {allowed_lateness}, false)"


def valid_condition(rules: Sequence[quality.Rule]) -> str:
    """SQL: the row passes every drop rule."""
    return quality.passes_all(quality.of_action(rules, quality.DROP))


def silver_columns(rows: DataFrame, key: str | pii.KeyPads, inject_fault: str = "") -> DataFrame:
    """Bronze rows -> the shape of silver_events and silver_late_events (identifiers as tokens).

    ``_rescued_data`` and ``_corrupt_record`` stay so the expectations can be checked on the
    table itself; rows with a corrupt record never reach these tables. Rescued values are
    tokens (``pii.rescued_tokens``): a drifted field may hold personal data.
    """
    lineage = [
        F.lit(None).cast("string").alias(c)
        if c == "_source_file" and inject_fault == FAULT_NULL_LINEAGE
        else F.col(c)
        for c in LINEAGE_COLUMNS
    ]
    return rows.select(
        *[pii.pseudonymised(c, key) for c in EVENT_COLUMNS],
        pii.rescued_tokens("_rescued_data", key),
        "_corrupt_record",
        *lineage,
    )


def quarantine_columns(
    rows: DataFrame, rules: Sequence[quality.Rule], key: str | pii.KeyPads
) -> DataFrame:
    """Rows failing a drop rule, with ``failed_rules`` and their lineage.

    The raw text columns stay in bronze (they may hold personal data that cannot be
    pseudonymised inside a broken line); flags say whether there was any, lineage finds it.
    """
    failed = quality.failed_rules(quality.of_action(rules, quality.DROP))
    return rows.select(
        *[pii.pseudonymised(c, key) for c in EVENT_COLUMNS],
        failed.alias("failed_rules"),
        F.col("_rescued_data").isNotNull().alias("has_rescued_data"),
        F.col("_corrupt_record").isNotNull().alias("has_corrupt_record"),
        *LINEAGE_COLUMNS,
    ).where(F.size("failed_rules") > 0)


def user_change_columns(rows: DataFrame, key: str | pii.KeyPads) -> DataFrame:
    """profile_update events -> the change feed of dim_user, keyed by the pseudonymised user."""
    return rows.select(
        pii.hmac_sha256_hex(F.col("user.user_id"), key).alias("user_key"),
        F.col("event_ts").alias("sequence_ts"),
        "event_id",
        *[F.col(f"profile.{name}").alias(name) for name in contract.PROFILE_ATTRIBUTES],
        *LINEAGE_COLUMNS,
    )


def accounting(
    bronze: DataFrame,
    silver: DataFrame,
    quarantine: DataFrame,
    late: DataFrame,
    rules: Sequence[quality.Rule],
) -> DataFrame:
    """One row per bronze row with the outcome found in the silver tables themselves.

    A row is ``silver``, ``quarantine`` or ``late`` when its (file, line) is in that table, and
    ``duplicate`` when it is in none but its event_id is in silver. Anything else is
    ``unaccounted`` and a row found in two tables is ``conflict``: both break the identity.
    """
    lineage = ["_source_file", "_line_number"]

    def found(table: DataFrame, flag: str, *extra: str) -> DataFrame:
        return table.select(*lineage, F.lit(True).alias(flag), *extra)

    # groupBy, not distinct(): Spark Connect analyses a Deduplicate eagerly, before the pipeline
    # has created the table it reads.
    in_silver_ids = silver.groupBy("event_id").agg(F.max(F.lit(True)).alias("_silver_id"))
    warned = quality.failed_rules(quality.of_action(rules, quality.WARN))
    joined = (
        bronze.join(found(silver, "_in_silver"), lineage, "left")
        .join(found(quarantine, "_in_quarantine", "failed_rules"), lineage, "left")
        .join(found(late, "_in_late"), lineage, "left")
        .join(in_silver_ids, "event_id", "left")
    )
    hits = sum(
        F.coalesce(F.col(c), F.lit(False)).cast("int")
        for c in ("_in_silver", "_in_quarantine", "_in_late")
    )
    outcome = (
        F.when(hits > 1, "conflict")
        .when(F.col("_in_silver"), "silver")
        .when(F.col("_in_quarantine"), "quarantine")
        .when(F.col("_in_late"), "late")
        .when(F.col("_silver_id"), "duplicate")
        .otherwise("unaccounted")
    )
    return joined.select(
        *lineage,
        "event_id",
        outcome.alias("outcome"),
        F.coalesce("failed_rules", F.array().cast("array<string>")).alias("failed_rules"),
        F.when(F.col("_in_silver"), warned)
        .otherwise(F.array().cast("array<string>"))
        .alias("warned_rules"),
        F.col("_rescued_data").isNotNull().alias("rescued"),
        F.col("_corrupt_record").isNotNull().alias("corrupt"),
        "_landed_at",
        "_ingested_at",
        "_update_id",
    )


def accounting_summary(accounting_rows: DataFrame) -> DataFrame:
    """Per update that ingested the rows, and in total (``_update_id`` null): the identity.

    ``dropped_by_watermark`` is 0 by construction locally: de-duplication there is stateless and
    drops nothing by watermark; an ``unaccounted`` row would show any loss.
    """

    def count(outcome: str) -> F.Column:
        return F.count_if(F.col("outcome") == outcome)

    counts = {
        "bronze_rows": F.count(F.lit(1)),
        "rescued": F.count_if("rescued"),
        "corrupt": F.count_if("corrupt"),
        "silver": count("silver"),
        "quarantined": count("quarantine"),
        "duplicates": count("duplicate"),
        "late": count("late"),
        "dropped_by_watermark": F.lit(0).cast("bigint"),
        "unaccounted": count("unaccounted"),
        "conflicts": count("conflict"),
    }
    grouped = accounting_rows.groupBy("_update_id").agg(
        *[column.alias(name) for name, column in counts.items()]
    )
    # Names are listed, not read from the frame: reading a schema inside a pipeline query
    # function is refused (ATTEMPT_ANALYSIS_IN_PIPELINE_QUERY_FUNCTION).
    total = grouped.groupBy().agg(
        F.lit(None).cast("string").alias("_update_id"),
        *[F.sum(name).cast("bigint").alias(name) for name in counts],
    )
    both = grouped.unionByName(total)
    identity = (
        (
            F.col("bronze_rows")
            == F.col("silver") + F.col("quarantined") + F.col("duplicates") + F.col("late")
        )
        & (F.col("unaccounted") == 0)
        & (F.col("conflicts") == 0)
    )
    return both.withColumn("identity_holds", identity)


def expectation_metrics(accounting_rows: DataFrame, rules: Sequence[quality.Rule]) -> DataFrame:
    """Per update and rule: rows checked and rows that failed (warn and drop rules)."""
    checked = accounting_rows.groupBy("_update_id").agg(F.count(F.lit(1)).alias("checked"))
    names = [
        F.struct(F.lit(r.name).alias("rule"), F.lit(r.action).alias("action"))
        for r in rules
        if r.action in (quality.WARN, quality.DROP)
    ]
    failures = (
        accounting_rows.select(
            "_update_id", F.explode(F.array_union("failed_rules", "warned_rules")).alias("rule")
        )
        .groupBy("_update_id", "rule")
        .agg(F.count(F.lit(1)).alias("failed"))
    )
    per_rule = checked.select("_update_id", "checked", F.explode(F.array(*names)).alias("r"))
    return (
        per_rule.select("_update_id", "checked", "r.rule", "r.action")
        .join(failures, ["_update_id", "rule"], "left")
        .select(
            "_update_id",
            "rule",
            "action",
            "checked",
            F.coalesce("failed", F.lit(0)).cast("bigint").alias("failed"),
        )
    )
