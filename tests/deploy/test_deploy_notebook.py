"""The job's producer notebook, run as Databricks would run it: a source notebook whose widgets
the job fills, calling the real producer into a folder standing in for the volume."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from deploy_support import ANN, REPO

from clickstream.deploy import remote
from clickstream.deploy.bundle import load_bundle, resolve

NOTEBOOK = REPO / "notebooks" / "jobs" / "produce_to_volume.py"


class Widgets:
    """dbutils.widgets: defaults from text(), overridden by what the job passes."""

    def __init__(self, passed: dict[str, str]) -> None:
        self.passed = passed
        self.defined: dict[str, str] = {}

    def text(self, name: str, default: str, label: str = "") -> None:
        self.defined[name] = default

    def get(self, name: str) -> str:
        if name not in self.defined:
            raise ValueError(f"widget {name} is not defined")
        return self.passed.get(name, self.defined[name])


class DbUtils:
    def __init__(self, passed: dict[str, str]) -> None:
        self.widgets = Widgets(passed)


def run_notebook(passed: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> DbUtils:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the notebook extends sys.path
    dbutils = DbUtils(passed)
    source = NOTEBOOK.read_text(encoding="utf-8")
    exec(compile(source, str(NOTEBOOK), "exec"), {"dbutils": dbutils, "__name__": "__main__"})
    return dbutils


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_it_is_a_databricks_source_notebook() -> None:
    lines = NOTEBOOK.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# Databricks notebook source"
    assert "# COMMAND ----------" in lines
    assert not any(line.lstrip("# ").startswith(("%pip", "MAGIC %pip")) for line in lines)


def test_the_job_passes_every_widget_the_notebook_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = resolve(load_bundle(REPO), "dev", user=ANN, environ={})
    job = bundle.resource("jobs", remote.JOB_KEY)
    [task] = [t for t in job["tasks"] if "notebook_task" in t]
    passed = {p["name"]: p["default"] for p in job["parameters"]}  # pushed down to tasks
    passed.update(task["notebook_task"]["base_parameters"])
    passed.update(volume_path=str(tmp_path / "landing"), bundle_root=str(REPO), events="40")
    dbutils = run_notebook(passed, monkeypatch)
    assert set(dbutils.widgets.defined) == set(passed)


def test_it_lands_events_and_a_retry_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = tmp_path / "landing"
    passed = {
        "events": "120",
        "seed": "11",
        "batches": "2",
        "volume_path": str(landing),
        "bundle_root": str(REPO),
    }
    run_notebook(passed, monkeypatch)
    first = snapshot(landing)
    lines = [
        line
        for name, data in first.items()
        if name.endswith(".json")
        for line in data.decode().splitlines()
    ]
    assert len(lines) >= 120 * 0.9  # every event, give or take the injected defects
    assert "produced 120 events" in capsys.readouterr().out

    run_notebook(passed, monkeypatch)  # the task's retry
    assert snapshot(landing) == first
    assert "already present" in capsys.readouterr().out


def test_it_refuses_to_run_without_a_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="volume_path is empty"):
        run_notebook({"events": "10", "bundle_root": str(REPO)}, monkeypatch)
