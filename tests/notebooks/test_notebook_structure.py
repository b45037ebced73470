"""Every notebook: numbered, introduced, built on the project, free of pipeline definitions,
ending with an exercise; every concept of the series shown by a tagged cell's committed output."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from clickstream import teaching

NOTEBOOKS = sorted((teaching.PROJECT_ROOT / "notebooks").glob("*.ipynb"))
README = (teaching.PROJECT_ROOT / "README.md").read_text()

# concept tag -> what its cell's committed output must show.
CONCEPT_EVIDENCE = {
    "producer-defects": r"malformed_invalid_utf8\s+\d+",
    "auto-loader": r'"cloudFiles\.format": "json"|rescuedDataColumn',
    "rescued-data": r'"_file_path"',
    "incremental-ingestion": r"STREAMING UPDATE",
    "expectations": r"expect|drop|warn",
    "quarantine": r"known_event_type",
    "watermark": r"WATERMARK|dropDuplicatesWithinWatermark",
    "deduplication": r"duplicate",
    "sha256-pii": r"\b[0-9a-f]{64}\b",
    "accounting": r"identity_holds\s+True",
    "scd2": r"__END_AT[\s\S]*\d{2}:\d{2}:\d{2}(\.\d+)?\s+2026-\d{2}-\d{2} \d{2}:\d{2}",
    "scd1": r"'stored_as_scd_type': 1",
    "star-schema": r"version_valid_from",
    "liquid-clustering": r"fact_events\s+\[date_key, event_type\]",
    "materialized-views": r"@dp\.materialized_view",
    "event-log": r"flow_progress",
    "lineage": r"bronze_events =stream=> silver_events",
    "time-travel": r"after_first_update",
    "exactly-once": r"silver_events\s+\d+ rows, equal to the uninterrupted run: True",
    "bundles": r"target dev: mode=development",
}


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        for key in ("text/plain", "text/html"):
            parts.append(str(output.get("data", {}).get(key, "")))
    return "\n".join(parts)


def python_source(cell) -> str:
    # IPython magics are not Python; the notebooks use none, but don't trip on one.
    return "\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!")))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert re.fullmatch(r"\d\d_[a-z0-9_]+", path.stem)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith(f"# {path.stem[:2]} · ")
    sources = [python_source(c) for c in code_cells(nb)]
    assert any(re.search(r"^from clickstream|^import clickstream", s, re.M) for s in sources)
    # Ends with an exercise: an unanswered `answer`, then the check cell.
    assert sources[-2].startswith("answer = None")
    assert re.fullmatch(rf'teaching\.check\("{path.stem[:2]}", (lab|None), answer\)', sources[-1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_pipeline_definitions_in_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in code_cells(nb):
        tree = ast.parse(python_source(cell))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    assert not ast.unparse(target).startswith("dp."), cell.source
            if isinstance(node, ast.Attribute):
                assert node.attr != "readStream", cell.source
                if isinstance(node.value, ast.Name) and node.value.id == "dp":
                    assert not node.attr.startswith("create_"), cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_has_its_committed_output(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in code_cells(nb):
        assert cell.get("execution_count") is not None, f"not recorded: {cell.source[:60]}"
        assert not [o for o in cell.outputs if o.get("output_type") == "error"], cell.source


def tagged_cells() -> dict[str, list[tuple[str, object]]]:
    found: dict[str, list[tuple[str, object]]] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            for tag in cell.metadata.get("tags", []):
                if tag.startswith("concept:"):
                    found.setdefault(tag.removeprefix("concept:"), []).append((path.stem, cell))
    return found


@pytest.mark.parametrize("concept", sorted(CONCEPT_EVIDENCE))
def test_each_concept_is_shown_by_a_tagged_cell(concept: str) -> None:
    cells = tagged_cells().get(concept)
    assert cells, f"no cell is tagged concept:{concept}"
    assert any(re.search(CONCEPT_EVIDENCE[concept], output_text(c)) for _, c in cells), concept
    if concept == "exactly-once":
        assert all("uninterrupted run: False" not in output_text(c) for _, c in cells)
    # The README's concept map points at the notebook that shows it.
    notebook = cells[0][0]
    assert re.search(rf"\|\s*{re.escape(concept)}\s*\|[^\n]*{notebook}", README), concept


def test_no_tag_outside_the_concept_list() -> None:
    assert set(tagged_cells()) <= set(CONCEPT_EVIDENCE)
