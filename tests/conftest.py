"""Shared fixtures: ONE local Spark Connect server for the whole test session.

Starting a JVM costs ~20 s, so tests never start their own: they share the server of a
throwaway lakehouse home and isolate themselves by database name and landing folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import lakehouse_testing
import pytest
from lakehouse_testing import Sandbox

from clickstream.config import LocalSettings


@pytest.fixture(scope="session")
def shared_settings(pytestconfig: pytest.Config) -> LocalSettings:
    return lakehouse_testing.shared_settings(pytestconfig)


@pytest.fixture(scope="session")
def shared_server(pytestconfig: pytest.Config) -> object:
    # Stopped at the end of the session (conftest.py at the project root): notebooks use it too.
    return lakehouse_testing.shared_server(pytestconfig)


@pytest.fixture(scope="session")
def lakehouse(shared_settings: LocalSettings, shared_server: object) -> Iterator[object]:
    from clickstream.engine import Lakehouse

    lh = Lakehouse.open(shared_settings, mode="server")
    yield lh
    lh.close()


@pytest.fixture(scope="session")
def spark(lakehouse: object) -> object:
    return lakehouse.spark  # type: ignore[attr-defined]


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, shared_settings: LocalSettings) -> Sandbox:
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    database = f"t_{name}"
    landing = shared_settings.home / "landings" / database
    landing.mkdir(parents=True, exist_ok=True)
    return Sandbox(shared_settings, database, landing)
