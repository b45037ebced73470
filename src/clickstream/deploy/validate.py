"""Every offline check of the bundle, for every target; returns problems rather than raising.

1. Top-level mappings against the strict schema (schema.py).
2. Each resource against the typed models of ``databricks-bundles`` — the Python models the
   Databricks CLI generates from its own resource schema: an unknown key, a wrong type or a value
   outside an enum is rejected (``Unexpected field 'serverles' for class Pipeline``). The models
   accept ``${...}`` anywhere, so they run again on each target's resolved configuration.
3. References: each target resolves (bundle.py); a dangling ``${var.*}`` or ``${resources.*}``
   is a problem.
4. Paths: every sync path, notebook, file and glob named exists on disk and is deployed.
5. A few rules the CLI or the workspace would only enforce at deploy time (volume storage).
"""

from __future__ import annotations

import copy
import glob
import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from clickstream.deploy.bundle import (
    BundleError,
    BundleFiles,
    CurrentUser,
    ResolvedBundle,
    load_bundle,
    resolve,
    targets,
)
from clickstream.deploy.schema import BUNDLE_SCHEMA, INCLUDED_FILE_SCHEMA

# Resource type -> "module:class" of its typed model in the databricks-bundles package.
TYPED_MODELS: dict[str, str] = {
    "catalogs": "databricks.bundles.catalogs:Catalog",
    "jobs": "databricks.bundles.jobs:Job",
    "pipelines": "databricks.bundles.pipelines:Pipeline",
    "schemas": "databricks.bundles.schemas:Schema",
    "volumes": "databricks.bundles.volumes:Volume",
}

_GLOB_CHARS = frozenset("*?[")


def validate_bundle(
    root: str | Path,
    *,
    user: CurrentUser,
    variables: Mapping[str, Mapping[str, str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """All problems of the bundle at ``root``; ``variables`` maps a target to its ``--var``s."""
    try:
        files = load_bundle(root)
    except BundleError as exc:
        return exc.problems
    problems = schema_problems(files)
    problems += [
        f"{path.name}: resources.{kind}.{key}: {message}"
        for path, data in files.files.items()
        for kind, key, message in typed_problems(data.get("resources") or {})
    ]
    if problems:
        # Resolution of a malformed bundle only produces noise on top of the real mistake.
        return problems
    for target in targets(files):
        try:
            resolved = resolve(
                files,
                target,
                user=user,
                variables=(variables or {}).get(target, {}),
                environ=environ or {},
            )
        except BundleError as exc:
            problems += [f"target {target}: {problem}" for problem in exc.problems]
            continue
        problems += [
            f"target {target}: resources.{kind}.{key}: {message}"
            for kind, key, message in typed_problems(resolved.config["resources"])
        ]
        problems += [f"target {target}: {p}" for p in path_problems(resolved)]
        problems += [f"target {target}: {p}" for p in rule_problems(resolved)]
    return problems


def schema_problems(files: BundleFiles) -> list[str]:
    problems = []
    for path, data in files.files.items():
        schema = BUNDLE_SCHEMA if path == files.root / "databricks.yml" else INCLUDED_FILE_SCHEMA
        validator = jsonschema.Draft202012Validator(schema)
        for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
            problems.append(f"{path.name}: {where}: {error.message}")
    return problems


def typed_problems(resources: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(type, key, message) for each resource its typed model rejects."""
    for kind, items in resources.items():
        if kind not in TYPED_MODELS:
            yield kind, "*", f"unsupported resource type {kind!r}"
            continue
        model = _model(kind)
        for key, value in (items or {}).items():
            try:
                # _transform deletes a "cls" key in place; never hand it our own data.
                model.from_dict(copy.deepcopy(value))
            except (TypeError, ValueError, KeyError) as exc:
                yield kind, key, str(exc)


def _model(kind: str) -> Any:
    module_name, _, class_name = TYPED_MODELS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise RuntimeError(
            "the bundle checks need the databricks-bundles package: pip install -e '.[dev]'"
        ) from exc
    return getattr(module, class_name)


def path_problems(resolved: ResolvedBundle) -> list[str]:
    """Every local path the bundle names exists, and is inside what `sync` deploys."""
    root = resolved.root
    problems: list[str] = []
    synced: list[Path] = []
    for entry in resolved.config.get("sync", {}).get("paths") or ["."]:
        path = (root / entry).resolve()
        if not path.exists():
            problems.append(f"sync.paths: {entry!r} does not exist")
        synced.append(path)

    def deployed(path: Path) -> bool:
        path = path.resolve()
        return any(path == s or s in path.parents for s in synced)

    for kind, key, where, text in _relative_paths(resolved.config.get("resources", {})):
        local = resolved.local_path(kind, key, text)
        label = f"resources.{kind}.{key}.{where}"
        if _GLOB_CHARS & set(text):
            matches = [Path(m) for m in glob.glob(str(local), recursive=True)]
            if not any(m.is_file() for m in matches):
                problems.append(f"{label}: {text!r} matches no file")
            base = Path(str(local).split("*", 1)[0].rstrip("/"))
            if not deployed(base):
                problems.append(f"{label}: {text!r} is outside sync.paths, so not deployed")
        elif not local.exists():
            problems.append(f"{label}: {text!r} does not exist")
        elif not deployed(local):
            problems.append(f"{label}: {text!r} is outside sync.paths, so not deployed")

    file_path = resolved.workspace["file_path"]
    for key, pipeline in resolved.resources("pipelines").items():
        for dep in (pipeline.get("environment") or {}).get("dependencies") or []:
            parts = dep.split()
            if parts[0] not in {"-e", "--editable"} or len(parts) != 2:
                continue
            # The editable install points at the deployed copy of this repo (or a folder in it).
            if not (parts[1] == file_path or parts[1].startswith(file_path + "/")):
                problems.append(
                    f"resources.pipelines.{key}.environment: {dep!r} is not inside the "
                    f"bundle's files ({file_path})"
                )
                continue
            project = root / parts[1][len(file_path) :].lstrip("/")
            if not (project / "pyproject.toml").is_file():
                problems.append(f"resources.pipelines.{key}.environment: no pyproject.toml")
            elif not deployed(project / "pyproject.toml"):
                problems.append(
                    f"resources.pipelines.{key}.environment: pyproject.toml is not deployed"
                )
    return problems


def _relative_paths(
    resources: Mapping[str, Any],
) -> Iterator[tuple[str, str, str, str]]:
    """(type, key, field path, value) for every string written as a relative local path."""

    def walk(value: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, f"{where}[{i}]")
        elif isinstance(value, str) and value.startswith(("./", "../")):
            yield where, value

    for kind, items in resources.items():
        for key, resource in (items or {}).items():
            for where, value in walk(resource, ""):
                yield kind, key, where, value


def rule_problems(resolved: ResolvedBundle) -> list[str]:
    problems = []
    # A service principal's user name is no address: a deploy by CI must be given one.
    for kind, key, where, address in _notification_addresses(resolved):
        if not _EMAIL.fullmatch(address):
            problems.append(f"resources.{kind}.{key}.{where}: {address!r} is no e-mail address")
    for key, volume in resolved.resources("volumes").items():
        volume_type = volume.get("volume_type", "MANAGED")
        location = volume.get("storage_location") or ""
        if volume_type == "EXTERNAL" and not location:
            problems.append(f"resources.volumes.{key}: an EXTERNAL volume needs storage_location")
        if volume_type == "MANAGED" and location:
            problems.append(f"resources.volumes.{key}: a MANAGED volume takes no storage_location")
    return problems


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _notification_addresses(resolved: ResolvedBundle) -> Iterator[tuple[str, str, str, str]]:
    for key, job in resolved.resources("jobs").items():
        for event, addresses in (job.get("email_notifications") or {}).items():
            if isinstance(addresses, list):
                for address in addresses:
                    yield "jobs", key, f"email_notifications.{event}", str(address)
    for key, pipeline in resolved.resources("pipelines").items():
        for index, notification in enumerate(pipeline.get("notifications") or []):
            for address in notification.get("email_recipients") or []:
                yield "pipelines", key, f"notifications[{index}]", str(address)
