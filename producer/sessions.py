"""Visitor sessions, merged into one stream of clean events in event-time order.

A session is simulated whole when it starts (its events are spaced by think time) and its events
are queued; the stream pops the earliest queued event, starting new sessions (Poisson arrivals)
whenever the next arrival is earlier. Every event here is clean and satisfies the contract;
imperfections are added later, by ``producer.assembler``.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

from producer import catalog, funnel
from producer.jsonl import dumps
from producer.population import Customer, Population, Visitor
from producer.timefmt import format_ts

EMPTY_PROPERTIES: dict[str, Any] = {
    "product_id": None,
    "category": None,
    "price": None,
    "quantity": None,
    "order_id": None,
    "revenue": None,
    "currency": None,
    "search_query": None,
}
EMPTY_PROPERTIES_JSON = dumps(EMPTY_PROPERTIES)

EXTERNAL_REFERRERS: tuple[str | None, ...] = (
    None,
    None,
    "https://www.example.com/search?q=outdoor+shop",
    "https://news.example.org/deals/winter",
    "https://social.example.net/post/7731",
    "https://mail.example.com/newsletter/2026-11",
)


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (never from the OS): reproducible from the seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def event_line(
    event_id: str,
    event_type: str,
    ts: str,
    user: str,
    device: str,
    geo: str,
    page: str,
    properties: str,
    profile: str = "null",
) -> str:
    """One NDJSON line from already-encoded parts, keys in contract order.

    Why not ``json.dumps`` of a dict: device, geo, user and page repeat across the events of a
    session, so they are encoded once per session (or page) and spliced here; that halves the
    cost per event. ``event_id``, ``event_type`` and ``ts`` never need JSON escaping.
    """
    return (
        f'{{"schema_version":1,"event_id":"{event_id}","event_type":"{event_type}",'
        f'"event_ts":"{ts}","user":{user},"device":{device},"geo":{geo},"page":{page},'
        f'"properties":{properties},"profile":{profile}}}'
    )


class _Session:
    """Builds the events of one visit; methods are the things a visitor does."""

    def __init__(self, sim: SessionSimulator, visitor: Visitor, start_ms: int) -> None:
        rng = sim.rng
        self.sim = sim
        self.rng = rng
        self.visitor = visitor
        self.t = start_ms
        self.session_id = f"s-{rng.getrandbits(64):016x}"
        customer = visitor.customer
        place = customer.home if customer else visitor.home
        self.currency = place.currency
        self.geo = dumps(
            {
                "ip": f"{rng.choice(catalog.IP_PREFIXES)}.{rng.randint(1, 254)}",
                "country": place.country,
                "region": place.region,
                "city": place.city,
                "timezone": place.timezone,
            }
        )
        self.logged_in = bool(customer and visitor.remembers_login)
        self.user = self._user_json()
        self.page = ""
        self.page_url: str | None = None
        self.cart: dict[str, list[Any]] = {}  # product_id -> [product, quantity]
        self.events: list[tuple[int, str, str, str]] = []  # (epoch ms, type, event_id, line)
        self.first = True

    # -- plumbing ---------------------------------------------------------------------------

    def _user_json(self) -> str:
        customer = self.visitor.customer if self.logged_in else None
        return dumps(
            {
                "user_id": customer.user_id if customer else None,
                "anonymous_id": self.visitor.anonymous_id,
                "email": customer.email if customer else None,
                "session_id": self.session_id,
                "is_logged_in": self.logged_in,
            }
        )

    def _tick(self) -> None:
        if self.first:
            self.first = False
            return
        think = int(self.rng.lognormvariate(funnel.THINK_MEDIAN_LOG_MS, funnel.THINK_SIGMA))
        self.t += min(max(think, funnel.THINK_MIN_MS), funnel.THINK_MAX_MS)

    def emit(self, event_type: str, properties: str, profile: str = "null") -> None:
        self._tick()
        event_id = new_uuid(self.rng)
        line = event_line(
            event_id,
            event_type,
            format_ts(self.t),
            self.user,
            self.visitor.device_json,
            self.geo,
            self.page,
            properties,
            profile,
        )
        self.events.append((self.t, event_type, event_id, line))

    def view(
        self, path: str, title: str, properties: str = EMPTY_PROPERTIES_JSON, url: str = ""
    ) -> None:
        referrer = self.page_url if self.page else self.rng.choice(EXTERNAL_REFERRERS)
        self.page_url = url or catalog.SHOP_URL + path
        self.page = dumps(
            {
                "url": self.page_url,
                "path": path,
                "referrer": referrer,
                "title": title,
                "load_ms": int(self.rng.lognormvariate(6.0, 0.5)),
            }
        )
        self.emit("page_view", properties)

    def product_properties(self, product: catalog.Product, quantity: int | None = None) -> str:
        return self.sim.product_properties(product, self.currency, quantity)

    # -- what visitors do -------------------------------------------------------------------

    def product(self) -> catalog.Product:
        products = self.sim.products
        # Popularity is skewed: a few products get most of the views, as in any shop.
        return products[int(len(products) * self.rng.random() ** 2)]

    def view_product(self, product: catalog.Product) -> None:
        path = f"/p/{product.product_id}"
        self.view(path, product.title, self.product_properties(product))

    def view_category(self, category: str) -> None:
        self.view(f"/c/{category}", category.capitalize())

    def browse_step(self) -> None:
        rng = self.rng
        draw = rng.random()
        if draw < 0.45:
            self.view_product(self.product())
        elif draw < 0.60:
            self.view_category(self.product().category)
        elif draw < 0.75:
            category = self.product().category
            query = rng.choice(catalog.CATEGORIES[category][2])
            self.emit("search", dumps(dict(EMPTY_PROPERTIES, search_query=query)))
            url = f"{catalog.SHOP_URL}/search?q={quote_plus(query)}"
            self.view("/search", f"Results for {query}", url=url)
        else:
            self.emit("click", self.product_properties(self.product()))

    def log_in(self) -> None:
        self.view("/login", "Sign in")
        self.logged_in = True
        self.user = self._user_json()
        self.visitor.remembers_login = self.rng.random() < funnel.P_REMEMBERED_LOGIN

    def sign_up(self) -> None:
        self.view("/register", "Create account")
        customer = self.sim.population.sign_up(self.visitor)
        self.logged_in = True
        self.user = self._user_json()
        self.visitor.remembers_login = self.rng.random() < funnel.P_REMEMBERED_LOGIN
        self.emit("profile_update", EMPTY_PROPERTIES_JSON, dumps(customer.profile.as_dict()))

    def fill_cart(self) -> None:
        rng = self.rng
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            product = self.product()
            self.view_product(product)
            quantity = rng.choice((1, 1, 1, 1, 2, 3))
            self.emit("add_to_cart", self.product_properties(product, quantity))
            line = self.cart.setdefault(product.product_id, [product, 0])
            line[1] += quantity
        if len(self.cart) >= 2 and rng.random() < funnel.P_REMOVE_FROM_CART:
            product_id = rng.choice(sorted(self.cart))
            product, quantity = self.cart.pop(product_id)
            self.emit("remove_from_cart", self.product_properties(product, quantity))

    def checkout(self) -> bool:
        """Checkout needs an account: a logged-out visitor logs in or signs up first."""
        self.view("/cart", "Your basket")
        if not self.logged_in:
            if self.visitor.customer is not None:
                self.log_in()
            else:
                self.sign_up()
        units = sum(quantity for _, quantity in self.cart.values())
        properties = dict(EMPTY_PROPERTIES, quantity=units, currency=self.currency)
        self.emit("checkout_start", dumps(properties))
        return self.rng.random() < funnel.P_PURCHASE

    def purchase(self) -> None:
        customer = self.visitor.customer
        assert customer is not None  # checkout() logged the visitor in
        # Integer cents: revenue is exactly the sum of price × quantity, rounded once.
        cents = sum(p.price_cents(self.currency) * q for p, q in self.cart.values())
        units = sum(q for _, q in self.cart.values())
        properties = dict(
            EMPTY_PROPERTIES,
            quantity=units,
            order_id=f"o-{self.rng.getrandbits(64):016x}",
            revenue=cents / 100,
            currency=self.currency,
        )
        self.emit("purchase", dumps(properties))
        self.view("/checkout/confirmation", "Thank you for your order")
        self.cart.clear()
        customer.purchases += 1
        tier = funnel.tier_for(customer.purchases)
        if tier != customer.profile.tier:
            customer.profile.tier = tier
            self.emit("profile_update", EMPTY_PROPERTIES_JSON, dumps(customer.profile.as_dict()))

    def change_profile(self, customer: Customer) -> None:
        rng = self.rng
        profile = customer.profile
        draw = rng.random()
        if draw < 0.5:
            profile.marketing_opt_in = not profile.marketing_opt_in
        elif draw < 0.75:
            # The customer moved: later sessions come from the new country.
            place = self.sim.population.place()
            while place.country == profile.country:
                place = self.sim.population.place()
            customer.home = place
            profile.country = place.country
        else:
            tiers = ("bronze", "silver", "gold", "platinum")
            profile.tier = rng.choice([t for t in tiers if t != profile.tier])
        self.emit("profile_update", EMPTY_PROPERTIES_JSON, dumps(profile.as_dict()))

    def run(self) -> list[tuple[int, str, str, str]]:
        rng = self.rng
        entry = rng.random()
        if entry < 0.35:
            self.view("/", "Home")
        elif entry < 0.6:
            self.view_category(self.product().category)
        else:
            self.view_product(self.product())
        steps = min(int(rng.expovariate(1 / funnel.MEAN_BROWSE_STEPS)), 40)
        login_at = -1
        logged_out_customer = self.visitor.customer is not None and not self.logged_in
        if logged_out_customer and rng.random() < funnel.P_LOGIN_WHILE_BROWSING:
            login_at = rng.randint(0, steps)
        for step in range(steps + 1):
            if step == login_at:
                self.log_in()
            if step < steps:
                self.browse_step()
        if rng.random() < funnel.P_ADD_TO_CART:
            self.fill_cart()
            if rng.random() < funnel.P_CHECKOUT and self.checkout():
                self.purchase()
        customer = self.visitor.customer
        if self.logged_in and customer and rng.random() < funnel.P_ACCOUNT_VISIT:
            self.view("/account", "Your account")
            changes = rng.choice((2, 3)) if rng.random() < funnel.P_SEVERAL_PROFILE_CHANGES else 1
            for _ in range(changes):
                self.change_profile(customer)
        return self.events


class SessionSimulator:
    """An endless, deterministic stream of clean events in event-time order.

    Each item is ``(epoch_ms, event_type, event_id, line)``: ``line`` is one NDJSON line
    without its newline.
    """

    def __init__(self, seed: int, start_ms: int, events_per_second: float) -> None:
        # Named streams: the catalog does not shift when behaviour changes, and the defects
        # (drawn from their own stream elsewhere) never shift the sessions.
        self.rng = random.Random(f"clickstream/{seed}/sessions")
        self.products = catalog.build_catalog(random.Random(f"clickstream/{seed}/catalog"))
        self.population = Population(self.rng)
        self._mean_gap_ms = 1000.0 * funnel.MEAN_EVENTS_PER_SESSION / events_per_second
        self._queue: list[tuple[int, int, str, str, str]] = []
        self._properties_cache: dict[tuple[str, str, int | None], str] = {}
        self._seq = 0
        self._next_arrival = start_ms
        self.sessions = 0

    def __iter__(self) -> Iterator[tuple[int, str, str, str]]:
        return self

    def product_properties(
        self, product: catalog.Product, currency: str, quantity: int | None = None
    ) -> str:
        """Encoded properties of a product event; cached, as the catalog is small."""
        key = (product.product_id, currency, quantity)
        cached = self._properties_cache.get(key)
        if cached is None:
            cached = dumps(
                dict(
                    EMPTY_PROPERTIES,
                    product_id=product.product_id,
                    category=product.category,
                    price=product.price_cents(currency) / 100,
                    quantity=quantity,
                    currency=currency,
                )
            )
            self._properties_cache[key] = cached
        return cached

    def _start_session(self, start_ms: int) -> None:
        visitor = self.population.visitor_for_session(start_ms)
        events = _Session(self, visitor, start_ms).run()
        end = events[-1][0]
        visitor.busy_until = end
        if visitor.customer is not None:
            visitor.customer.busy_until = end
        queue = self._queue
        seq = self._seq
        for ts, event_type, event_id, line in events:
            seq += 1
            heapq.heappush(queue, (ts, seq, event_type, event_id, line))
        self._seq = seq
        self.sessions += 1

    def __next__(self) -> tuple[int, str, str, str]:
        queue = self._queue
        while not queue or self._next_arrival <= queue[0][0]:
            self._start_session(self._next_arrival)
            gap = self.rng.expovariate(1.0) * self._mean_gap_ms
            self._next_arrival += max(1, int(gap))
        ts, _, event_type, event_id, line = heapq.heappop(queue)
        return ts, event_type, event_id, line
