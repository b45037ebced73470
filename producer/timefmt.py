"""The producer's clock: epoch milliseconds inside, ISO 8601 UTC with milliseconds outside.

Events carry ``2026-11-29T10:15:30.123Z``; file names carry the compact form
``20261129T101530123Z`` so that names sort in time order.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

from producer.errors import ProducerError

# The default start of the simulated clock: a fixed instant, so that a run is reproducible.
DEFAULT_START = "2026-11-02T08:00:00Z"


@lru_cache(maxsize=8192)
def _second_prefix(epoch_s: int) -> str:
    # Events are emitted in time order, so consecutive calls mostly hit the same second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s))


def format_ts(epoch_ms: int) -> str:
    """``2026-11-29T10:15:30.123Z`` for an epoch-millisecond instant."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{_second_prefix(seconds)}.{millis:03d}Z"


def compact_ts(epoch_ms: int) -> str:
    """``20261129T101530123Z``: sortable, and safe in file and blob names."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"{millis:03d}Z"


def partition_of(epoch_ms: int) -> str:
    """The landing partition ``year=YYYY/month=MM/day=DD/hour=HH`` of an instant (UTC)."""
    return time.strftime("year=%Y/month=%m/day=%d/hour=%H", time.gmtime(epoch_ms // 1000))


def parse_ts(value: str) -> int:
    """Epoch milliseconds of an ISO 8601 instant; a value without offset is taken as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ProducerError(
            f"invalid time {value!r}: expected ISO 8601 such as 2026-11-02T08:00:00Z"
        ) from None
    return to_epoch_ms(parsed)


def to_epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    # Integer arithmetic: float seconds would lose the last millisecond now and then.
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def resolve_start(start: str | datetime | None) -> int:
    """The simulated start clock: ``None`` → the fixed default, ``"now"`` → the wall clock."""
    if start is None:
        return parse_ts(DEFAULT_START)
    if isinstance(start, datetime):
        return to_epoch_ms(start)
    if start.strip().lower() == "now":
        return time.time_ns() // 1_000_000
    return parse_ts(start)
