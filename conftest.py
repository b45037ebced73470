"""Session-wide test plumbing shared by tests/ and the notebooks (run through nbval).

The notebooks' kernels connect to the same Spark Connect server as the tests: before a
notebook's first cell runs, the server is started (if the tests have not started it) and
CLICKSTREAM_HOME points the kernel at its home. One JVM serves the whole session.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tests"))

import lakehouse_testing


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.path.suffix == ".ipynb" and "CLICKSTREAM_HOME" not in os.environ:
        lakehouse_testing.shared_server(item.config)
        os.environ["CLICKSTREAM_HOME"] = str(lakehouse_testing.shared_settings(item.config).home)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The benchmark smoke checks the harness, whose numbers only make sense on a warm engine:
    # it runs last, so that the shared server's start and the JVM's warm-up (paid by whichever
    # Spark test comes first) are not counted in its minute.
    items.sort(key=lambda item: item.path.parent.name == "bench")


def pytest_sessionfinish(session: pytest.Session) -> None:
    lakehouse_testing.stop_shared_server(session.config)
