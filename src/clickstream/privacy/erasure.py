"""Right to erasure: remove one user from every Delta table of a database and from the landing.

Where the user is found:

* bronze holds raw values: rows whose ``user.user_id`` is the id, whose email is one of the
  user's emails (found in bronze itself), or whose raw text (``_corrupt_record``,
  ``_rescued_data``) contains either as a JSON string;
* every other table holds HMAC tokens (silver, gold) or only lineage: rows whose lineage
  (``_source_file``, ``_line_number``) is one of the user's bronze rows, or whose user token
  (``user.user_id``, ``user.email``, ``user_key``) is the user's.

Every table is DELETEd by lineage and tokens, never by the raw id: Delta records each DELETE's
predicate in the transaction log, which VACUUM keeps, so a raw id there would outlive the
erasure. The lookup in bronze compares tokens too (Spark computes bronze's, as silver does) and
searches raw text here, not in Spark: Spark writes every query's plan, literals included, to
its event log, so neither the raw id nor an email is ever part of a query. Landing files get
the user's lines blanked (same line numbers for everybody else, the file's modification time
kept, written to a temp file and renamed). DELETE keeps old versions readable by time travel:
the report lists them, and ``vacuum=True`` removes their files with
``VACUUM … RETAIN 0 HOURS`` after a warning.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clickstream import config
from clickstream.observability.landing_audit import local_path

if TYPE_CHECKING:
    from clickstream.transforms.pii import PiiKey

RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
# Commits that do not change a table's rows: a version after one holds what the one before held.
NO_DATA_CHANGE = frozenset(
    {
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "VACUUM START",
        "VACUUM END",
        "OPTIMIZE",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "CHANGE COLUMN",
        "SET TABLE COMMENT",
    }
)
TIME_TRAVEL_WARNING = (
    "VACUUM RETAIN 0 HOURS deletes every data file that the current version of a table does "
    "not use: time travel to any earlier version of these tables stops working, and a stream "
    "reading them from an old version fails"
)


def sql_string(value: str) -> str:
    """A Spark SQL string literal (backslash escapes are on by default)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def token(value: str, key: str) -> str:
    """The HMAC-SHA-256 hex token silver and gold hold for ``value`` (transforms.pii)."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def json_string(value: str) -> str:
    """How ``value`` appears inside a JSON line (quoted), for substring search in raw text."""
    import json

    return json.dumps(value, ensure_ascii=False)


@dataclass
class TableErasure:
    table: str
    deleted: int
    current_version: int
    versions_holding: list[int]


@dataclass
class ErasureReport:
    user_id: str
    emails: list[str]
    tables: list[TableErasure] = field(default_factory=list)
    landing_files: list[Path] = field(default_factory=list)
    landing_lines: int = 0
    unreadable_files: list[Path] = field(default_factory=list)
    vacuumed: list[str] = field(default_factory=list)

    @property
    def rows_deleted(self) -> int:
        return sum(t.deleted for t in self.tables)


def _columns(spark: Any, table: str) -> dict[str, Any]:
    return {f.name: f.dataType for f in spark.table(table).schema.fields}


def _struct_has(dtype: Any, leaf: str) -> bool:
    return hasattr(dtype, "fieldNames") and leaf in dtype.fieldNames()


def _in_list(values: Iterable[str]) -> str:
    return ", ".join(sql_string(v) for v in sorted(set(values)))


def _lineage_condition(lineage: set[tuple[str, int]]) -> str | None:
    if not lineage:
        return None
    pairs = ", ".join(f"({sql_string(f)}, {int(n)})" for f, n in sorted(lineage))
    return f"(_source_file, _line_number) IN ({pairs})"


def _token_conditions(
    columns: dict[str, Any], user_token: str, email_tokens: list[str]
) -> list[str]:
    found = []
    user = columns.get("user")
    if _struct_has(user, "user_id"):
        found.append(f"user.user_id = {sql_string(user_token)}")
    if _struct_has(user, "email") and email_tokens:
        found.append(f"user.email IN ({_in_list(email_tokens)})")
    if "user_key" in columns:
        found.append(f"user_key = {sql_string(user_token)}")
    return found


def delta_tables(spark: Any, database: str) -> list[str]:
    """Fully quoted names of the Delta tables of ``database`` (views and others skipped)."""
    names = []
    for row in spark.sql(f"SHOW TABLES IN `{database}`").collect():
        if row.isTemporary:
            continue
        name = f"`{database}`.`{row.tableName}`"
        try:
            detail = spark.sql(f"DESCRIBE DETAIL {name}").collect()[0]
        except Exception:  # a view has no detail: nothing stored to erase
            continue
        if (detail["format"] or "").lower() == "delta":
            names.append(name)
    return sorted(names)


def _versions_holding(spark: Any, table: str, condition: str, before: int) -> list[int]:
    """Versions below ``before`` whose snapshot has rows matching ``condition``.

    One query for the table, not one per version: a union of one-row probes, each reading one
    data-changing version; a version that changed no rows holds what the one before held.
    """
    history = spark.sql(f"DESCRIBE HISTORY {table}").select("version", "operation").collect()
    versions = sorted((r["version"], r["operation"]) for r in history if r["version"] < before)
    probed = [v for v, op in versions if op not in NO_DATA_CHANGE or v == 0]
    if not probed:
        return []
    probes = " UNION ALL ".join(
        f"(SELECT {v} AS v FROM {table} VERSION AS OF {v} WHERE {condition} LIMIT 1)"
        for v in probed
    )
    found = {r[0] for r in spark.sql(probes).collect()}
    holding: list[int] = []
    current = False
    for version, _ in versions:
        if version in probed:
            current = version in found
        if current:
            holding.append(version)
    return holding


def _latest_version(spark: Any, table: str) -> int:
    return int(spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").collect()[0]["version"])


def _emails_of(spark: Any, bronze: str, user_token: str, pii_key: PiiKey) -> list[str]:
    """The emails bronze holds for the user, found by token: a query's plan (with its
    literals) goes to Spark's event log, so the raw id is never part of one."""
    from pyspark.sql import functions as F

    from clickstream.transforms import pii

    user = pii.hmac_sha256_hex(F.col("user.user_id"), pii_key.pads)
    rows = (
        pii_key.keyed(spark.table(bronze))
        .where((user == user_token) & F.col("user.email").isNotNull())
        .select("user.email")
        .distinct()
        .collect()
    )
    return sorted(r[0] for r in rows)


def _lineage_of(
    spark: Any, bronze: str, user_token: str, email_tokens: Sequence[str], pii_key: PiiKey
) -> set[tuple[str, int]]:
    """Bronze rows whose user id or email is the user's, compared as tokens."""
    from pyspark.sql import functions as F

    from clickstream.transforms import pii

    matches = pii.hmac_sha256_hex(F.col("user.user_id"), pii_key.pads) == user_token
    if email_tokens:
        email = pii.hmac_sha256_hex(F.col("user.email"), pii_key.pads)
        matches = matches | email.isin(list(email_tokens))
    keyed = pii_key.keyed(spark.table(bronze)).where(matches)
    rows = keyed.select("_source_file", "_line_number").collect()
    return {(r["_source_file"], r["_line_number"]) for r in rows}


def _raw_text_lineage(spark: Any, bronze: str, needles: Sequence[str]) -> set[tuple[str, int]]:
    """Bronze rows whose raw text (a broken line, rescued fields) holds a needle as a JSON
    string. Searched here, not by Spark: a substring test would put the needle in a plan. Only
    rows with raw text come over (a small share of bronze: the defects)."""
    from pyspark.sql import functions as F

    markers = [json_string(n).encode() for n in needles]
    raw = spark.table(bronze).where(
        F.col("_corrupt_record").isNotNull() | F.col("_rescued_data").isNotNull()
    )
    # As bytes: bronze keeps a broken line's bytes as they landed, valid UTF-8 or not.
    texts = raw.select(
        "_source_file",
        "_line_number",
        F.concat_ws("\n", "_corrupt_record", "_rescued_data").cast("binary").alias("text"),
    )
    found = set()
    for row in texts.toLocalIterator():
        if any(marker in row["text"] for marker in markers):
            found.add((row["_source_file"], row["_line_number"]))
    return found


def forget_user(
    spark: Any,
    database: str,
    landing: Path,
    user_id: str,
    key: str,
    vacuum: bool = False,
    emit: Callable[[str], None] = print,
    key_file: Path | None = None,
) -> ErasureReport:
    """Erase ``user_id`` from every Delta table of ``database`` and the landing zone.

    ``key_file`` (holding ``key``): Spark reads the key from it instead of from the queries.
    """
    bronze = f"`{database}`.`{config.BRONZE_EVENTS}`"
    user_token = token(user_id, key)
    from clickstream.transforms import pii

    pii_key = pii.PiiKey.literal(key) if key_file is None else pii.PiiKey.from_file(spark, key_file)
    emails = _emails_of(spark, bronze, user_token, pii_key)
    email_tokens = [token(e, key) for e in emails]
    lineage = _lineage_of(spark, bronze, user_token, email_tokens, pii_key)
    lineage |= _raw_text_lineage(spark, bronze, [user_id, *emails])
    needles = [user_id, *emails]
    report = ErasureReport(user_id, emails)
    tables = delta_tables(spark, database)
    # Bronze last: the other tables' lineage conditions were computed from it above.
    for table in sorted(tables, key=lambda t: t == bronze):
        columns = _columns(spark, table)
        conditions = _token_conditions(columns, user_token, email_tokens) if table != bronze else []
        by_lineage = _lineage_condition(lineage)
        if by_lineage and {"_source_file", "_line_number"} <= set(columns):
            conditions.append(by_lineage)
        if not conditions:
            continue
        condition = " OR ".join(f"({c})" for c in conditions)
        # Delta's DELETE returns the number of rows it removed (0: no commit, no new version).
        count = int(spark.sql(f"DELETE FROM {table} WHERE {condition}").collect()[0][0])
        version = _latest_version(spark, table)
        holding = _versions_holding(spark, table, condition, version if count else version + 1)
        report.tables.append(TableErasure(table, int(count), version, holding))
    _blank_landing_lines(landing, lineage, needles, report)
    _print_report(report, emit)
    if vacuum:
        emit(f"WARNING: {TIME_TRAVEL_WARNING}")
        report.vacuumed = vacuum_tables(
            spark, [t.table for t in report.tables if t.versions_holding]
        )
        for table in report.vacuumed:
            emit(f"vacuumed {table} (RETAIN 0 HOURS)")
    elif any(t.versions_holding for t in report.tables):
        emit("run again with --vacuum to remove those versions' files (ends time travel to them)")
    return report


def vacuum_tables(spark: Any, tables: Sequence[str]) -> list[str]:
    """``VACUUM … RETAIN 0 HOURS`` on each table; the safety check is off only meanwhile."""
    previous = spark.conf.get(RETENTION_CHECK, "true")
    spark.conf.set(RETENTION_CHECK, "false")
    try:
        for table in tables:
            spark.sql(f"VACUUM {table} RETAIN 0 HOURS")
    finally:
        spark.conf.set(RETENTION_CHECK, previous)
    return list(tables)


def _blank_landing_lines(
    landing: Path, lineage: set[tuple[str, int]], needles: Sequence[str], report: ErasureReport
) -> None:
    """Blank the user's lines in every landed file: the lines bronze traced to the user, and
    any line (ingested or not yet) that contains the user's id or email as a JSON string."""
    by_file: dict[Path, set[int]] = {}
    for source, number in lineage:
        by_file.setdefault(local_path(source), set()).add(number)
    markers = [json_string(n).encode() for n in needles]
    files = set(by_file) | {p for p in landing.rglob("*.json") if p.is_file()}
    for path in sorted(files):
        try:
            data = path.read_bytes()
            stat = path.stat()
        except OSError:
            continue
        lines = data.split(b"\n")
        targets = by_file.get(path, set())
        changed = 0
        for index, line in enumerate(lines):
            hit = (index + 1) in targets or any(m in line for m in markers)
            if hit and line.strip(b" \r"):
                lines[index] = b""
                changed += 1
        if changed:
            staged = path.with_name(f".{path.name}.{os.getpid()}.erasure.tmp")
            staged.write_bytes(b"\n".join(lines))
            # The landing time stays (the late-event rule and the landing audit read it).
            os.utime(staged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            os.replace(staged, path)
            report.landing_files.append(path)
            report.landing_lines += changed
        elif path in by_file:
            # e.g. a compressed file: its lines are not plain text we can rewrite.
            report.unreadable_files.append(path)


def _print_report(report: ErasureReport, emit: Callable[[str], None]) -> None:
    emit(f"forget-user {report.user_id}: {report.rows_deleted} rows deleted")
    for item in report.tables:
        held = (
            f"; versions {_ranges(item.versions_holding)} still hold them (time travel)"
            if item.versions_holding
            else ""
        )
        emit(
            f"  {item.table}: {item.deleted} rows deleted, now version {item.current_version}{held}"
        )
    emit(f"  landing: {report.landing_lines} lines blanked in {len(report.landing_files)} files")
    for path in report.unreadable_files:
        emit(f"  NOTE: {path} holds the user's rows but is not plain text: rewrite it by hand")


def _ranges(versions: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for v in versions:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = v
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(parts)
