"""Every setting of the project, in one place.

Two kinds of settings live here:

* ``LocalSettings`` — where the local lakehouse lives (``CLICKSTREAM_HOME`` and friends), read from
  the environment by the CLI, the engine, notebooks and tests.
* ``PipelineSettings`` — what the pipeline definitions need (landing path, watermark, names). They
  travel to the definitions as ``clickstream.*`` keys of the pipeline spec's ``configuration``,
  exactly as a Databricks pipeline's ``configuration`` block does, and are read back with
  ``spark.conf.get``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

PIPELINE_NAME = "clickstream"
DEFAULT_DATABASE = "clickstream"
CONF_PREFIX = "clickstream."

# Table names of the medallion layers (ARCHITECTURE §4). Definitions and queries use these.
BRONZE_EVENTS = "bronze_events"
SILVER_EVENTS = "silver_events"
SILVER_QUARANTINE = "silver_quarantine"
SILVER_LATE_EVENTS = "silver_late_events"
SILVER_USER_CHANGES = "silver_user_changes"
EVENT_ACCOUNTING = "event_accounting"
# Gold: the star schema (dimensions, facts) and the BI views over it.
DIM_USER = "dim_user"
DIM_PRODUCT = "dim_product"
DIM_PAGE = "dim_page"
DIM_DEVICE = "dim_device"
DIM_GEO = "dim_geo"
DIM_DATE = "dim_date"
FACT_EVENTS = "fact_events"
FACT_SESSIONS = "fact_sessions"
FACT_ORDERS = "fact_orders"
MV_DAILY_ACTIVE_USERS = "mv_daily_active_users"
# Temporary views (never published): the change feeds of the SCD Type 1 dimensions.
PRODUCT_CHANGES = "gold_product_changes"
PAGE_CHANGES = "gold_page_changes"
MV_FUNNEL_DAILY = "mv_funnel_daily"
MV_REVENUE_DAILY = "mv_revenue_daily"
MV_TOP_PRODUCTS = "mv_top_products"
MV_SESSION_KPIS = "mv_session_kpis"

# Delta keeps per-file min/max statistics of the first 32 columns in its transaction log, and the
# log outlives VACUUM: statistics on bronze's raw identifiers (user id, email, ip, raw lines)
# would keep personal data after an erasure. So bronze and silver collect statistics only on
# these non-personal columns.
_LINEAGE_STATS = "_source_file,_landed_at,_line_number,_ingested_at,_update_id"
STATS_COLUMNS = f"event_type,event_ts,{_LINEAGE_STATS}"
BRONZE_TABLE_PROPERTIES: dict[str, str] = {"delta.dataSkippingStatsColumns": STATS_COLUMNS}
SILVER_TABLE_PROPERTIES: dict[str, str] = {
    "delta.enableChangeDataFeed": "true",
    "delta.dataSkippingStatsColumns": STATS_COLUMNS,
}
# Liquid clustering of the event tables: the columns queries filter on (both keep statistics).
EVENT_CLUSTER_COLUMNS = ("event_type", "event_ts")
USER_CHANGES_TABLE_PROPERTIES: dict[str, str] = {
    "delta.enableChangeDataFeed": "true",
    "delta.dataSkippingStatsColumns": f"sequence_ts,{_LINEAGE_STATS}",
}
# Streams read upstream tables with this option so that a DELETE there (forget-user) does not
# stop them: Delta streams otherwise fail on any commit that removes data.
SKIP_CHANGE_COMMITS = "skipChangeCommits"
# A read option marking a file that holds a secret (the PII key file): configuration, not data,
# so lineage leaves it out. File sources ignore options they don't know.
SECRET_READ_OPTION = "clickstream.secret"

# A demo key, never a secret: refused on Databricks by the platform module.
DEMO_PII_KEY = "demo-key-not-secret-change-me"


@dataclass(frozen=True)
class LocalSettings:
    """Where the local lakehouse lives. Everything below ``home`` is disposable."""

    home: Path
    landing: Path
    database: str

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> LocalSettings:
        base = Path(home or os.environ.get("CLICKSTREAM_HOME") or ".lakehouse").expanduser()
        base = base.absolute()
        landing = os.environ.get("CLICKSTREAM_LANDING")
        return cls(
            home=base,
            landing=Path(landing).absolute() if landing else base / "landing",
            database=os.environ.get("CLICKSTREAM_DATABASE") or DEFAULT_DATABASE,
        )

    @property
    def conf_dir(self) -> Path:
        """``SPARK_CONF_DIR`` of this home: static Spark settings and log levels."""
        return self.home / "conf"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @property
    def metastore(self) -> Path:
        return self.home / "metastore_db"

    @property
    def spark_events(self) -> Path:
        """Spark's own event log (streaming progress per flow), raw material for observability."""
        return self.home / "spark-events"

    @property
    def pipelines(self) -> Path:
        return self.home / "pipelines"

    def pipeline_storage(self, database: str | None = None) -> Path:
        """Checkpoints and pipeline metadata; one folder per database so tests can share a home."""
        return self.pipelines / (database or self.database)

    @property
    def server_file(self) -> Path:
        return self.home / "server.json"

    @property
    def owner_file(self) -> Path:
        return self.home / "owner.lock"


@dataclass(frozen=True)
class PipelineSettings:
    """What the pipeline definitions read. Field ``x`` travels as spark conf ``clickstream.x``."""

    landing_path: str
    update_id: str = "unknown"
    platform: str = "local"
    # Event-time watermark for de-duplication state (Spark interval syntax).
    watermark_delay: str = "1 hour"
    # An event older than its file's landing time minus this goes to silver_late_events.
    allowed_lateness: str = "1 hour"
    # An event newer than its file's landing time plus this is quarantined (a wrong clock).
    future_tolerance: str = "1 hour"
    pii_key: str = DEMO_PII_KEY
    # Local runs: a file holding the key, read by Spark at run time, used instead of pii_key
    # (a value in the configuration would be in the pipeline's command, which Spark logs).
    pii_key_file: str = ""
    # fact_sessions: a visitor's next event after this much inactivity starts a new session.
    session_gap: str = "30 minutes"
    # Local only: cluster (ALTER TABLE … CLUSTER BY + OPTIMIZE) the tables that declare
    # clustering after each update ("false" skips it; Databricks clusters by itself).
    liquid_clustering: str = "true"
    # Test-only: names a deliberate bug to inject into a transform ("" = none), so that tests
    # can prove expect_or_fail stops an update. Never set in a real configuration.
    inject_fault: str = ""

    def to_conf(self) -> dict[str, str]:
        return {CONF_PREFIX + f.name: str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_conf(cls, spark: Any) -> PipelineSettings:
        """Read the settings inside a pipeline definition (``spark``: its session)."""
        values: dict[str, str] = {}
        for f in fields(cls):
            value = spark.conf.get(CONF_PREFIX + f.name, None)
            if value is not None:
                values[f.name] = value
        if "landing_path" not in values:
            raise RuntimeError(
                "clickstream.landing_path is not set: run the pipeline through `clickstream run` "
                "or set it in the pipeline's configuration"
            )
        return cls(**values)


# --- Databricks names ---------------------------------------------------------------------------
# On Databricks the layers publish to two Unity Catalog schemas, because grants are per schema:
# bronze and silver (raw PII, row-level lineage) to an engineers-only schema, gold and BI to the
# readers' schema. The bundle (databricks.yml, resources/) mirrors these names; tests/deploy
# checks that it does.

EVENT_LOG_TABLE = "pipeline_event_log"

# ARCHITECTURE §4, by layer.
LAYER_TABLES: dict[str, tuple[str, ...]] = {
    "bronze": ("bronze_events",),
    "silver": ("silver_events", "silver_quarantine", "silver_late_events", "silver_user_changes"),
    "gold": (
        "dim_user",
        "dim_product",
        "dim_page",
        "dim_device",
        "dim_geo",
        "dim_date",
        "fact_events",
        "fact_sessions",
        "fact_orders",
    ),
    "bi": (
        "mv_daily_active_users",
        "mv_funnel_daily",
        "mv_revenue_daily",
        "mv_top_products",
        "mv_session_kpis",
    ),
    "ops": ("event_accounting", EVENT_LOG_TABLE),
}
# The streaming tables of the pipeline, in the order the update writes them.
STREAMING_TABLES: tuple[str, ...] = (*LAYER_TABLES["bronze"], *LAYER_TABLES["silver"])
# Only these layers are safe to share with readers.
ANALYTICS_LAYERS = frozenset({"gold", "bi"})
_PREFIX_LAYERS = (
    ("bronze_", "bronze"),
    ("silver_", "silver"),
    ("gold_", "gold"),
    ("dim_", "gold"),
    ("fact_", "gold"),
    ("mv_", "bi"),
)


def layer_of(table: str) -> str:
    """The medallion layer of a table; an unknown name counts as ``ops`` (engineers only)."""
    for layer, tables in LAYER_TABLES.items():
        if table in tables:
            return layer
    for prefix, layer in _PREFIX_LAYERS:
        if table.startswith(prefix):
            return layer
    # Fail closed: a table nobody classified must not land in the readers' schema.
    return "ops"


@dataclass(frozen=True)
class DatabricksNames:
    """Unity Catalog names of one deployment; field ``x`` travels as conf ``clickstream.x``."""

    catalog: str
    engineering_schema: str
    analytics_schema: str

    def schema_for(self, table: str) -> str:
        if layer_of(table) in ANALYTICS_LAYERS:
            return self.analytics_schema
        return self.engineering_schema

    def fqn(self, table: str) -> str:
        """``catalog.schema.table``: where the table is published on Databricks."""
        return f"{self.catalog}.{self.schema_for(table)}.{table}"

    def landing_path(self, volume: str) -> str:
        """The landing zone: a volume in the engineers' schema (raw events carry PII)."""
        return f"/Volumes/{self.catalog}/{self.engineering_schema}/{volume}"

    def to_conf(self) -> dict[str, str]:
        return {CONF_PREFIX + f.name: str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def conf_keys(cls) -> tuple[str, ...]:
        return tuple(CONF_PREFIX + f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, conf: Mapping[str, str | None]) -> DatabricksNames | None:
        """The names from a pipeline configuration (``clickstream.*`` keys), or None when it
        has none of them (local runs); some but not all is an error naming the missing ones."""
        values = {f.name: conf.get(CONF_PREFIX + f.name) for f in fields(cls)}
        if all(value is None for value in values.values()):
            return None
        missing = sorted(CONF_PREFIX + name for name, value in values.items() if not value)
        if missing:
            raise RuntimeError(f"pipeline configuration lacks {', '.join(missing)}")
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_conf(cls, spark: Any) -> DatabricksNames | None:
        """The names from the running pipeline's Spark configuration."""
        return cls.from_mapping({key: spark.conf.get(key, None) for key in cls.conf_keys()})


def published_name(table: str, names: DatabricksNames | None) -> str:
    """The name a definition publishes ``table`` under: fully qualified on Databricks."""
    return names.fqn(table) if names else table
