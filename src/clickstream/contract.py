"""The v1 clickstream event contract, defined once.

Both the producer (plain Python, validated with a JSON Schema) and the pipeline (Spark, enforced
with a ``StructType``) derive their schema from the tree below, so the two can never drift apart.
This module must not import Spark at module level: the producer runs where Spark is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "click",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_start",
    "purchase",
    "profile_update",
)

# Attributes of a user that dim_user tracks as SCD Type 2 history (carried by profile_update).
PROFILE_ATTRIBUTES: tuple[str, ...] = ("tier", "country", "marketing_opt_in")

# Leaf type names -> (JSON Schema fragment, Spark SQL DDL type name).
_LEAF_TYPES: dict[str, tuple[dict[str, Any], str]] = {
    "string": ({"type": "string"}, "STRING"),
    "integer": ({"type": "integer"}, "INT"),
    "long": ({"type": "integer"}, "BIGINT"),
    "double": ({"type": "number"}, "DOUBLE"),
    "boolean": ({"type": "boolean"}, "BOOLEAN"),
    "timestamp": ({"type": "string", "format": "date-time"}, "TIMESTAMP"),
}


@dataclass(frozen=True)
class Field:
    """One field of the contract: a leaf of a known type, or a struct of further fields."""

    name: str
    type: str | tuple[Field, ...]
    nullable: bool = True
    description: str = ""
    enum: tuple[Any, ...] | None = None
    pii: bool = False

    @property
    def is_struct(self) -> bool:
        return isinstance(self.type, tuple)

    @property
    def children(self) -> tuple[Field, ...]:
        return self.type if isinstance(self.type, tuple) else ()


def _s(name: str, *children: Field, nullable: bool = True, description: str = "") -> Field:
    return Field(name, tuple(children), nullable, description)


EVENT_FIELDS: tuple[Field, ...] = (
    Field("schema_version", "integer", False, "Contract version; always 1 here.", enum=(1,)),
    Field("event_id", "string", False, "UUID of the event; re-sent duplicates repeat it."),
    Field("event_type", "string", False, "What happened.", enum=EVENT_TYPES),
    Field("event_ts", "timestamp", False, "When it happened on the client (ISO 8601, UTC)."),
    _s(
        "user",
        Field("user_id", "string", True, "Null for anonymous visitors."),
        Field("anonymous_id", "string", False, "Cookie id; always set."),
        Field("email", "string", True, "Direct identifier.", pii=True),
        Field("session_id", "string", False),
        Field("is_logged_in", "boolean", False),
        nullable=False,
    ),
    _s(
        "device",
        Field("type", "string", True, enum=("desktop", "mobile", "tablet")),
        Field("os", "string"),
        Field("browser", "string"),
        Field("user_agent", "string", True, "Quasi-identifier.", pii=True),
        _s("screen", Field("width", "integer"), Field("height", "integer")),
    ),
    _s(
        "geo",
        Field("ip", "string", True, "Direct identifier.", pii=True),
        Field("country", "string"),
        Field("region", "string"),
        Field("city", "string"),
        Field("timezone", "string"),
    ),
    _s(
        "page",
        Field("url", "string"),
        Field("path", "string"),
        Field("referrer", "string"),
        Field("title", "string"),
        Field("load_ms", "integer"),
    ),
    _s(
        "properties",
        Field("product_id", "string"),
        Field("category", "string"),
        Field("price", "double"),
        Field("quantity", "integer"),
        Field("order_id", "string"),
        Field("revenue", "double"),
        Field("currency", "string"),
        Field("search_query", "string"),
    ),
    _s(
        "profile",
        Field("tier", "string", True, enum=("bronze", "silver", "gold", "platinum")),
        Field("country", "string"),
        Field("marketing_opt_in", "boolean"),
        description="Set on profile_update events only.",
    ),
)


def field_paths(fields: tuple[Field, ...] = EVENT_FIELDS, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf, e.g. ``user.email``."""
    paths: list[str] = []
    for f in fields:
        path = f"{prefix}{f.name}"
        if f.is_struct:
            paths.extend(field_paths(f.children, path + "."))
        else:
            paths.append(path)
    return paths


def pii_paths() -> list[str]:
    """Dotted paths of the leaves that hold personal data."""

    def walk(fields: tuple[Field, ...], prefix: str) -> list[str]:
        out: list[str] = []
        for f in fields:
            if f.is_struct:
                out.extend(walk(f.children, f"{prefix}{f.name}."))
            elif f.pii:
                out.append(f"{prefix}{f.name}")
        return out

    return walk(EVENT_FIELDS, "")


def _json_schema_for(f: Field) -> dict[str, Any]:
    if f.is_struct:
        node: dict[str, Any] = {
            "type": "object",
            "properties": {c.name: _json_schema_for(c) for c in f.children},
            "required": [c.name for c in f.children],
            "additionalProperties": False,
        }
    else:
        node = dict(_LEAF_TYPES[f.type][0])  # type: ignore[index]
        if f.enum is not None:
            node["enum"] = list(f.enum) + ([None] if f.nullable else [])
    if f.description:
        node["description"] = f.description
    if f.nullable:
        node["type"] = [node["type"], "null"]
    return node


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one v1 event line; every key is required, nulls explicit."""
    root = Field("event", EVENT_FIELDS, nullable=False)
    schema = _json_schema_for(root)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "urn:lakeflow-clickstream:event:v1"
    schema["title"] = "Clickstream event v1"
    return schema


def _ddl_type(f: Field) -> str:
    if f.is_struct:
        inner = ", ".join(f"`{c.name}`: {_ddl_type(c)}" for c in f.children)
        return f"STRUCT<{inner}>"
    return _LEAF_TYPES[f.type][1]  # type: ignore[index]


def ddl() -> str:
    """The v1 schema as a Spark DDL string (for SQL and ``from_json``)."""
    return ", ".join(f"`{f.name}` {_ddl_type(f)}" for f in EVENT_FIELDS)


def spark_schema() -> Any:
    """The v1 schema as a ``pyspark.sql.types.StructType`` (imports Spark lazily)."""
    from pyspark.sql import types as T

    leaf = {
        "string": T.StringType(),
        "integer": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "timestamp": T.TimestampType(),
    }

    def to_struct(fields: tuple[Field, ...]) -> T.StructType:
        return T.StructType(
            [
                T.StructField(
                    f.name, to_struct(f.children) if f.is_struct else leaf[f.type], f.nullable
                )
                for f in fields
            ]
        )

    return to_struct(EVENT_FIELDS)


def validator() -> Any:
    """A ``jsonschema`` validator for one parsed event (format checks on)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(json_schema())
    return cls(json_schema(), format_checker=cls.FORMAT_CHECKER)


def example_event() -> dict[str, Any]:
    """A valid v1 event (a fresh dict each call), handy for docs and tests."""
    return {
        "schema_version": 1,
        "event_id": "8d3c2a1e-0000-4000-8000-000000000001",
        "event_type": "page_view",
        "event_ts": "2026-11-29T10:15:30.123Z",
        "user": {
            "user_id": "u-000123",
            "anonymous_id": "a-000000000123",
            "email": "ann@example.com",
            "session_id": "s-000000000001",
            "is_logged_in": True,
        },
        "device": {
            "type": "mobile",
            "os": "iOS",
            "browser": "Safari",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
            "screen": {"width": 390, "height": 844},
        },
        "geo": {
            "ip": "203.0.113.7",
            "country": "GB",
            "region": "England",
            "city": "Leeds",
            "timezone": "Europe/London",
        },
        "page": {
            "url": "https://shop.example/p/p-123",
            "path": "/p/p-123",
            "referrer": None,
            "title": "Trail shoe",
            "load_ms": 412,
        },
        "properties": {
            "product_id": "p-123",
            "category": "shoes",
            "price": 19.99,
            "quantity": 1,
            "order_id": None,
            "revenue": None,
            "currency": "GBP",
            "search_query": None,
        },
        "profile": None,
    }
