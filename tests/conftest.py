"""Shared fixtures: ONE local Spark Connect server for the whole test session.

Starting a JVM costs ~20 s, so tests never start their own: they share the server of a
throwaway lakehouse home and isolate themselves by database name and landing folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from lakehouse_testing import Sandbox

from clickstream.config import LocalSettings


@pytest.fixture(scope="session")
def shared_settings(tmp_path_factory: pytest.TempPathFactory) -> LocalSettings:
    home = tmp_path_factory.mktemp("shared-lakehouse")
    return LocalSettings(home=home, landing=home / "landing", database="clickstream")


@pytest.fixture(scope="session")
def shared_server(shared_settings: LocalSettings) -> Iterator[object]:
    from clickstream import server

    info = server.start(shared_settings)
    yield info
    server.stop(shared_settings)


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
