"""Load the Asset Bundle and resolve one target, as the Databricks CLI would, without a workspace.

The CLI is a Go binary that isn't a Python package, so the offline tests and the operator command
re-derive the little they need from the YAML: the merged target configuration with every
``${...}`` reference substituted, the development-mode names, and the default workspace paths.
Anything that only exists after a deployment (``${resources.jobs.x.id}``) becomes a placeholder.
Every problem is collected and reported together (``BundleError.problems``).
"""

from __future__ import annotations

import copy
import glob
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BUNDLE_FILE = "databricks.yml"
ENV_PREFIX = "BUNDLE_VAR_"
# Attributes that exist only once a resource is deployed (the CLI fills them in at deploy time).
DEPLOY_TIME_FIELDS = frozenset({"id", "url"})

# A bundle reference: ${a.b.c} or ${a.b[0].c}; "$${...}" is an escaped literal (as in the CLI).
_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])*)\}")
_SEGMENT = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(\d+)\]")


class BundleError(Exception):
    """The bundle could not be loaded or resolved; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CurrentUser:
    """The identity that deploys (``${workspace.current_user.*}``)."""

    user_name: str
    display_name: str = ""

    @property
    def short_name(self) -> str:
        # The CLI's rule (iamutil.GetShortUserName): local part of the e-mail, lower case, every
        # run of non-alphanumerics collapsed to "_"; a service principal goes by display name.
        name = self.user_name
        if _is_uuid(name) and self.display_name:
            name = self.display_name
        return normalize_name(name.split("@", 1)[0])


def normalize_name(text: str) -> str:
    lowered = "".join(c if c.isalnum() else "_" for c in text.lower())
    return re.sub(r"_+", "_", lowered).strip("_")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class BundleFiles:
    """databricks.yml and the files it includes, as parsed YAML."""

    root: Path
    main: dict[str, Any]
    includes: dict[Path, dict[str, Any]]
    # (resource type, key) -> the file that defines it; relative paths inside a resource are
    # relative to that file's folder.
    origins: dict[tuple[str, str], Path]

    @property
    def files(self) -> dict[Path, dict[str, Any]]:
        return {self.root / BUNDLE_FILE: self.main, **self.includes}


def load_bundle(root: str | os.PathLike[str]) -> BundleFiles:
    root = Path(root).absolute()
    problems: list[str] = []
    main = _read_yaml(root / BUNDLE_FILE, problems)
    includes: dict[Path, dict[str, Any]] = {}
    origins: dict[tuple[str, str], Path] = {}
    for kind, key, _ in _resources(main):
        origins[(kind, key)] = root / BUNDLE_FILE
    for pattern in main.get("include") or []:
        matches = sorted(glob.glob(str(root / pattern), recursive=True))
        if not matches:
            problems.append(f"include: {pattern!r} matches no file")
        for match in matches:
            path = Path(match)
            data = _read_yaml(path, problems)
            includes[path] = data
            for kind, key, _ in _resources(data):
                if (kind, key) in origins:
                    problems.append(
                        f"resources.{kind}.{key} is defined twice "
                        f"({origins[(kind, key)].name} and {path.name})"
                    )
                origins[(kind, key)] = path
    if problems:
        raise BundleError(problems)
    return BundleFiles(root=root, main=main, includes=includes, origins=origins)


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"{path.name}: {exc}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name}: expected a mapping at the top level")
        return {}
    return data


def _resources(data: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    resources = data.get("resources")
    if not isinstance(resources, dict):
        return
    for kind, items in resources.items():
        if isinstance(items, dict):
            for key, value in items.items():
                yield kind, key, value


@dataclass(frozen=True)
class ResolvedBundle:
    """One target, merged and with every reference substituted."""

    root: Path
    target: str
    config: dict[str, Any]
    origins: dict[tuple[str, str], Path]
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str | None:
        return self.config.get("bundle", {}).get("mode")

    @property
    def workspace(self) -> dict[str, Any]:
        return self.config["workspace"]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.config.get("resources", {}).get(kind) or {}

    def resource(self, kind: str, key: str) -> dict[str, Any]:
        try:
            return self.resources(kind)[key]
        except KeyError:
            raise BundleError([f"resources.{kind}.{key} is not defined"]) from None

    def local_path(self, kind: str, key: str, relative: str) -> Path:
        """A path written inside a resource, on this machine (relative to its defining file)."""
        return (self.origins[(kind, key)].parent / relative).resolve()


def targets(files: BundleFiles) -> list[str]:
    return list((files.main.get("targets") or {}).keys())


def default_target(files: BundleFiles) -> str:
    declared = files.main.get("targets") or {}
    defaults = [name for name, spec in declared.items() if (spec or {}).get("default")]
    if len(defaults) == 1:
        return defaults[0]
    if len(declared) == 1:
        return next(iter(declared))
    raise BundleError(["no default target: pass --target"])


def resolve(
    files: BundleFiles,
    target: str | None = None,
    *,
    user: CurrentUser,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedBundle:
    """Merge ``target`` into the bundle and substitute every reference.

    Variable precedence follows the CLI: ``variables`` (``--var``) over ``BUNDLE_VAR_<name>`` in
    ``environ`` over the target's value over the declared default.
    """
    target = target or default_target(files)
    declared_targets = files.main.get("targets") or {}
    if target not in declared_targets:
        known = ", ".join(declared_targets)
        raise BundleError([f"target {target!r} is not defined (targets: {known})"])
    spec = declared_targets[target] or {}
    problems: list[str] = []

    config = _merged(files, target, spec)
    values = _variable_values(files, spec, variables or {}, environ or {}, problems)
    _default_workspace_paths(config, target, user)
    bundle_info = {"name": config["bundle"].get("name"), "target": target}

    def lookup_static(path: str) -> Any:
        head, _, rest = path.partition(".")
        if head == "var":
            if rest not in values:
                problems.append(f"${{{path}}}: variable {rest!r} is not declared")
                return _UNRESOLVED
            return values[rest]
        if head == "bundle":
            return _get(bundle_info, rest, path, problems)
        if head == "workspace":
            if rest.startswith("current_user."):
                attr = rest.removeprefix("current_user.")
                current = {"userName": user.user_name, "short_name": user.short_name}
                return _get(current, attr, path, problems)
            return _get(config["workspace"], rest, path, problems)
        if head == "resources":
            return _KEEP  # resolved after the development-mode names are applied
        problems.append(f"${{{path}}}: unknown reference")
        return _UNRESOLVED

    # Variables may refer to each other and to workspace paths: substitute until nothing changes.
    for _ in range(10):
        resolved_values = _interpolate(values, lookup_static)
        resolved_config = _interpolate(config, lookup_static)
        if resolved_values == values and resolved_config == config:
            break
        values.update(resolved_values)
        config = resolved_config
    else:
        problems.append("references do not settle (a cycle between variables?)")

    _apply_mode(config, user)
    config = _interpolate(config, _resource_lookup(config, problems))
    for path in _leftover_references(config):
        problems.append(f"{path}: unresolved reference")
    _check_identities(config, problems)
    if problems:
        raise BundleError(sorted(set(problems)))
    return ResolvedBundle(
        root=files.root, target=target, config=config, origins=files.origins, variables=values
    )


_UNRESOLVED = object()
_KEEP = object()


def _merged(files: BundleFiles, target: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        key: copy.deepcopy(value)
        for key, value in files.main.items()
        if key not in {"targets", "include", "variables"}
    }
    config.setdefault("bundle", {})
    config.setdefault("workspace", {})
    resources = config.setdefault("resources", {})
    for data in files.includes.values():
        for kind, key, value in _resources(data):
            resources.setdefault(kind, {})[key] = copy.deepcopy(value)
    for key, value in spec.items():
        if key in {"default", "variables"}:
            continue
        if key == "mode":
            config["bundle"]["mode"] = value
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            _deep_merge(config[key], value)
        else:
            config[key] = copy.deepcopy(value)
    config["bundle"]["target"] = target
    return config


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _variable_values(
    files: BundleFiles,
    spec: Mapping[str, Any],
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    problems: list[str],
) -> dict[str, Any]:
    declared = files.main.get("variables") or {}
    target_values = spec.get("variables") or {}
    values: dict[str, Any] = {}
    for name in sorted(set(target_values) - set(declared)):
        problems.append(f"targets: variable {name!r} is set but not declared")
    for name in sorted(set(overrides) - set(declared)):
        problems.append(f"--var {name}: variable is not declared")
    for name, decl in declared.items():
        decl = decl or {}
        if name in overrides:
            values[name] = overrides[name]
        elif ENV_PREFIX + name in environ:
            values[name] = environ[ENV_PREFIX + name]
        elif name in target_values:
            value = target_values[name]
            values[name] = value.get("default") if isinstance(value, dict) else value
        elif "default" in decl:
            values[name] = decl["default"]
        else:
            problems.append(
                f"variable {name!r} has no value: set it in the target, with --var {name}=... "
                f"or {ENV_PREFIX}{name}"
            )
    return values


def _default_workspace_paths(config: dict[str, Any], target: str, user: CurrentUser) -> None:
    # The CLI's defaults: ~/.bundle/<name>/<target>, "~" being the deploying user's home.
    workspace = config["workspace"]
    root = workspace.get("root_path") or f"~/.bundle/{config['bundle'].get('name')}/{target}"
    if root.startswith("~/"):
        root = f"/Workspace/Users/{user.user_name}/{root[2:]}"
    workspace["root_path"] = root
    for name, leaf in (
        ("file_path", "files"),
        ("resource_path", "resources"),
        ("artifact_path", "artifacts"),
        ("state_path", "state"),
    ):
        workspace.setdefault(name, f"{root}/{leaf}")


def _apply_mode(config: dict[str, Any], user: CurrentUser) -> None:
    """The part of the CLI's development mode and presets that changes names and schedules."""
    presets = config.setdefault("presets", {})
    development = config["bundle"].get("mode") == "development"
    if development:
        presets.setdefault("name_prefix", f"[dev {user.short_name}] ")
        presets.setdefault("trigger_pause_status", "PAUSED")
        presets.setdefault("pipelines_development", True)
        presets.setdefault("jobs_max_concurrent_runs", 4)
    prefix = presets.get("name_prefix", "")
    resources = config.get("resources", {})
    for job in (resources.get("jobs") or {}).values():
        job["name"] = prefix + job.get("name", "")
        if not job.get("max_concurrent_runs") and presets.get("jobs_max_concurrent_runs"):
            job["max_concurrent_runs"] = presets["jobs_max_concurrent_runs"]
        pause = presets.get("trigger_pause_status")
        for key in ("trigger", "schedule", "continuous"):
            if pause and isinstance(job.get(key), dict):
                job[key].setdefault("pause_status", pause)
    for pipeline in (resources.get("pipelines") or {}).values():
        pipeline["name"] = prefix + pipeline.get("name", "")
        if presets.get("pipelines_development"):
            pipeline["development"] = True
    for schema in (resources.get("schemas") or {}).values():
        schema["name"] = _schema_prefix(prefix) + str(schema.get("name", ""))


def _schema_prefix(prefix: str) -> str:
    # The CLI's normalizePrefix: "[dev ann] " -> "dev_ann_" (UC names allow no spaces/brackets).
    cleaned = prefix.replace("[", "").strip(" ")
    suffix = "_" if cleaned.endswith("]") else ""
    return normalize_name(cleaned) + suffix


def _resource_lookup(config: dict[str, Any], problems: list[str]) -> Callable[[str], Any]:
    resolving: set[str] = set()

    def lookup(path: str) -> Any:
        segments = _segments(path)
        if len(segments) < 4 or segments[0] != "resources":
            problems.append(f"${{{path}}}: unknown reference")
            return _UNRESOLVED
        kind, key, attr = segments[1], segments[2], segments[3:]
        resource = (config["resources"].get(kind) or {}).get(key)
        if resource is None:
            problems.append(f"${{{path}}}: resources.{kind}.{key} is not defined")
            return _UNRESOLVED
        value: Any = resource
        for segment in attr:
            try:
                value = value[segment]
            except (KeyError, IndexError, TypeError):
                if attr == [segment] and segment in DEPLOY_TIME_FIELDS:
                    return f"<deploy-time {path}>"
                problems.append(f"${{{path}}}: resources.{kind}.{key} has no {segment!r}")
                return _UNRESOLVED
        if path in resolving:
            problems.append(f"${{{path}}}: refers to itself")
            return _UNRESOLVED
        resolving.add(path)
        try:
            return _interpolate(value, lookup)
        finally:
            resolving.discard(path)

    return lookup


def _segments(path: str) -> list[Any]:
    return [int(index) if index else name for name, index in _SEGMENT.findall(path)]


def _get(data: Mapping[str, Any], dotted: str, path: str, problems: list[str]) -> Any:
    value: Any = data
    for segment in _segments(dotted):
        try:
            value = value[segment]
        except (KeyError, IndexError, TypeError):
            problems.append(f"${{{path}}}: unknown reference")
            return _UNRESOLVED
    return value


def _interpolate(value: Any, lookup: Callable[[str], Any]) -> Any:
    if isinstance(value, dict):
        return {key: _interpolate(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, lookup) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _REF.fullmatch(value)
    if whole:
        found = lookup(whole.group(1))
        # A reference that is the whole string keeps the referenced value's type.
        return value if found is _UNRESOLVED or found is _KEEP else found

    def substitute(match: re.Match[str]) -> str:
        found = lookup(match.group(1))
        if found is _UNRESOLVED or found is _KEEP:
            return match.group(0)
        if isinstance(found, dict | list):
            return match.group(0)
        return str(found)

    return _REF.sub(substitute, value)


def _leftover_references(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leftover_references(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leftover_references(item, f"{path}[{index}]")
    elif isinstance(value, str) and re.search(r"(?<!\$)\$\{", value):
        yield path


def _check_identities(config: Mapping[str, Any], problems: list[str]) -> None:
    # An empty identity is how a missing CI variable shows up; the CLI would reject it later.
    run_as = config.get("run_as")
    if run_as is not None:
        names = [v for k, v in run_as.items() if k in {"user_name", "service_principal_name"} and v]
        if len(names) != 1:
            problems.append("run_as: exactly one non-empty user_name or service_principal_name")
    for index, permission in enumerate(config.get("permissions") or []):
        principals = [
            permission.get(k) for k in ("user_name", "group_name", "service_principal_name")
        ]
        if sum(1 for p in principals if p) != 1:
            problems.append(f"permissions[{index}]: exactly one non-empty principal")
