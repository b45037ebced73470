"""The reliability tier: shared hostile-input run, and the one-line summary of the tier.

Each test records what it really tried into the tier's tally (``tally`` fixture): inputs tried,
faults injected, rows lost, leaks found. ``pytest_terminal_summary`` prints the totals as one
line when any reliability test ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Tally:
    inputs_tried: int = 0
    faults_injected: int = 0
    rows_lost: int = 0
    leaks_found: int = 0
    tests: int = 0

    def line(self, tier: str) -> str:
        return (
            f"reliability {tier} tier: inputs tried: {self.inputs_tried}, faults injected: "
            f"{self.faults_injected}, rows lost: {self.rows_lost}, leaks found: {self.leaks_found}"
        )


TALLY_KEY = pytest.StashKey[Tally]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TALLY_KEY] = Tally()


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Tally:
    found = request.config.stash[TALLY_KEY]
    found.tests += 1
    return found


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(TALLY_KEY, None)
    if found is None or found.tests == 0:
        return
    markexpr = config.getoption("markexpr", "") or ""
    tier = "soak" if "soak" in markexpr and "not soak" not in markexpr else "quick"
    terminalreporter.write_line(found.line(tier))


@pytest.fixture(scope="session")
def corpus_run(shared_settings: Any, lakehouse: Any) -> Iterator[Any]:
    """Every hostile input in one landing, a good file after them, ONE pipeline update."""
    from lakehouse_testing import Sandbox
    from reliability_support import build_corpus

    database = "t_rel_corpus"
    landing = shared_settings.home / "landings" / database
    landing.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(shared_settings, database, landing)
    corpus = build_corpus(landing)
    result = sandbox.runner(lakehouse).run()
    yield corpus, sandbox, result


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Azurite over http with shared-key auth, started the way the producer tests start it."""
    import sys
    from pathlib import Path

    # The producer tests' Azurite helpers (pinned binary, readiness wait), not a copy of them.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "producer"))
    from producer_support import Azurite, run_azurite

    with run_azurite(tmp_path_factory.mktemp("azurite-rel")) as port:
        yield Azurite(port, "http")
