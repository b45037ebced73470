"""The simulated visitors: devices (cookies), customer accounts and their changing profiles."""

from __future__ import annotations

import random
from dataclasses import dataclass

from producer import catalog, funnel
from producer.jsonl import dumps


@dataclass(slots=True)
class Profile:
    tier: str
    country: str
    marketing_opt_in: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "country": self.country,
            "marketing_opt_in": self.marketing_opt_in,
        }


@dataclass(slots=True)
class Customer:
    user_id: str
    email: str
    profile: Profile
    home: catalog.Place
    purchases: int = 0
    busy_until: int = 0  # a customer runs one session at a time, even across devices


@dataclass(slots=True)
class Visitor:
    """One browser on one device: the ``anonymous_id`` cookie survives between sessions."""

    anonymous_id: str
    device: catalog.DeviceModel
    screen: tuple[int, int]
    home: catalog.Place
    customer: Customer | None = None
    remembers_login: bool = False
    busy_until: int = 0
    device_json: str = ""  # encoded once: it is the same in every event of this device


class Population:
    """Creates and recalls visitors; all randomness comes from the simulator's RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.visitors: list[Visitor] = []
        self.customers: list[Customer] = []
        self._place_cum = catalog.cumulative([w for w, _ in catalog.PLACES])
        self._device_cum = catalog.cumulative([w for w, _ in catalog.DEVICES])

    def place(self) -> catalog.Place:
        return self._rng.choices(catalog.PLACES, cum_weights=self._place_cum)[0][1]

    def visitor_for_session(self, now_ms: int) -> Visitor:
        """A returning device when one is free, else a new one (perhaps of a known customer)."""
        rng = self._rng
        if self.visitors and rng.random() < funnel.P_RETURNING_VISITOR:
            # Two tries are enough: busy visitors are the exception at realistic concurrency.
            for _ in range(2):
                visitor = self.visitors[rng.randrange(len(self.visitors))]
                if visitor.busy_until <= now_ms and (
                    visitor.customer is None or visitor.customer.busy_until <= now_ms
                ):
                    return visitor
        draw = rng.random()
        if draw < funnel.P_NEW_DEVICE_OF_CUSTOMER and self.customers:
            candidate = self.customers[rng.randrange(len(self.customers))]
            if candidate.busy_until <= now_ms:
                visitor = self._new_visitor(candidate)
                visitor.remembers_login = rng.random() < funnel.P_REMEMBERED_LOGIN
                return visitor
        visitor = self._new_visitor(None)
        if draw >= 1.0 - funnel.P_PREEXISTING_ACCOUNT:
            self.existing_customer(visitor)
            visitor.remembers_login = rng.random() < funnel.P_REMEMBERED_LOGIN
        return visitor

    def _new_visitor(self, customer: Customer | None) -> Visitor:
        rng = self._rng
        device = rng.choices(catalog.DEVICES, cum_weights=self._device_cum)[0][1]
        screen = rng.choice(device.screens)
        visitor = Visitor(
            anonymous_id=f"a-{rng.getrandbits(64):016x}",
            device=device,
            screen=screen,
            home=customer.home if customer else self.place(),
            customer=customer,
        )
        visitor.device_json = dumps(
            {
                "type": device.type,
                "os": device.os,
                "browser": device.browser,
                "user_agent": device.user_agent,
                "screen": {"width": screen[0], "height": screen[1]},
            }
        )
        self.visitors.append(visitor)
        return visitor

    def sign_up(self, visitor: Visitor) -> Customer:
        """A new account created on ``visitor``'s device (a new customer, bronze tier)."""
        rng = self._rng
        number = len(self.customers) + 1
        email = (
            f"{rng.choice(catalog.FIRST_NAMES)}.{rng.choice(catalog.LAST_NAMES)}{number}"
            f"@{rng.choice(catalog.EMAIL_DOMAINS)}"
        )
        customer = Customer(
            user_id=f"u-{number:06d}",
            email=email,
            profile=Profile(
                "bronze", visitor.home.country, rng.random() < funnel.P_MARKETING_OPT_IN
            ),
            home=visitor.home,
        )
        self.customers.append(customer)
        visitor.customer = customer
        return customer

    def existing_customer(self, visitor: Visitor) -> Customer:
        """An account that predates the simulation (its owner logs in on a new device)."""
        rng = self._rng
        customer = self.sign_up(visitor)
        # Older accounts have a purchase history, hence a tier of their own.
        customer.purchases = rng.choice((0, 0, 1, 2, 3, 5, 6, 11))
        customer.profile.tier = funnel.tier_for(customer.purchases)
        return customer
