"""The simulated shop: its product catalog, its visitors' places and devices.

Everything personal-looking uses reserved values only: e-mail domains example.com/.org/.net,
IP addresses from the documentation ranges (RFC 5737) and the shop itself on ``shop.example``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SHOP_URL = "https://shop.example"

# RFC 5737 documentation networks: never routable, never a real person's address.
IP_PREFIXES: tuple[str, ...] = ("192.0.2", "198.51.100", "203.0.113")
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")

FIRST_NAMES: tuple[str, ...] = (
    "ann", "ben", "chloe", "dev", "ema", "finn", "grace", "hugo", "iris", "jon", "kim", "leo",
    "maya", "nils", "olga", "pat", "quinn", "rosa", "sam", "tara", "uma", "vik", "wen", "zoe",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "archer", "baker", "carter", "dunn", "ellis", "fox", "gray", "hale", "ives", "jones",
    "king", "lane", "moss", "noble", "owen", "price", "reed", "stone", "todd", "vance",
)  # fmt: skip


@dataclass(frozen=True)
class Place:
    country: str
    region: str
    city: str
    timezone: str
    currency: str


# (weight, place): a European shop with some overseas customers. Non-ASCII names on purpose:
# the pipeline must carry UTF-8 through unchanged.
PLACES: tuple[tuple[int, Place], ...] = (
    (12, Place("GB", "England", "London", "Europe/London", "GBP")),
    (5, Place("GB", "England", "Leeds", "Europe/London", "GBP")),
    (4, Place("GB", "England", "Manchester", "Europe/London", "GBP")),
    (3, Place("GB", "Scotland", "Edinburgh", "Europe/London", "GBP")),
    (6, Place("DE", "Bavaria", "München", "Europe/Berlin", "EUR")),
    (6, Place("DE", "Berlin", "Berlin", "Europe/Berlin", "EUR")),
    (3, Place("DE", "Hamburg", "Hamburg", "Europe/Berlin", "EUR")),
    (7, Place("FR", "Île-de-France", "Paris", "Europe/Paris", "EUR")),
    (3, Place("FR", "Auvergne-Rhône-Alpes", "Lyon", "Europe/Paris", "EUR")),
    (4, Place("NL", "North Holland", "Amsterdam", "Europe/Amsterdam", "EUR")),
    (4, Place("ES", "Catalonia", "Barcelona", "Europe/Madrid", "EUR")),
    (3, Place("IE", "Leinster", "Dublin", "Europe/Dublin", "EUR")),
    (3, Place("CH", "Zürich", "Zürich", "Europe/Zurich", "CHF")),
    (3, Place("PL", "Lesser Poland", "Kraków", "Europe/Warsaw", "PLN")),
    (2, Place("SE", "Stockholm", "Stockholm", "Europe/Stockholm", "SEK")),
    (6, Place("US", "New York", "New York", "America/New_York", "USD")),
    (4, Place("US", "California", "San Francisco", "America/Los_Angeles", "USD")),
    (2, Place("US", "Illinois", "Chicago", "America/Chicago", "USD")),
)

# Price multipliers from the catalog's EUR list prices.
FX_FROM_EUR: dict[str, float] = {
    "EUR": 1.0, "GBP": 0.86, "USD": 1.08, "CHF": 0.95, "PLN": 4.3, "SEK": 11.5,
}  # fmt: skip


@dataclass(frozen=True)
class DeviceModel:
    type: str
    os: str
    browser: str
    user_agent: str
    screens: tuple[tuple[int, int], ...]


DEVICES: tuple[tuple[int, DeviceModel], ...] = (
    (22, DeviceModel(
        "desktop", "Windows", "Chrome",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        ((1920, 1080), (1366, 768), (2560, 1440)),
    )),
    (6, DeviceModel(
        "desktop", "Windows", "Edge",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        ((1920, 1080), (1536, 864)),
    )),
    (10, DeviceModel(
        "desktop", "macOS", "Safari",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        ((1440, 900), (1512, 982), (1728, 1117)),
    )),
    (3, DeviceModel(
        "desktop", "Linux", "Firefox",
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        ((1920, 1080),),
    )),
    (26, DeviceModel(
        "mobile", "iOS", "Safari",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        ((390, 844), (393, 852), (430, 932)),
    )),
    (20, DeviceModel(
        "mobile", "Android", "Chrome",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        ((412, 915), (384, 854)),
    )),
    (5, DeviceModel(
        "mobile", "Android", "Samsung Internet",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        ((360, 780),),
    )),
    (6, DeviceModel(
        "tablet", "iPadOS", "Safari",
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        ((820, 1180), (1024, 1366)),
    )),
    (2, DeviceModel(
        "tablet", "Android", "Chrome",
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        ((800, 1280),),
    )),
)  # fmt: skip

# category -> (EUR price range in cents, product nouns, search phrases)
CATEGORIES: dict[str, tuple[tuple[int, int], tuple[str, ...], tuple[str, ...]]] = {
    "shoes": ((3900, 18900), ("trail shoe", "runner", "loafer", "boot", "sneaker"),
              ("running shoes", "waterproof boots", "trail shoe")),
    "apparel": ((1500, 14900), ("rain jacket", "hoodie", "t-shirt", "chinos", "fleece"),
                ("rain jacket", "merino t-shirt", "hoodie")),
    "outdoor": ((1900, 39900), ("tent", "backpack", "sleeping bag", "head torch", "flask"),
                ("2 person tent", "daypack", "head torch")),
    "electronics": ((2900, 89900), ("headphones", "speaker", "e-reader", "smartwatch", "charger"),
                    ("noise cancelling headphones", "usb-c charger", "smartwatch")),
    "home": ((900, 29900), ("café table", "lamp", "mug set", "throw", "kettle"),
             ("café table", "desk lamp", "kettle")),
    "books": ((800, 4900), ("cookbook", "novel", "field guide", "atlas", "sketchbook"),
              ("cookbook", "bird field guide", "crime novel")),
}  # fmt: skip
ADJECTIVES: tuple[str, ...] = (
    "Alpine", "Coastal", "Everyday", "Nordic", "Urban", "Classic", "Trailhead", "Harbour",
    "Solstice",
)  # fmt: skip


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    title: str
    price_cents_eur: int

    def price_cents(self, currency: str) -> int:
        """Local list price, ending in .99 like a real shop's (integer cents: no float drift)."""
        whole = max(1, round(self.price_cents_eur * FX_FROM_EUR[currency] / 100))
        return whole * 100 - 1


def build_catalog(rng: random.Random, size: int = 240) -> tuple[Product, ...]:
    """A deterministic catalog: products spread over the categories, prices log-uniform-ish."""
    names = list(CATEGORIES)
    products = []
    for i in range(size):
        category = names[i % len(names)]
        (low, high), nouns, _ = CATEGORIES[category]
        # Skew prices towards the cheap end, as in any shop.
        price = int(low + (high - low) * rng.random() ** 2.2)
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)}"
        products.append(Product(f"p-{i + 1:04d}", category, title, price))
    return tuple(products)


def cumulative(weights: list[int] | tuple[int, ...]) -> list[int]:
    """Cumulative weights for ``random.choices(cum_weights=…)`` (computed once, used often)."""
    total, out = 0, []
    for w in weights:
        total += w
        out.append(total)
    return out
