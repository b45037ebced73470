"""The imperfections the producer injects on purpose: kinds, default rates, and how each is made.

Every line of a produced file carries at most one defect kind. Apart from ``out_of_order`` (a real
session event delivered after later ones) and ``duplicate`` (a byte-identical re-send of an earlier
clean line), a defect is an *extra* line sent from the context of a live session, so the sessions
themselves stay complete and realistic. Rates are per line: a rate of 0.01 makes about 1 % of the
lines of that kind.

How a reader can tell each kind (the tests classify lines this way):

* ``malformed_invalid_utf8`` — the line is not valid UTF-8 (a Latin-1 byte in a string value).
* ``malformed_truncated`` — valid UTF-8 starting with ``{`` that does not parse (cut short).
* ``malformed_not_json`` — valid UTF-8 that does not parse and does not start with ``{``.
* ``rule_missing_event_id`` — parses, ``event_id`` is null.
* ``duplicate`` — its ``event_id`` was already seen in an earlier file, with identical bytes.
* ``rule_future_event_time`` — ``event_ts`` at least ``FUTURE_MIN_AHEAD`` after the file landed.
* ``late`` — ``event_ts`` more than ``LATE_MIN_BEHIND`` before the file landed.
* ``drift_unknown_field`` / ``drift_case_mismatch`` / ``drift_type_mismatch_top`` /
  ``drift_type_mismatch_nested`` — fails the contract only by an extra key, a key whose case
  differs, or a wrong type at the top level / inside a struct.
* ``rule_unknown_event_type`` — fails the contract only by its ``event_type``.
* ``rule_negative_price`` — valid against the contract, ``properties.price`` below zero.
* ``out_of_order`` — valid, but earlier than a line before it in the same file (by at least
  ``OUT_OF_ORDER_MIN_BEHIND``), and not late.

A file's landing time is its modification time (the pipeline's landing time for its late rule).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from producer import catalog
from producer.errors import ProducerError
from producer.jsonl import dumps
from producer.sessions import EMPTY_PROPERTIES, SessionSimulator, new_uuid
from producer.timefmt import format_ts

LATE = "late"
OUT_OF_ORDER = "out_of_order"
DUPLICATE = "duplicate"
MALFORMED_TRUNCATED = "malformed_truncated"
MALFORMED_NOT_JSON = "malformed_not_json"
MALFORMED_INVALID_UTF8 = "malformed_invalid_utf8"
DRIFT_UNKNOWN_FIELD = "drift_unknown_field"
DRIFT_CASE_MISMATCH = "drift_case_mismatch"
DRIFT_TYPE_MISMATCH_TOP = "drift_type_mismatch_top"
DRIFT_TYPE_MISMATCH_NESTED = "drift_type_mismatch_nested"
RULE_UNKNOWN_EVENT_TYPE = "rule_unknown_event_type"
RULE_MISSING_EVENT_ID = "rule_missing_event_id"
RULE_NEGATIVE_PRICE = "rule_negative_price"
RULE_FUTURE_EVENT_TIME = "rule_future_event_time"

DEFECT_KINDS: tuple[str, ...] = (
    LATE,
    OUT_OF_ORDER,
    DUPLICATE,
    MALFORMED_TRUNCATED,
    MALFORMED_NOT_JSON,
    MALFORMED_INVALID_UTF8,
    DRIFT_UNKNOWN_FIELD,
    DRIFT_CASE_MISMATCH,
    DRIFT_TYPE_MISMATCH_TOP,
    DRIFT_TYPE_MISMATCH_NESTED,
    RULE_UNKNOWN_EVENT_TYPE,
    RULE_MISSING_EVENT_ID,
    RULE_NEGATIVE_PRICE,
    RULE_FUTURE_EVENT_TIME,
)
MALFORMED_KINDS = (MALFORMED_TRUNCATED, MALFORMED_NOT_JSON, MALFORMED_INVALID_UTF8)
DRIFT_KINDS = (
    DRIFT_UNKNOWN_FIELD,
    DRIFT_CASE_MISMATCH,
    DRIFT_TYPE_MISMATCH_TOP,
    DRIFT_TYPE_MISMATCH_NESTED,
)
RULE_KINDS = (
    RULE_UNKNOWN_EVENT_TYPE,
    RULE_MISSING_EVENT_ID,
    RULE_NEGATIVE_PRICE,
    RULE_FUTURE_EVENT_TIME,
)

# Default share of lines per kind: low, as on a healthy site; about 9.5 % of lines in total.
DEFAULT_RATES: dict[str, float] = {
    LATE: 0.01,
    OUT_OF_ORDER: 0.02,
    DUPLICATE: 0.01,
    **{kind: 0.005 for kind in MALFORMED_KINDS + DRIFT_KINDS + RULE_KINDS},
}
# Above this the data stops looking like a site's clickstream (and duplicates run short).
MAX_TOTAL_RATE = 0.5

# The pipeline's default allowed lateness is 1 hour. Late events sit well beyond it and every
# other line well inside it, so the pipeline's late rule and the producer agree on every line.
PIPELINE_ALLOWED_LATENESS = timedelta(hours=1)
LATE_MIN_BEHIND = timedelta(hours=2)
LATE_MAX_BEHIND = timedelta(hours=6)
FUTURE_MIN_AHEAD = timedelta(days=1)
FUTURE_MAX_AHEAD = timedelta(days=3)
OUT_OF_ORDER_MIN_BEHIND = timedelta(seconds=2)
# A duplicate re-sends a line whose event time is at most this far behind the stream, so that
# with the file span below it stays inside the allowed lateness (a duplicate, not a late event).
DUPLICATE_MAX_BEHIND = timedelta(minutes=20)
# A file is closed when its events span this long, whatever --max-events-per-file says.
FILE_MAX_SPAN = timedelta(minutes=10)
# Simulated delay between a file's last event and its landing (a writer's flush).
FLUSH_DELAY_MS = (200, 3000)

UNKNOWN_EVENT_TYPES = ("wishlist_add", "video_play", "share", "chat_open")
NOT_JSON_TEMPLATES = (
    "{ts} ERROR collector upstream timed out after 30000 ms (request {hex})",
    "<html><head><title>502 Bad Gateway</title></head><body>bad gateway {hex}</body></html>",
    "event_type=page_view&ts={ts}&anonymous_id=a-{hex}",
    "page_view,{ts},a-{hex},/p/p-0001",
)
# (parent path, key, unknown value) — value None means: draw a number.
UNKNOWN_FIELDS: tuple[tuple[tuple[str, ...], str, Any], ...] = (
    ((), "experiment_id", "exp-checkout-b"),
    (("page",), "scroll_depth", None),
    (("device",), "battery_level", None),
    (("properties",), "coupon_code", "WINTER10"),
)
# (parent path, key, the key as a careless client spells it)
CASE_MISMATCHES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    ((), "profile", "Profile"),
    (("page",), "title", "Title"),
    (("device",), "browser", "Browser"),
    (("geo",), "city", "City"),
    (("page",), "load_ms", "Load_ms"),
)
TYPE_MISMATCHES_TOP = ("schema_version", "device")
TYPE_MISMATCHES_NESTED: tuple[tuple[str, ...], ...] = (
    ("page", "load_ms"),
    ("device", "screen", "width"),
    ("user", "is_logged_in"),
)

_MS = timedelta(milliseconds=1)


def ms(delta: timedelta) -> int:
    return delta // _MS


def resolve_rates(
    clean: bool = False, overrides: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Rates for a run: defaults, or all zero with ``clean``, then per-kind ``overrides``.

    ``overrides`` may use the key ``"all"`` to set every kind at once (applied first).
    """
    rates = dict.fromkeys(DEFECT_KINDS, 0.0) if clean else dict(DEFAULT_RATES)
    items = list((overrides or {}).items())
    items.sort(key=lambda item: item[0] != "all")  # "all" first, specific kinds override it
    for kind, rate in items:
        if kind != "all" and kind not in DEFECT_KINDS:
            raise ProducerError(
                f"unknown defect kind {kind!r}; known kinds: all, {', '.join(DEFECT_KINDS)}"
            )
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ProducerError(
                f"defect rate for {kind} must be a number from 0 to 1, got {rate!r}"
            )
        for k in DEFECT_KINDS if kind == "all" else (kind,):
            rates[k] = float(rate)
    total = sum(rates.values())
    if total > MAX_TOTAL_RATE:
        raise ProducerError(
            f"defect rates add up to {total:.3f}; "
            f"at most {MAX_TOTAL_RATE} of the lines may be defects"
        )
    return rates


def parse_defect_option(text: str) -> tuple[str, float]:
    """``KIND=RATE`` or ``KIND=off`` (KIND may be ``all``) from the command line."""
    kind, sep, value = text.partition("=")
    kind, value = kind.strip(), value.strip().lower()
    if not sep or not kind or not value:
        raise ProducerError(f"--defect expects KIND=RATE or KIND=off, got {text!r}")
    if value in ("off", "0"):
        return kind, 0.0
    try:
        return kind, float(value)
    except ValueError:
        raise ProducerError(f"--defect {kind}: rate must be a number from 0 to 1 or off") from None


class DefectFactory:
    """Builds the line of an injected defect from a template: a recent clean line of a session.

    Each builder returns ``(line, event_id)``; ``line`` is text in which a lone surrogate stands
    for a raw byte (written with ``surrogateescape``), ``event_id`` is None when the line has none.
    """

    def __init__(self, rng: random.Random, sessions: SessionSimulator) -> None:
        self.rng = rng
        self.sessions = sessions
        self._currency = {place.country: place.currency for _, place in catalog.PLACES}

    def _benign(self, template: str, ts_ms: int, **changes: Any) -> dict[str, Any]:
        """A plain page view in the template's session (never a second purchase or cart line)."""
        event = json.loads(template)
        product_view = event["event_type"] == "page_view" and event["properties"]["product_id"]
        if not product_view:
            event["properties"] = dict(EMPTY_PROPERTIES)
        event["event_id"] = new_uuid(self.rng)
        event["event_type"] = "page_view"
        event["event_ts"] = format_ts(ts_ms)
        event["profile"] = None
        event.update(changes)
        return event

    def build(self, kind: str, template: str, ts_ms: int) -> tuple[str, str | None]:
        """A defect line of ``kind`` whose event time is ``ts_ms`` (where it has one)."""
        return getattr(self, kind)(template, ts_ms)

    # -- time ---------------------------------------------------------------------------------

    def late(self, template: str, landing_ms: int) -> tuple[str, str | None]:
        # An event buffered by an offline app: sent now, from a visit hours ago.
        behind = self.rng.randint(ms(LATE_MIN_BEHIND) + 1, ms(LATE_MAX_BEHIND))
        event = self._benign(template, landing_ms - behind)
        event["user"]["session_id"] = f"s-{self.rng.getrandbits(64):016x}"
        return dumps(event), event["event_id"]

    def rule_future_event_time(self, template: str, landing_ms: int) -> tuple[str, str | None]:
        # A device whose clock is wrong by days.
        ahead = self.rng.randint(ms(FUTURE_MIN_AHEAD), ms(FUTURE_MAX_AHEAD))
        event = self._benign(template, landing_ms + ahead)
        return dumps(event), event["event_id"]

    # -- malformed ----------------------------------------------------------------------------

    def malformed_truncated(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms)
        text = dumps(event)
        # Cut on a character boundary: a strict prefix of a JSON object never parses, and the
        # line stays valid UTF-8 (so it is truncated JSON, not an encoding error).
        cut = self.rng.randint(len(text) * 3 // 10, len(text) * 9 // 10)
        return text[:cut], event["event_id"]

    def malformed_not_json(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        pattern = self.rng.choice(NOT_JSON_TEMPLATES)
        return pattern.format(ts=format_ts(ts_ms), hex=f"{self.rng.getrandbits(48):012x}"), None

    def malformed_invalid_utf8(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms)
        text = dumps(event)
        # "Café" written in Latin-1 by a misconfigured client: byte 0xE9 followed by a space is
        # never valid UTF-8. "\udce9" is written as the raw byte 0xE9 (surrogateescape).
        for key in ('"title":"', '"user_agent":"', '"event_type":"'):
            at = text.find(key)
            if at >= 0:
                at += len(key)
                return text[:at] + "Caf\udce9 " + text[at:], event["event_id"]
        raise AssertionError("an event line always has an event_type")  # pragma: no cover

    # -- schema drift -------------------------------------------------------------------------

    def drift_unknown_field(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms)
        parent_path, key, value = self.rng.choice(UNKNOWN_FIELDS)
        parent = _walk(event, parent_path)
        parent[key] = round(self.rng.random(), 2) if value is None else value
        return dumps(event), event["event_id"]

    def drift_case_mismatch(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms)
        parent_path, key, spelled = self.rng.choice(CASE_MISMATCHES)
        parent = _walk(event, parent_path)
        # Rebuild to keep the key's position: the line differs from a clean one only by case.
        renamed = {(spelled if k == key else k): v for k, v in parent.items()}
        parent.clear()
        parent.update(renamed)
        return dumps(event), event["event_id"]

    def drift_type_mismatch_top(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms)
        key = self.rng.choice(TYPE_MISMATCHES_TOP)
        # A version sent as a string, or a device sent as its type name instead of a struct.
        event[key] = "1" if key == "schema_version" else event["device"]["type"]
        return dumps(event), event["event_id"]

    def drift_type_mismatch_nested(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms)
        *parent_path, key = self.rng.choice(TYPE_MISMATCHES_NESTED)
        parent = _walk(event, tuple(parent_path))
        value = parent[key]
        parent[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return dumps(event), event["event_id"]

    # -- business rules -----------------------------------------------------------------------

    def rule_unknown_event_type(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms, event_type=self.rng.choice(UNKNOWN_EVENT_TYPES))
        return dumps(event), event["event_id"]

    def rule_missing_event_id(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms, event_id=None)
        return dumps(event), None

    def rule_negative_price(self, template: str, ts_ms: int) -> tuple[str, str | None]:
        event = self._benign(template, ts_ms)
        products = self.sessions.products
        product = products[self.rng.randrange(len(products))]
        currency = self._currency.get(event["geo"]["country"], "EUR")
        properties = json.loads(self.sessions.product_properties(product, currency))
        properties["price"] = -properties["price"]
        event["properties"] = properties
        return dumps(event), event["event_id"]


def _walk(event: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = event
    for key in path:
        node = node[key]
    return node
