"""The Asset Bundle, checked offline for every target: schema, typed resources, references, paths,
and what it must say about this project (same sources as the local engine, settings, job shape)."""

from __future__ import annotations

import dataclasses
import glob
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from deploy_support import ANN, PROD_VARS, REPO, VARIABLES, mutate

from clickstream.config import (
    CONF_PREFIX,
    DEMO_PII_KEY,
    EVENT_LOG_TABLE,
    DatabricksNames,
    PipelineSettings,
)
from clickstream.deploy import remote
from clickstream.deploy.bundle import CurrentUser, ResolvedBundle, load_bundle, resolve, targets
from clickstream.deploy.governance import databricks_names
from clickstream.deploy.schema import RESOURCE_TYPES
from clickstream.deploy.validate import TYPED_MODELS, validate_bundle

TARGETS = ("dev", "prod", "free")


def resolved(target: str, user: CurrentUser = ANN) -> ResolvedBundle:
    return resolve(
        load_bundle(REPO), target, user=user, variables=VARIABLES.get(target, {}), environ={}
    )


def test_the_bundle_has_the_three_targets_with_dev_the_default() -> None:
    files = load_bundle(REPO)
    assert targets(files) == list(TARGETS)
    assert resolve(files, user=ANN, environ={}).target == "dev"
    assert {t: resolved(t).mode for t in TARGETS} == {
        "dev": "development",
        "prod": "production",
        "free": "development",
    }


def test_the_bundle_is_valid_for_every_target() -> None:
    assert validate_bundle(REPO, user=ANN, variables=VARIABLES) == []


def test_every_resource_type_has_a_typed_model() -> None:
    assert set(TYPED_MODELS) == set(RESOURCE_TYPES)


# Each: file, text to replace, replacement, what the problem report must say.
MUTATIONS = [
    # misspelled keys, at every level the checks cover
    (
        "resources/clickstream.pipeline.yml",
        "serverless: true",
        "serverles: true",
        "Unexpected field 'serverles' for class Pipeline",
    ),
    (
        "resources/clickstream.job.yml",
        "max_retries: 2",
        "max_retry: 2",
        "Unexpected field 'max_retry' for class Task",
    ),
    (
        "resources/clickstream.governance.yml",
        "catalog_name: ${var.catalog}",
        "catalog: ${var.catalog}",
        "Unexpected field 'catalog' for class Schema",
    ),
    ("databricks.yml", "sync:", "synk:", "'synk' was unexpected"),
    (
        "databricks.yml",
        "  pii_secret_key:\n    description:",
        "  pii_secret_key:\n    descripton:",
        "'descripton' was unexpected",
    ),
    (
        "databricks.yml",
        "run_as:\n      service_principal_name:",
        "run_as:\n      service_principal:",
        "'service_principal' was unexpected",
    ),
    # values outside an enum
    ("resources/clickstream.job.yml", "run_if: NONE_FAILED", "run_if: NONE_FAILD", "NONE_FAILD"),
    ("resources/clickstream.governance.yml", "- WRITE_VOLUME", "- WRITE_VOLUMES", "WRITE_VOLUMES"),
    ("databricks.yml", "mode: production", "mode: prod", "'prod' is not one of"),
    # dangling references
    (
        "resources/clickstream.pipeline.yml",
        "${resources.schemas.engineering.name}",
        "${resources.schemas.engineerin.name}",
        "resources.schemas.engineerin is not defined",
    ),
    (
        "resources/clickstream.job.yml",
        "${resources.pipelines.clickstream.id}",
        "${resources.pipelines.clickstream.idd}",
        "has no 'idd'",
    ),
    (
        "resources/clickstream.pipeline.yml",
        "${var.watermark_delay}",
        "${var.watermark}",
        "variable 'watermark' is not declared",
    ),
    (
        "resources/clickstream.pipeline.yml",
        "${var.catalog}",
        "${var.catalog",
        "unresolved reference",
    ),
    (
        "databricks.yml",
        "      catalog: workspace",
        "      catalogue: workspace",
        "variable 'catalogue' is set but not declared",
    ),
    # paths that don't exist or aren't deployed
    (
        "resources/clickstream.job.yml",
        "produce_to_volume.py",
        "produce_volume.py",
        "'../notebooks/jobs/produce_volume.py' does not exist",
    ),
    (
        "resources/clickstream.pipeline.yml",
        "include: ../src/clickstream/pipeline/**",
        "include: ../src/clickstream/pipelines/**",
        "matches no file",
    ),
    (
        "databricks.yml",
        "    - notebooks\n",
        "",
        "'../notebooks/jobs/produce_to_volume.py' is outside sync.paths",
    ),
    ("databricks.yml", "    - pyproject.toml\n", "", "pyproject.toml is not deployed"),
    (
        "resources/clickstream.pipeline.yml",
        "--editable ${workspace.file_path}",
        "--editable ${workspace.root_path}",
        "is not inside the bundle's files",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"), MUTATIONS, ids=[m[3][:40] for m in MUTATIONS]
)
def test_a_broken_copy_of_the_bundle_fails_validation(
    bundle_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    assert validate_bundle(bundle_copy, user=ANN, variables=VARIABLES) == []
    mutate(bundle_copy / file, old, new)
    problems = validate_bundle(bundle_copy, user=ANN, variables=VARIABLES)
    assert any(expected in problem for problem in problems), problems


def test_prod_needs_the_variables_the_deploy_workflow_supplies(bundle_copy: Path) -> None:
    problems = validate_bundle(bundle_copy, user=ANN)
    assert any("target prod: run_as" in p for p in problems), problems
    without_storage = {"prod": {**PROD_VARS, "landing_storage_location": ""}}
    problems = validate_bundle(bundle_copy, user=ANN, variables=without_storage)
    assert problems == [
        "target prod: resources.volumes.landing: an EXTERNAL volume needs storage_location"
    ]


def _spec_globs(spec: Path) -> list[str]:
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    return [str((spec.parent / lib["glob"]["include"]).resolve()) for lib in data["libraries"]]


def test_the_deployed_pipeline_sources_are_the_ones_the_local_engine_runs() -> None:
    spec = REPO / "spark-pipeline.yml"
    local = _spec_globs(spec)
    bundle = resolved("dev")
    pipeline = bundle.resource("pipelines", remote.PIPELINE_KEY)
    deployed = [
        str(bundle.local_path("pipelines", remote.PIPELINE_KEY, lib["glob"]["include"]))
        for lib in pipeline["libraries"]
    ]
    assert deployed == local == [str(REPO / "src/clickstream/pipeline/**")]
    # The same files, and only definition files (both engines load everything the glob matches).
    files = sorted(
        Path(p)
        for p in glob.glob(local[0], recursive=True)
        if Path(p).is_file() and "__pycache__" not in Path(p).parts
    )
    assert files, "the pipeline has no definition files"
    assert {f.suffix for f in files} <= {".py", ".sql"}, files


@pytest.mark.parametrize("target", TARGETS)
def test_the_pipeline_configuration_carries_what_config_py_reads(target: str) -> None:
    bundle = resolved(target)
    pipeline = bundle.resource("pipelines", remote.PIPELINE_KEY)
    configuration = pipeline["configuration"]
    settings_keys = {CONF_PREFIX + f.name for f in dataclasses.fields(PipelineSettings)}
    names_keys = {CONF_PREFIX + f.name for f in dataclasses.fields(DatabricksNames)}
    assert set(configuration) <= settings_keys | names_keys
    assert names_keys <= set(configuration)

    names = databricks_names(bundle)
    assert names.to_conf().items() <= configuration.items()
    schemas = bundle.resources("schemas")
    assert names.engineering_schema == schemas["engineering"]["name"]
    assert names.analytics_schema == schemas["analytics"]["name"]
    assert names.catalog == pipeline["catalog"] == schemas["analytics"]["catalog_name"]

    volume = bundle.resource("volumes", "landing")
    landing = names.landing_path(volume["name"])
    assert volume["schema_name"] == names.engineering_schema
    settings = PipelineSettings(
        **{k.removeprefix(CONF_PREFIX): v for k, v in configuration.items() if k in settings_keys}
    )
    assert settings.platform == "databricks"
    assert settings.landing_path == landing
    # The key is a secret reference resolved by Databricks, never the demo key.
    scope, key = bundle.variables["pii_secret_scope"], bundle.variables["pii_secret_key"]
    assert settings.pii_key == f"{{{{secrets/{scope}/{key}}}}}" != DEMO_PII_KEY

    # Bronze/silver in the engineers' schema (the pipeline's default), the event log beside them.
    assert pipeline["schema"] == names.engineering_schema
    assert pipeline["event_log"] == {
        "catalog": names.catalog,
        "schema": names.engineering_schema,
        "name": EVENT_LOG_TABLE,
    }
    assert names.fqn("bronze_events") == f"{names.catalog}.{names.engineering_schema}.bronze_events"
    assert names.fqn("dim_user") == f"{names.catalog}.{names.analytics_schema}.dim_user"


@pytest.mark.parametrize("target", TARGETS)
def test_the_pipeline_is_serverless_triggered_and_installs_the_base_project(target: str) -> None:
    bundle = resolved(target)
    pipeline = bundle.resource("pipelines", remote.PIPELINE_KEY)
    assert pipeline["serverless"] is True
    assert pipeline["continuous"] is False
    assert "clusters" not in pipeline
    # An editable install of the deployed repo: pyproject's base dependencies, no extras.
    editable = f"--editable {bundle.workspace['file_path']}"
    assert pipeline["environment"]["dependencies"] == [editable]
    assert pipeline["notifications"][0]["email_recipients"] == [bundle.variables["notify_email"]]


def test_the_base_install_brings_no_local_spark() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in requirements}

    local_only = names(project["optional-dependencies"]["local"])
    assert {"pyspark", "delta-spark"} <= local_only
    assert not names(project["dependencies"]) & local_only


@pytest.mark.parametrize("target", TARGETS)
def test_the_job_produces_then_refreshes_and_never_loops_on_its_own_files(target: str) -> None:
    bundle = resolved(target)
    job = bundle.resource("jobs", remote.JOB_KEY)
    tasks = {task["task_key"]: task for task in job["tasks"]}
    landing = databricks_names(bundle).landing_path(bundle.resource("volumes", "landing")["name"])

    # The producer notebook lands events in the volume...
    produce = tasks["produce"]
    notebook = produce["notebook_task"]
    assert bundle.local_path("jobs", remote.JOB_KEY, notebook["notebook_path"]) == (
        REPO / "notebooks/jobs/produce_to_volume.py"
    )
    assert notebook["base_parameters"]["volume_path"] == landing
    assert notebook["base_parameters"]["bundle_root"] == bundle.workspace["file_path"]
    assert produce["max_retries"] >= 1
    # ... then the pipeline task refreshes this bundle's pipeline, unless the producer failed.
    refresh = tasks["refresh_pipeline"]
    assert refresh["pipeline_task"]["pipeline_id"] == (
        "<deploy-time resources.pipelines.clickstream.id>"
    )
    assert {d["task_key"] for d in refresh["depends_on"]} == {"should_produce", "produce"}
    assert refresh["run_if"] == "NONE_FAILED"
    assert refresh["max_retries"] >= 1
    # A file-arrival trigger on the landing volume. A triggered run takes the default
    # `events: 0`, so the condition skips the producer: its files can't trigger it again.
    assert job["trigger"]["file_arrival"]["url"] == landing + "/"
    defaults = {p["name"]: p["default"] for p in job["parameters"]}
    assert defaults["events"] == "0"
    condition = tasks["should_produce"]["condition_task"]
    assert condition == {"op": "GREATER_THAN", "left": "{{job.parameters.events}}", "right": "0"}
    assert produce["depends_on"] == [{"task_key": "should_produce", "outcome": "true"}]
    # Failures reach a person; one run at a time (one pipeline's updates must not overlap).
    assert job["email_notifications"]["on_failure"] == [bundle.variables["notify_email"]]
    assert job["max_concurrent_runs"] == 1


def test_development_mode_gives_each_developer_a_schema_prefix_and_paused_trigger() -> None:
    ann, bob = resolved("dev"), resolved("dev", CurrentUser("bob.o-neil@example.com"))
    ann_schemas = {k: v["name"] for k, v in ann.resources("schemas").items()}
    bob_schemas = {k: v["name"] for k, v in bob.resources("schemas").items()}
    assert ann_schemas == {
        "engineering": "dev_ann_lee_clickstream_engineering",
        "analytics": "dev_ann_lee_clickstream_analytics",
    }
    assert bob_schemas["engineering"] == "dev_bob_o_neil_clickstream_engineering"
    assert ann.resource("jobs", remote.JOB_KEY)["name"] == "[dev ann_lee] clickstream"
    assert ann.resource("jobs", remote.JOB_KEY)["trigger"]["pause_status"] == "PAUSED"
    assert ann.resource("pipelines", remote.PIPELINE_KEY)["development"] is True
    assert ann.workspace["root_path"] == (
        "/Workspace/Users/ann.lee@example.com/.bundle/lakeflow_clickstream/dev"
    )


def test_prod_runs_as_the_service_principal_and_protects_its_schemas() -> None:
    prod = resolved("prod")
    assert prod.config["run_as"] == {"service_principal_name": PROD_VARS["service_principal_id"]}
    assert prod.workspace["root_path"].startswith(
        f"/Workspace/Users/{PROD_VARS['service_principal_id']}/"
    )
    assert prod.config["permissions"] == [
        {"group_name": "clickstream-engineers", "level": "CAN_MANAGE"}
    ]
    assert {k: v["name"] for k, v in prod.resources("schemas").items()} == {
        "engineering": "clickstream_engineering",
        "analytics": "clickstream_analytics",
    }
    assert all(s["lifecycle"]["prevent_destroy"] for s in prod.resources("schemas").values())
    landing = prod.resource("volumes", "landing")
    assert landing["volume_type"] == "EXTERNAL"
    assert landing["storage_location"] == PROD_VARS["landing_storage_location"]
    assert "pause_status" not in prod.resource("jobs", remote.JOB_KEY)["trigger"]


def test_free_edition_lands_in_a_managed_volume_of_the_workspace_catalog() -> None:
    free = resolved("free")
    landing = free.resource("volumes", "landing")
    assert landing["volume_type"] == "MANAGED" and "storage_location" not in landing
    assert landing["catalog_name"] == "workspace"
    assert not any("abfss://" in str(v) for v in free.variables.values() if v)


def test_no_secret_values_in_the_bundle() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in load_bundle(REPO).files)
    assert not re.search(r"dapi[0-9a-f]{8,}|client_secret|password|token:", text, re.I)
    assert not re.search(r"https://[^\s]*(azuredatabricks\.net|cloud\.databricks\.com)", text)
    assert "{{secrets/${var.pii_secret_scope}/${var.pii_secret_key}}}" in text


def test_a_deploy_by_a_service_principal_needs_an_address_for_notifications() -> None:
    """CI deploys as the service principal, whose user name is an application ID."""
    ci = CurrentUser(PROD_VARS["service_principal_id"], "clickstream-deployer")
    without_email = {k: v for k, v in PROD_VARS.items() if k != "notify_email"}
    problems = validate_bundle(REPO, user=ci, variables={"prod": without_email})
    assert any(
        p.startswith("target prod: resources.jobs.clickstream.email_notifications.on_failure")
        and "is no e-mail address" in p
        for p in problems
    ), problems
    assert not [
        p
        for p in validate_bundle(REPO, user=ci, variables={"prod": PROD_VARS})
        if p.startswith("target prod")
    ]
    assert ci.short_name == "clickstream_deployer"  # the CLI's rule for service principals
