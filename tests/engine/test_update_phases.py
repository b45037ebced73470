"""How one update is split into engine runs: streaming tables first, then the views."""

from __future__ import annotations

import pytest

from clickstream.engine import EngineError
from clickstream.runner import UpdatePhase, update_phases

DATASETS = {
    "bronze_events": "streaming_table",
    "silver_events": "streaming_table",
    "event_accounting": "materialized_view",
    "mv_daily_active_users": "materialized_view",
    "v_helper": "temporary_view",
}
TABLES = ("bronze_events", "silver_events")
VIEWS = ("event_accounting", "mv_daily_active_users")


def test_a_plain_update_refreshes_the_streaming_tables_then_the_views() -> None:
    assert update_phases(DATASETS) == [UpdatePhase(refresh=TABLES), UpdatePhase(refresh=VIEWS)]


def test_a_full_refresh_resets_every_table_and_view_in_the_same_order() -> None:
    assert update_phases(DATASETS, full_refresh_all=True) == [
        UpdatePhase(full_refresh=TABLES),
        UpdatePhase(full_refresh=VIEWS),
    ]


def test_a_selection_keeps_its_datasets_in_their_phase_and_skips_empty_phases() -> None:
    assert update_phases(DATASETS, refresh=["clickstream.silver_events"]) == [
        UpdatePhase(refresh=("silver_events",))
    ]
    assert update_phases(
        DATASETS, full_refresh=["bronze_events"], refresh=["silver_events", "event_accounting"]
    ) == [
        UpdatePhase(refresh=("silver_events",), full_refresh=("bronze_events",)),
        UpdatePhase(refresh=("event_accounting",)),
    ]


def test_an_unknown_dataset_is_refused_by_name() -> None:
    with pytest.raises(EngineError, match="no such dataset in the pipeline: silver_evnts"):
        update_phases(DATASETS, refresh=["silver_evnts"])
