"""Pure-Python pieces of the reliability guarantees, each with its own named test."""

from __future__ import annotations

from pathlib import Path

from clickstream.observability.landing_audit import compare, local_path
from clickstream.privacy.erasure import _ranges, sql_string
from clickstream.transforms.rescue import rescue_line


def test_nesting_deeper_than_the_python_stack_is_a_corrupt_record_not_a_crash():
    line = '{"event_id":"x","nest":' + '{"a":' * 1000 + "1" + "}" * 1000 + "}"
    assert rescue_line(line, "file:/f.json") == (True, None, None)
    assert rescue_line("[" * 5000 + "]" * 5000, "file:/f.json") == (True, None, None)


def test_moderate_nesting_is_still_rescued():
    line = '{"event_id":"x","nest":' + '{"a":' * 200 + "1" + "}" * 200 + "}"
    corrupt, rescued, _ = rescue_line(line, "file:/f.json")
    assert not corrupt and rescued.startswith('{"nest":')


def test_the_audit_names_rewritten_and_missing_files_only():
    a, b, c = Path("/l/a.json"), Path("/l/b.json"), Path("/l/c.json")
    findings = compare({a: 1000, b: 2000, c: 3000}, {a: 1000, b: 2500, c: None})
    assert [(f.path, f.problem) for f in findings] == [(b, "rewritten"), (c, "missing")]
    assert "rewritten after bronze ingested it" in findings[0].message()


def test_source_file_uris_decode_to_local_paths():
    uri = "file:/tmp/l/x%20y/%C3%A9v%C3%A9nements%20%E2%98%83.json"
    assert local_path(uri) == Path("/tmp/l/x y/événements ☃.json")


def test_sql_strings_are_escaped():
    assert sql_string("o'brien\\x") == "'o\\'brien\\\\x'"


def test_version_ranges_are_compact():
    assert _ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert _ranges([]) == ""
