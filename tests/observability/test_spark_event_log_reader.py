"""The one reader of Spark's event log (JSON lines in a rolling folder), on hand-written logs.

The run record (per-flow progress, waiting for the listener bus) and the benchmarks' profiles
both read through ``event_log.listener_events``; these tests pin down what it yields: the kinds
asked for, after the offsets, and nothing of a line still being written.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from clickstream.observability import event_log


def _started(name: str, run_id: str) -> dict:
    return {"Event": event_log.STARTED_EVENT, "id": run_id, "runId": run_id, "name": name}


def _terminated(run_id: str) -> dict:
    return {"Event": event_log.TERMINATED_EVENT, "id": run_id, "runId": run_id}


def _progress(name: str, rows: int) -> dict:
    return {
        "Event": event_log.PROGRESS_EVENT,
        "progress": {"name": name, "sources": [{"numInputRows": rows}]},
    }


def _write(path: Path, *events: dict, tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write("".join(json.dumps(e) + "\n" for e in events) + tail)


def test_reader_yields_the_kinds_asked_for_in_file_order(tmp_path):
    log = tmp_path / "eventlog_v2_local-1"
    plan = {"Event": "SparkListenerJobStart", "Properties": {"note": "QueryProgressEvent"}}
    _write(log / "events_1_local-1", _started("a", "r1"), plan, _progress("a", 3))
    _write(log / "events_2_local-1", _progress("b", 4), _terminated("r1"))
    _write(log / "appstatus_local-1", _progress("not-an-event-file", 9))

    progress = list(event_log.progress_events(tmp_path))
    # The job event names the progress event in its text but is not one: the byte test is only
    # a pre-filter.
    assert [(p["name"], p["sources"][0]["numInputRows"]) for p in progress] == [("a", 3), ("b", 4)]
    kinds = [e["Event"] for e in event_log.listener_events(tmp_path, None, event_log.STARTED_EVENT)]
    assert kinds == [event_log.STARTED_EVENT]
    assert list(event_log.progress_events(tmp_path / "missing")) == []


def test_reader_starts_at_the_offsets_and_skips_a_line_being_written(tmp_path):
    events = tmp_path / "eventlog_v2_local-1" / "events_1_local-1"
    _write(events, _progress("old", 1))
    since = event_log.event_log_offsets(tmp_path)
    _write(events, _progress("new", 2), tail='{"Event": "' + event_log.PROGRESS_EVENT)
    assert [p["name"] for p in event_log.progress_events(tmp_path, since)] == ["new"]
    assert event_log.streaming_progress(tmp_path, since, ["new", "other"]) == {
        "new": [{"name": "new", "sources": [{"numInputRows": 2}]}]
    }


def test_wait_for_streams_returns_once_every_started_flow_terminated(tmp_path):
    events = tmp_path / "eventlog_v2_local-1" / "events_1_local-1"
    _write(events, _started("db.old", "r0"))  # before the offsets: not waited for
    since = event_log.event_log_offsets(tmp_path)
    _write(events, _started("db.silver", "r1"), _started("db.other_pipeline", "r2"))
    assert not event_log.wait_for_streams(tmp_path, since, ["db.silver"], timeout_s=0.3)

    # The listener bus writes the termination a moment later.
    later = threading.Timer(0.3, _write, args=(events, _terminated("r1")))
    later.start()
    # True only once the termination is read (a timeout returns False).
    assert event_log.wait_for_streams(tmp_path, since, ["db.silver"], timeout_s=30)
    later.join()
