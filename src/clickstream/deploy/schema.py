"""A strict JSON Schema for the bundle's top-level mappings (databricks.yml and included files).

Resources are checked by the typed models of the ``databricks-bundles`` package (see validate.py);
the mappings around them (bundle, include, sync, variables, targets, workspace, run_as,
permissions, presets) have no Python models, and the CLI's published schema ships in no package.
This schema covers the subset of those mappings this project may use, with the CLI's field names,
and rejects every other key, so that a misspelled key fails offline instead of at deploy time.
"""

from __future__ import annotations

from typing import Any

# Resource types this bundle may declare; validate.py maps each to its typed model.
RESOURCE_TYPES = ("catalogs", "jobs", "pipelines", "schemas", "volumes")

_NAME = "^[A-Za-z_][A-Za-z0-9_-]*$"
_REFERENCE = {"type": "string", "pattern": r"^\$\{[^}]+\}$"}


def _or_reference(schema: dict[str, Any]) -> dict[str, Any]:
    """A typed value, or a whole-string ``${...}`` reference that resolves to one."""
    return {"anyOf": [schema, _REFERENCE]}


def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_BOOL = _or_reference({"type": "boolean"})

_BUNDLE = _strict(
    {
        "name": _STRING,
        "uuid": _STRING,
        "databricks_cli_version": _STRING,
        "deployment": _strict(
            {
                "fail_on_active_runs": _BOOL,
                "lock": _strict({"enabled": _BOOL, "force": _BOOL}),
            }
        ),
    },
    required=("name",),
)

_WORKSPACE = _strict(
    {
        name: _STRING
        for name in (
            "host",
            "profile",
            "auth_type",
            "root_path",
            "file_path",
            "artifact_path",
            "resource_path",
            "state_path",
        )
    }
)

_SYNC = _strict({"paths": _STRINGS, "include": _STRINGS, "exclude": _STRINGS})

_RUN_AS = _strict({"service_principal_name": _STRING, "user_name": _STRING})

_PERMISSION = _strict(
    {
        "level": {"enum": ["CAN_MANAGE", "CAN_RUN", "CAN_VIEW"]},
        "group_name": _STRING,
        "user_name": _STRING,
        "service_principal_name": _STRING,
    },
    required=("level",),
)

_PRESETS = _strict(
    {
        "name_prefix": _STRING,
        "pipelines_development": _BOOL,
        "trigger_pause_status": {"enum": ["PAUSED", "UNPAUSED"]},
        "jobs_max_concurrent_runs": _or_reference({"type": "integer", "minimum": 1}),
        "tags": {"type": "object", "additionalProperties": _STRING},
        "source_linked_deployment": _BOOL,
    }
)

_RESOURCES = _strict(
    {
        kind: {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"type": "object"},
        }
        for kind in RESOURCE_TYPES
    }
)

_SCALAR = {"type": ["string", "number", "boolean"]}

_VARIABLE = _strict(
    {
        "description": _STRING,
        "default": {},
        "type": {"enum": ["complex"]},
        "lookup": {"type": "object", "minProperties": 1, "maxProperties": 1},
    }
)

_TARGET = _strict(
    {
        "default": {"type": "boolean"},
        "mode": {"enum": ["development", "production"]},
        "bundle": _BUNDLE | {"required": []},
        "workspace": _WORKSPACE,
        "sync": _SYNC,
        "run_as": _RUN_AS,
        "permissions": {"type": "array", "items": _PERMISSION},
        "presets": _PRESETS,
        "variables": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {
                "anyOf": [_SCALAR, _strict({"default": {}, "lookup": {"type": "object"}})]
            },
        },
        "resources": _RESOURCES,
    }
)

BUNDLE_SCHEMA: dict[str, Any] = _strict(
    {
        "bundle": _BUNDLE,
        "include": _STRINGS,
        "sync": _SYNC,
        "workspace": _WORKSPACE,
        "run_as": _RUN_AS,
        "permissions": {"type": "array", "items": _PERMISSION},
        "presets": _PRESETS,
        "variables": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": _VARIABLE,
        },
        "targets": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": _TARGET,
            "minProperties": 1,
        },
        "resources": _RESOURCES,
    },
    required=("bundle", "targets"),
)

# A file named by `include`: resources only, so that targets and variables live in one place.
INCLUDED_FILE_SCHEMA: dict[str, Any] = _strict({"resources": _RESOURCES}, required=("resources",))
