"""The clean events behave like a shop's clickstream (measured on the main produced tree)."""

from __future__ import annotations

import collections
import ipaddress
import itertools
import re
import uuid
from typing import Any

import pytest
from producer_support import Tree
from producer_truth import parse_ts

from clickstream.contract import EVENT_FIELDS, EVENT_TYPES, PROFILE_ATTRIBUTES
from producer.funnel import FUNNEL_BANDS, FUNNEL_STAGES

RESERVED_NETWORKS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]
EMAIL = re.compile(r"^[a-z]+\.[a-z]+\d+@example\.(com|org|net)$")


@pytest.fixture(scope="module")
def events(main_tree: Tree) -> list[dict[str, Any]]:
    """The session events: clean lines and out-of-order ones (real events, delivered late)."""
    return [x.event for x in main_tree.lines if x.kind in (None, "out_of_order")]


@pytest.fixture(scope="module")
def sessions(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for event in events:
        grouped[event["user"]["session_id"]].append(event)
    for session in grouped.values():
        session.sort(key=lambda e: parse_ts(e["event_ts"]))
    return grouped


def test_funnel_conversion_stays_in_the_documented_bands(sessions: dict) -> None:
    reached = collections.Counter()
    for session in sessions.values():
        types = {e["event_type"] for e in session}
        for stage in FUNNEL_STAGES:
            if stage in types:
                reached[stage] += 1
    assert reached["page_view"] == len(sessions) > 1_500  # every visit starts with a page view
    for previous, stage in itertools.pairwise(FUNNEL_STAGES):
        low, high = FUNNEL_BANDS[stage]
        rate = reached[stage] / reached[previous]
        assert low <= rate <= high, f"{stage}: {rate:.3f} outside [{low}, {high}]"


def test_no_purchase_without_an_earlier_checkout(sessions: dict) -> None:
    purchases = 0
    for session in sessions.values():
        seen_checkout = False
        for event in session:
            if event["event_type"] == "checkout_start":
                seen_checkout = True
            elif event["event_type"] == "purchase":
                purchases += 1
                assert seen_checkout, event["event_id"]
    assert purchases > 100


def test_revenue_is_the_sum_of_the_cart(sessions: dict) -> None:
    orders = set()
    for session in sessions.values():
        cart: dict[str, list] = {}
        for event in session:
            p = event["properties"]
            if event["event_type"] == "add_to_cart":
                line = cart.setdefault(p["product_id"], [p["price"], 0, p["currency"]])
                line[1] += p["quantity"]
            elif event["event_type"] == "remove_from_cart":
                cart[p["product_id"]][1] -= p["quantity"]
            elif event["event_type"] == "purchase":
                expected = round(sum(price * qty for price, qty, _ in cart.values()), 2)
                assert p["revenue"] == expected, (p, cart)
                assert p["quantity"] == sum(qty for _, qty, _ in cart.values())
                assert {cur for _, _, cur in cart.values()} == {p["currency"]}
                assert p["order_id"] and p["order_id"] not in orders
                assert event["user"]["is_logged_in"] and event["user"]["user_id"]
                orders.add(p["order_id"])
                cart = {}
    assert len(orders) > 100


def test_visitors_log_in_mid_session(sessions: dict) -> None:
    logged_in_mid_session = 0
    for session in sessions.values():
        assert len({e["user"]["anonymous_id"] for e in session}) == 1
        states = [e["user"]["is_logged_in"] for e in session]
        # Logged out until some point, logged in from then on: never back.
        assert states == sorted(states)
        for event in session:
            user = event["user"]
            if user["is_logged_in"]:
                assert user["user_id"] and EMAIL.match(user["email"])
            else:
                assert user["user_id"] is None and user["email"] is None
        assert len({e["user"]["user_id"] for e in session if e["user"]["is_logged_in"]}) <= 1
        if not states[0] and states[-1]:
            logged_in_mid_session += 1
    assert logged_in_mid_session >= 0.05 * len(sessions)


def test_repeat_visitors(sessions: dict) -> None:
    visits = collections.Counter(s[0]["user"]["anonymous_id"] for s in sessions.values())
    returning = sum(1 for n in visits.values() if n >= 2)
    assert returning >= 0.15 * len(visits)


def test_profiles_change_over_time(events: list[dict[str, Any]]) -> None:
    logged_in = {e["user"]["user_id"] for e in events if e["user"]["is_logged_in"]}
    updates: dict[str, list[dict]] = collections.defaultdict(list)
    for event in sorted(events, key=lambda e: parse_ts(e["event_ts"])):
        if event["event_type"] == "profile_update":
            assert set(event["profile"]) == set(PROFILE_ATTRIBUTES)
            updates[event["user"]["user_id"]].append(event["profile"])
        else:
            assert event["profile"] is None
    several = [u for u in logged_in if len(updates[u]) >= 2]
    assert len(several) >= 0.05 * len(logged_in), f"{len(several)} of {len(logged_in)}"
    for profiles in updates.values():
        for before, after in itertools.pairwise(profiles):
            assert before != after  # every update is a real change


def test_event_shapes_and_reserved_values(events: list[dict[str, Any]]) -> None:
    assert {e["event_type"] for e in events} == set(EVENT_TYPES)
    for event in events:
        assert list(event) == [f.name for f in EVENT_FIELDS]  # keys in contract order
        assert uuid.UUID(event["event_id"]).version == 4
        assert any(ipaddress.ip_address(event["geo"]["ip"]) in n for n in RESERVED_NETWORKS)
        if event["user"]["email"] is not None:
            assert EMAIL.match(event["user"]["email"])
        assert event["page"]["url"].startswith("https://shop.example/")
        referrer = event["page"]["referrer"]
        assert referrer is None or re.match(
            r"^https://([a-z]+\.)?(shop\.example|example\.(com|org|net))/", referrer
        )
        price = event["properties"]["price"]
        assert price is None or price > 0


def test_session_events_are_ordered_and_spaced(sessions: dict) -> None:
    for session in sessions.values():
        times = [parse_ts(e["event_ts"]) for e in session]
        assert all(b - a >= 300 for a, b in itertools.pairwise(times))
        assert len({e["geo"]["ip"] for e in session}) == 1
        assert len({e["device"]["user_agent"] for e in session}) == 1
