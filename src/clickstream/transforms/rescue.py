"""Rescued data, the way Auto Loader documents it, for lines parsed by our own bronze step.

Spark's own JSON reader drops fields it does not know and fails a whole record over one value of
the wrong type. Auto Loader's ``rescuedDataColumn`` instead keeps every such field in
``_rescued_data``: a JSON object of the rescued fields (nested paths kept as nested objects) plus
``"_file_path"``, with the typed column left null. This module reproduces that for the local
platform:

* a key unknown to the v1 contract, at any depth, is rescued with its value;
* a key that matches a contract field only when case is ignored (``Title`` for ``title``) is
  rescued under its own spelling (Auto Loader reads case-sensitively and rescues the rest);
* a value whose JSON type does not fit the contract type (a string for an integer, a string for a
  struct, an unparseable timestamp) is rescued and the typed field stays null.

The check is a small pure-Python walk (``rescue_line``), run as an inline UDF on each valid UTF-8
line: Spark SQL can list a JSON object's keys, but cannot tell a JSON string ``"412"`` from a
number 412 once parsed, and the rescued object must keep the input's own JSON values.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from clickstream import contract, faults

FILE_PATH_KEY = "_file_path"

# What the UDF returns per line: corrupt (not a JSON object), the rescued object as JSON text
# (with _file_path), and the line without the rescued fields (null when nothing was rescued, so
# the raw line is parsed as is and only drifted lines cost a re-serialisation).
RESULT_TYPE = T.StructType(
    [
        T.StructField("corrupt", T.BooleanType(), False),
        T.StructField("rescued", T.StringType(), True),
        T.StructField("cleaned", T.StringType(), True),
    ]
)

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# ISO 8601 date-times the JSON reader's default timestamp parser accepts.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)

Spec = dict[str, Any]  # field name -> leaf type name, or a nested Spec for a struct


def contract_spec(fields: tuple[contract.Field, ...] = contract.EVENT_FIELDS) -> Spec:
    """The contract as nested dicts: the shape ``rescue_line`` walks."""
    return {f.name: contract_spec(f.children) if f.is_struct else f.type for f in fields}


def _valid_timestamp(value: str) -> bool:
    if not _TIMESTAMP.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return False
    return True


def fits(leaf_type: str, value: Any) -> bool:
    """Whether a JSON value fits a contract leaf type as Spark's JSON reader would type it.

    Null fits every type (nullability is a silver rule, not a parsing error). Spark's reader turns
    numbers and booleans into text for a string field, so those fit; objects and arrays do not.
    """
    if value is None:
        return True
    if leaf_type == "string":
        return not isinstance(value, dict | list)
    if leaf_type in ("integer", "long"):
        low, high = _INT32 if leaf_type == "integer" else _INT64
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if leaf_type == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if leaf_type == "boolean":
        return isinstance(value, bool)
    if leaf_type == "timestamp":
        return isinstance(value, str) and _valid_timestamp(value)
    raise ValueError(f"unknown contract type {leaf_type!r}")


def _rescue_object(obj: dict[str, Any], spec: Spec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``obj`` into (kept, rescued) against ``spec``; nested structs recurse."""
    kept: dict[str, Any] = {}
    rescued: dict[str, Any] = {}
    for key, value in obj.items():
        if key not in spec:
            # Unknown, or known only when case is ignored: Auto Loader rescues both verbatim.
            rescued[key] = value
            continue
        field_type = spec[key]
        if isinstance(field_type, dict):
            if value is None:
                kept[key] = None
            elif isinstance(value, dict):
                inner_kept, inner_rescued = _rescue_object(value, field_type)
                kept[key] = inner_kept
                if inner_rescued:
                    rescued[key] = inner_rescued
            else:
                rescued[key] = value
        elif fits(field_type, value):
            kept[key] = value
        else:
            rescued[key] = value
    return kept, rescued


def _dumps(value: Any) -> str:
    # Compact, UTF-8 kept, like the producer and Auto Loader; NaN/Infinity stay bare because
    # Spark's JSON reader accepts them (allowNonNumericNumbers).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def rescue_line(
    line: str | None, file_path: str | None, spec: Spec | None = None
) -> tuple[bool, str | None, str | None]:
    """``(corrupt, rescued_json, cleaned_json)`` for one input line.

    ``line`` is None for a line that is not valid UTF-8 (the caller checks that in Spark, where the
    raw bytes are still intact). A line that is not a JSON object is corrupt.
    """
    if line is None:
        return True, None, None
    try:
        obj = json.loads(line)
    except ValueError:
        return True, None, None
    if not isinstance(obj, dict):
        return True, None, None
    kept, rescued = _rescue_object(obj, spec if spec is not None else contract_spec())
    if not rescued:
        return False, None, None
    rescued[FILE_PATH_KEY] = file_path
    return False, _dumps(rescued), _dumps(kept)


def rescue_column(raw_line: Column, source_file: Column) -> Column:
    """The per-line rescue as a struct column (``RESULT_TYPE``), computed by an inline UDF.

    Lines that are not valid UTF-8 reach the UDF as null (corrupt): the raw bytes stay in Spark,
    and Python never decodes them.
    """
    spec = contract_spec()

    # No type hints on the UDF body: Spark Connect would try to infer a pandas UDF from them.
    def rescue(line, file_path):  # type: ignore[no-untyped-def]
        # The crash-recovery tests kill the run here, mid-batch; unarmed this is one comparison.
        faults.reached(faults.BRONZE_PARSE_LINE)
        return rescue_line(line, file_path, spec)

    udf = F.udf(rescue, RESULT_TYPE)
    return udf(F.when(F.is_valid_utf8(raw_line), raw_line), source_file)
