"""Unity Catalog governance: each group's effective privileges, inherited from catalog and schema
grants, as the bundle declares them for every target."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import ANN, REPO, VARIABLES, mutate

from clickstream.config import LAYER_TABLES, DatabricksNames, layer_of
from clickstream.deploy.bundle import ResolvedBundle, load_bundle, resolve
from clickstream.deploy.governance import (
    Securable,
    can_reach,
    databricks_names,
    declared_grants,
    effective_privileges,
    reach_by_layer,
)

TARGETS = ("dev", "prod", "free")
PRIVATE_LAYERS = ("bronze", "silver", "ops")
SHARED_LAYERS = ("gold", "bi")


def resolved(target: str, root: Path = REPO) -> ResolvedBundle:
    return resolve(
        load_bundle(root), target, user=ANN, variables=VARIABLES.get(target, {}), environ={}
    )


def groups(bundle: ResolvedBundle) -> tuple[str, str]:
    return bundle.variables["readers_group"], bundle.variables["engineers_group"]


def grants_with_catalog_prerequisite(bundle: ResolvedBundle, **extra: list[str]) -> dict:
    """The bundle's grants plus the catalog owner's one-time grants (see the README)."""
    readers, engineers = groups(bundle)
    catalog = {readers: ["USE_CATALOG"], engineers: ["USE_CATALOG"]}
    for principal, privileges in extra.items():
        catalog[principal] = catalog.get(principal, []) + privileges
    return declared_grants(bundle, catalog)


def landing(bundle: ResolvedBundle) -> Securable:
    volume = bundle.resource("volumes", "landing")
    return Securable("volume", volume["catalog_name"], volume["schema_name"], volume["name"])


@pytest.mark.parametrize("target", TARGETS)
def test_readers_reach_gold_and_bi_only(target: str) -> None:
    bundle = resolved(target)
    readers, _ = groups(bundle)
    grants = grants_with_catalog_prerequisite(bundle)
    reach = reach_by_layer(grants, readers, databricks_names(bundle))
    for layer in PRIVATE_LAYERS:
        assert reach[layer] == set(), f"{readers} reaches {layer}: {reach[layer]}"
    for layer in SHARED_LAYERS:
        assert len(reach[layer]) == len(LAYER_TABLES[layer]), f"{readers} misses {layer}"


@pytest.mark.parametrize("target", TARGETS)
def test_the_raw_pii_in_the_landing_volume_is_for_engineers_only(target: str) -> None:
    bundle = resolved(target)
    readers, engineers = groups(bundle)
    grants = grants_with_catalog_prerequisite(bundle)
    assert not can_reach(grants, readers, landing(bundle))
    assert can_reach(grants, engineers, landing(bundle))
    held = effective_privileges(grants, engineers, landing(bundle))
    assert {"READ_VOLUME", "WRITE_VOLUME"} <= held


@pytest.mark.parametrize("target", TARGETS)
def test_engineers_reach_every_layer(target: str) -> None:
    bundle = resolved(target)
    _, engineers = groups(bundle)
    reach = reach_by_layer(
        grants_with_catalog_prerequisite(bundle), engineers, databricks_names(bundle)
    )
    assert {layer: len(tables) for layer, tables in reach.items()} == {
        layer: len(tables) for layer, tables in LAYER_TABLES.items()
    }


def test_privileges_are_inherited_from_the_catalog() -> None:
    """A catalog-wide SELECT (not in the bundle, granted by the catalog's owner) reaches bronze:
    the computation follows inheritance, so the tests above would see such a grant."""
    bundle = resolved("dev")
    readers, _ = groups(bundle)
    names = databricks_names(bundle)
    grants = grants_with_catalog_prerequisite(bundle, **{readers: ["SELECT", "USE_SCHEMA"]})
    assert reach_by_layer(grants, readers, names)["bronze"] == {names.fqn("bronze_events")}
    everyone = grants_with_catalog_prerequisite(bundle, **{"account users": ["ALL_PRIVILEGES"]})
    assert can_reach(everyone, readers, landing(bundle))


def test_without_use_catalog_nobody_reaches_anything() -> None:
    bundle = resolved("prod")
    readers, engineers = groups(bundle)
    grants = declared_grants(bundle)  # the catalog prerequisite not granted
    for principal in (readers, engineers):
        reach = reach_by_layer(grants, principal, databricks_names(bundle))
        assert all(not tables for tables in reach.values())


def test_a_reader_grant_on_the_engineering_schema_is_caught(bundle_copy: Path) -> None:
    mutate(
        bundle_copy / "resources/clickstream.governance.yml",
        "        - principal: ${var.engineers_group}\n          privileges:\n"
        "            - USE_SCHEMA\n            - SELECT\n            - READ_VOLUME",
        "        - principal: ${var.readers_group}\n          privileges:\n"
        "            - USE_SCHEMA\n            - SELECT\n            - READ_VOLUME",
    )
    bundle = resolved("dev", bundle_copy)
    readers, _ = groups(bundle)
    grants = grants_with_catalog_prerequisite(bundle)
    reach = reach_by_layer(grants, readers, databricks_names(bundle))
    assert reach["bronze"] and reach["silver"]
    assert can_reach(grants, readers, landing(bundle))


def test_a_misconfigured_readers_group_equal_to_engineers_is_caught() -> None:
    bundle = resolve(
        load_bundle(REPO),
        "dev",
        user=ANN,
        variables={"readers_group": "clickstream-engineers"},
        environ={},
    )
    readers, _ = groups(bundle)
    grants = grants_with_catalog_prerequisite(bundle)
    assert reach_by_layer(grants, readers, databricks_names(bundle))["bronze"]


def test_tables_nobody_classified_stay_with_engineers() -> None:
    names = DatabricksNames("main", "eng", "ana")
    assert layer_of("bronze_events") == "bronze"
    assert layer_of("gold_event_counts_daily") == "gold"
    assert layer_of("mv_anything") == "bi"
    assert layer_of("event_accounting_summary") == "ops"
    assert names.schema_for("event_accounting_summary") == "eng"
    assert names.schema_for("something_new") == "eng"
    assert names.fqn("fact_orders") == "main.ana.fact_orders"


def test_names_come_from_the_pipeline_configuration_whole_or_not_at_all() -> None:
    conf = {"clickstream.catalog": "main", "clickstream.engineering_schema": "eng"}
    assert DatabricksNames.from_mapping({}) is None  # a local run: no names
    with pytest.raises(RuntimeError, match=r"lacks clickstream\.analytics_schema$"):
        DatabricksNames.from_mapping(conf)
    whole = {**conf, "clickstream.analytics_schema": "ana", "clickstream.other": "x"}
    assert DatabricksNames.from_mapping(whole) == DatabricksNames("main", "eng", "ana")
    assert DatabricksNames.from_mapping(DatabricksNames("main", "eng", "ana").to_conf()) == (
        DatabricksNames("main", "eng", "ana")
    )
