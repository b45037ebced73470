"""Effective Unity Catalog privileges, computed from the grants a resolved bundle declares.

Unity Catalog's rules that matter here:
* a privilege granted on a catalog or schema is inherited by every object below it;
* ALL_PRIVILEGES stands for every privilege, and MANAGE lets a principal grant itself any of them,
  so both count as everything;
* reading a table takes SELECT (or MODIFY to change it) on it, USE_SCHEMA on its schema and
  USE_CATALOG on its catalog; a volume likewise with READ_VOLUME/WRITE_VOLUME;
* a grant to ``account users`` (or the workspace's ``users``) reaches every principal.
The bundle does not own the catalog, so its grants are an input (``catalog_grants``): the
documented prerequisite is USE_CATALOG for both groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from clickstream.config import CONF_PREFIX, LAYER_TABLES, DatabricksNames
from clickstream.deploy.bundle import ResolvedBundle

EVERYONE = frozenset({"account users", "users"})
_EVERYTHING = frozenset({"ALL_PRIVILEGES", "MANAGE"})
# What "everything" means for reaching data.
_ALL = frozenset(
    {"USE_CATALOG", "USE_SCHEMA", "SELECT", "MODIFY", "READ_VOLUME", "WRITE_VOLUME", "EXECUTE"}
)
_READ_OR_WRITE = {
    "table": frozenset({"SELECT", "MODIFY"}),
    "volume": frozenset({"READ_VOLUME", "WRITE_VOLUME"}),
}

Grants = Mapping[str, Mapping[str, frozenset[str]]]  # securable key -> principal -> privileges


@dataclass(frozen=True)
class Securable:
    kind: Literal["catalog", "schema", "table", "volume"]
    catalog: str
    schema: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.fqn}"

    @property
    def fqn(self) -> str:
        return ".".join(p for p in (self.catalog, self.schema, self.name) if p)

    def ancestors(self) -> list[Securable]:
        """Itself and every securable it inherits privileges from."""
        chain = [Securable("catalog", self.catalog)]
        if self.schema:
            chain.append(Securable("schema", self.catalog, self.schema))
        if self.name:
            chain.append(self)
        return chain


def declared_grants(
    resolved: ResolvedBundle, catalog_grants: Mapping[str, Iterable[str]] | None = None
) -> dict[str, dict[str, frozenset[str]]]:
    """Every grant of the bundle (catalogs, schemas, volumes), keyed by securable."""
    grants: dict[str, dict[str, frozenset[str]]] = {}

    def add(securable: Securable, entries: Iterable[Mapping[str, Any]]) -> None:
        target = grants.setdefault(securable.key, {})
        for entry in entries:
            principal = str(entry["principal"])
            privileges = frozenset(str(p) for p in entry.get("privileges") or ())
            target[principal] = target.get(principal, frozenset()) | privileges

    for catalog in resolved.resources("catalogs").values():
        add(Securable("catalog", catalog["name"]), catalog.get("grants") or [])
    for schema in resolved.resources("schemas").values():
        add(Securable("schema", schema["catalog_name"], schema["name"]), schema.get("grants") or [])
    for volume in resolved.resources("volumes").values():
        add(
            Securable("volume", volume["catalog_name"], volume["schema_name"], volume["name"]),
            volume.get("grants") or [],
        )
    external = [{"principal": p, "privileges": v} for p, v in (catalog_grants or {}).items()]
    for catalog_name in {s["catalog_name"] for s in resolved.resources("schemas").values()}:
        add(Securable("catalog", catalog_name), external)
    return grants


def effective_privileges(grants: Grants, principal: str, securable: Securable) -> frozenset[str]:
    """What ``principal`` holds on ``securable``, directly, by inheritance or via everyone."""
    held: set[str] = set()
    for level in securable.ancestors():
        for grantee, privileges in grants.get(level.key, {}).items():
            if grantee == principal or grantee in EVERYONE:
                held |= privileges
    if held & _EVERYTHING:
        held |= _ALL
    return frozenset(held)


def can_reach(grants: Grants, principal: str, securable: Securable) -> bool:
    """Whether ``principal`` can read or change the data of a table or volume."""
    if securable.kind not in _READ_OR_WRITE:
        raise ValueError(f"data lives in tables and volumes, not in a {securable.kind}")
    catalog, schema, _ = securable.ancestors()
    return bool(
        effective_privileges(grants, principal, securable) & _READ_OR_WRITE[securable.kind]
        and "USE_SCHEMA" in effective_privileges(grants, principal, schema)
        and "USE_CATALOG" in effective_privileges(grants, principal, catalog)
    )


def databricks_names(resolved: ResolvedBundle, pipeline: str = "clickstream") -> DatabricksNames:
    """The names the deployed pipeline reads from its configuration (config.DatabricksNames)."""
    configuration = resolved.resource("pipelines", pipeline).get("configuration") or {}
    return DatabricksNames(
        catalog=configuration[CONF_PREFIX + "catalog"],
        engineering_schema=configuration[CONF_PREFIX + "engineering_schema"],
        analytics_schema=configuration[CONF_PREFIX + "analytics_schema"],
    )


def table_securables(names: DatabricksNames) -> dict[str, list[Securable]]:
    """Every table of ARCHITECTURE §4, by layer, where the pipeline publishes it."""
    return {
        layer: [
            Securable("table", names.catalog, names.schema_for(table), table) for table in tables
        ]
        for layer, tables in LAYER_TABLES.items()
    }


def reach_by_layer(grants: Grants, principal: str, names: DatabricksNames) -> dict[str, set[str]]:
    """For each layer, the tables ``principal`` can reach (an empty set: none)."""
    return {
        layer: {s.fqn for s in securables if can_reach(grants, principal, s)}
        for layer, securables in table_securables(names).items()
    }
