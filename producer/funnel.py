"""Behaviour knobs of the simulated visitors, and the bands the resulting data must fall in.

A funnel stage's conversion is measured per session: the share of sessions reaching a stage among
the sessions that reached the previous one (``page_view`` → ``add_to_cart`` → ``checkout_start``
→ ``purchase``). The probabilities below are what a session draws; ``FUNNEL_BANDS`` are the
documented ranges a produced data set of a few thousand sessions lands in (tests check them).
"""

from __future__ import annotations

FUNNEL_STAGES: tuple[str, ...] = ("page_view", "add_to_cart", "checkout_start", "purchase")

# Probability that a session moves on from the previous stage.
P_ADD_TO_CART = 0.28
P_CHECKOUT = 0.50
P_PURCHASE = 0.65

# stage -> (low, high) share of the previous stage's sessions that reach it.
FUNNEL_BANDS: dict[str, tuple[float, float]] = {
    "add_to_cart": (0.20, 0.36),
    "checkout_start": (0.40, 0.60),
    "purchase": (0.55, 0.75),
}

# Visitors.
P_RETURNING_VISITOR = 0.45  # a session comes from a device seen before (cookie still set)
P_NEW_DEVICE_OF_CUSTOMER = 0.35  # a new device belongs to a customer who already has an account
P_PREEXISTING_ACCOUNT = 0.25  # a new device belongs to an account older than the simulation
P_REMEMBERED_LOGIN = 0.55  # a device of a customer stays logged in between sessions
P_LOGIN_WHILE_BROWSING = 0.30  # a customer on a logged-out device logs in without checking out

# Inside a session.
MEAN_BROWSE_STEPS = 4.0
P_REMOVE_FROM_CART = 0.15  # only when the cart holds two or more products: it never empties
P_ACCOUNT_VISIT = 0.10  # a logged-in session ends on the account page changing the profile
P_SEVERAL_PROFILE_CHANGES = 0.6  # ... and changes it two or three times
# Loyalty tier by number of purchases (a purchase that reaches a threshold upgrades the tier).
TIER_THRESHOLDS: tuple[tuple[int, str], ...] = ((10, "platinum"), (5, "gold"), (2, "silver"))
P_MARKETING_OPT_IN = 0.4

# Think time between two clicks: log-normal, median ≈ 12 s, capped.
THINK_MEDIAN_LOG_MS = 9.4
THINK_SIGMA = 0.8
THINK_MIN_MS = 300
THINK_MAX_MS = 10 * 60 * 1000

# Used to turn an events-per-second rate into a session arrival rate (measured average).
MEAN_EVENTS_PER_SESSION = 6.8


def tier_for(purchases: int) -> str:
    for threshold, tier in TIER_THRESHOLDS:
        if purchases >= threshold:
            return tier
    return "bronze"
