"""One contract, two derived schemas that agree with each other and with the design card."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from clickstream import contract


def json_schema_paths(node: dict, prefix: str = "") -> list[str]:
    paths: list[str] = []
    for name, child in node["properties"].items():
        types = child["type"] if isinstance(child["type"], list) else [child["type"]]
        if "object" in types:
            paths += json_schema_paths(child, f"{prefix}{name}.")
        else:
            paths.append(f"{prefix}{name}")
    return paths


def struct_paths(struct, prefix: str = "") -> list[str]:
    from pyspark.sql.types import StructType

    paths: list[str] = []
    for f in struct.fields:
        if isinstance(f.dataType, StructType):
            paths += struct_paths(f.dataType, f"{prefix}{f.name}.")
        else:
            paths.append(f"{prefix}{f.name}")
    return paths


def test_both_schemas_have_the_same_fields():
    expected = contract.field_paths()
    assert json_schema_paths(contract.json_schema()) == expected
    assert struct_paths(contract.spark_schema()) == expected
    assert (
        "user.email" in expected and "properties.revenue" in expected and "profile.tier" in expected
    )


def test_ddl_is_the_struct_type(spark):
    from pyspark.sql.types import StructType

    parsed = StructType.fromDDL(contract.ddl()) if hasattr(StructType, "fromDDL") else None
    from_spark = spark.createDataFrame([], contract.ddl()).schema
    assert from_spark.simpleString() == contract.spark_schema().simpleString()
    if parsed is not None:
        assert parsed.simpleString() == from_spark.simpleString()


def test_example_validates_and_bad_events_do_not():
    validator = contract.validator()
    validator.validate(contract.example_event())
    broken = {
        "unknown event type": lambda e: e.update(event_type="teleport"),
        "missing user.session_id": lambda e: e["user"].pop("session_id"),
        "extra field": lambda e: e.update(surprise=1),
        "price as text": lambda e: e["properties"].update(price="19.99"),
        "bad timestamp": lambda e: e.update(event_ts="yesterday"),
        "null event_id": lambda e: e.update(event_id=None),
    }
    for name, mutate in broken.items():
        event = copy.deepcopy(contract.example_event())
        mutate(event)
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(event)
        assert not validator.is_valid(event), name


def test_contract_imports_no_spark():
    import subprocess
    import sys

    code = "import sys, clickstream.contract as c; c.validator(); print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pii_fields_are_marked():
    assert contract.pii_paths() == ["user.email", "device.user_agent", "geo.ip"]
