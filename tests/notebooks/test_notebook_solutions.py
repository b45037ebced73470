"""Every exercise's reference solution passes the notebook's check; wrong answers do not."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

from clickstream import teaching

pytestmark = pytest.mark.spark

SOLUTIONS = teaching.PROJECT_ROOT / "notebooks" / "solutions"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"solution_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exercises() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.py"))


def test_every_notebook_has_a_solution() -> None:
    notebooks = {p.stem for p in (teaching.PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert notebooks == {p.stem for p in exercises()}


@pytest.fixture(scope="module")
def lab(shared_settings, shared_server):
    """One lab with data and a pipeline run: every check works on whatever data it holds."""
    lab = teaching.start("90_solutions", settings=shared_settings)
    lab.produce(events=900, seed=42, batches=2, max_events_per_file=300)
    assert lab.run().ok
    lab.produce(events=300, seed=43, start=teaching.LAB_START + timedelta(hours=6))
    assert lab.run().ok
    yield lab
    lab.close()


# A wrong answer of the right shape per exercise: the check must refuse it.
WRONG = {
    "00": ("3.5.0", "3.2.0"),
    "01": 0,
    "02": "SELECT count(*) FROM bronze_events",
    "03": "SELECT 'has_event_id' AS rule, 1 AS rows",
    # Off by one: right query shape, wrong number.
    "04": "SELECT count(*) + 1 FROM dim_user WHERE __END_AT IS NULL AND tier = 'gold'",
    "05": "SELECT sum(revenue) + 1 FROM mv_revenue_daily",
    "06": "SELECT count(DISTINCT origin.update_id) + 1 FROM pipeline_event_log",
    "07": ["dev"],
}


@pytest.mark.parametrize("path", exercises(), ids=lambda p: p.stem)
def test_the_solution_passes_its_check_and_wrong_answers_fail(lab, path: Path) -> None:
    exercise = path.stem[:2]
    solved, message = teaching.verdict(exercise, lab, load(path).solve(lab))
    assert solved, message
    assert message == f"exercise {exercise}: correct"
    assert teaching.verdict(exercise, lab, None)[0] is False
    assert teaching.verdict(exercise, lab, WRONG[exercise])[0] is False
    assert teaching.verdict(exercise, lab, "SELECT nonsense FROM nowhere")[0] is False
