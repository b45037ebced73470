"""The clickstream producer: realistic, deterministic event sessions for the landing zone.

Plain Python (no Spark), so it runs as ``clickstream produce``, inside a notebook, as a
Databricks job task or on any Azure compute::

    from producer import produce
    result = produce(events=10_000, seed=42, sink="/Volumes/main/clickstream/landing")
    print(result.summary())

Everything is reproducible from ``seed`` and the start clock; see ``producer.defects`` for the
injected imperfections and ``producer.funnel`` for the simulated behaviour and its bands.
"""

from __future__ import annotations

from typing import Any

from producer.api import (
    DEFAULT_EVENTS,
    DEFAULT_MAX_EVENTS_PER_FILE,
    DEFAULT_SEED,
    DEFAULT_SIMULATED_RATE,
    ProduceResult,
    produce,
)
from producer.defects import DEFAULT_RATES, DEFECT_KINDS, LATE_MIN_BEHIND
from producer.errors import ProducerError, SinkConflict, SinkError
from producer.sinks.local import LocalSink

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_MAX_EVENTS_PER_FILE",
    "DEFAULT_RATES",
    "DEFAULT_SEED",
    "DEFAULT_SIMULATED_RATE",
    "DEFECT_KINDS",
    "LATE_MIN_BEHIND",
    "AzureBlobSink",
    "LocalSink",
    "ProduceResult",
    "ProducerError",
    "SinkConflict",
    "SinkError",
    "produce",
]


def __getattr__(name: str) -> Any:
    # The Azure sink imports nothing from Azure until used, but keep even its module lazy.
    if name == "AzureBlobSink":
        from producer.sinks.azure import AzureBlobSink

        return AzureBlobSink
    raise AttributeError(f"module 'producer' has no attribute {name!r}")
