"""Pseudonymisation of personal data: keyed SHA-256 (HMAC) hex tokens.

The same value and key always give the same token (joins and distinct counts still work across
runs); without the key a token cannot be reversed or recomputed from a guessed value. HMAC is
written with Spark's own ``sha2`` (RFC 2104: ``H((K ^ opad) || H((K ^ ipad) || m))``), so no
Python runs per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

_BLOCK = 64  # SHA-256 block size in bytes

# struct -> leaves holding direct identifiers (contract.pii_paths) or online identifiers that
# single out a person (user_id, the cookie's anonymous_id). Coarse fields (country, region,
# city, device type, os, browser) stay as they are: analysts need them.
PSEUDONYMISED: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "anonymous_id", "email"),
    "device": ("user_agent",),
    "geo": ("ip",),
}


def _pads(key: str) -> tuple[str, str]:
    raw = key.encode("utf-8")
    if len(raw) > _BLOCK:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in raw).hex(), bytes(b ^ 0x5C for b in raw).hex()


def hmac_sha256_hex(value: Column, key: str) -> Column:
    """HMAC-SHA-256 of the value's UTF-8 bytes as 64 lowercase hex digits; null stays null."""
    inner_pad, outer_pad = _pads(key)
    inner = F.sha2(F.concat(F.unhex(F.lit(inner_pad)), value.cast("binary")), 256)
    return F.sha2(F.concat(F.unhex(F.lit(outer_pad)), F.unhex(inner)), 256)


def rescued_tokens(column: str, key: str, keep: Sequence[str] = ("_file_path",)) -> Column:
    """A rescued-data JSON object with every value (but ``keep``'s) replaced by its token.

    Rescued fields are the ones the contract does not know, so nothing says they hold no
    personal data: a misspelled ``emial`` arrives there with the raw address. The field names
    stay (they say what drifted), nested objects become one token each, and text that is not a
    JSON object becomes ``{"_rescued": token}``; null stays null.
    """
    raw = F.col(column)
    parsed = F.from_json(raw, "map<string,string>")
    kept = F.array(*[F.lit(k) for k in keep])
    tokens = F.transform_values(
        parsed, lambda k, v: F.when(F.array_contains(kept, k), v).otherwise(hmac_sha256_hex(v, key))
    )
    whole = F.to_json(F.create_map(F.lit("_rescued"), hmac_sha256_hex(raw, key)))
    return F.when(raw.isNotNull(), F.coalesce(F.to_json(tokens), whole)).alias(column)


def pseudonymised(column: str, key: str) -> Column:
    """Column ``column`` with its identifiers (``PSEUDONYMISED``) replaced by tokens."""
    leaves = PSEUDONYMISED.get(column)
    if not leaves:
        return F.col(column)
    struct = F.col(column)
    for leaf in leaves:
        struct = struct.withField(leaf, hmac_sha256_hex(F.col(f"{column}.{leaf}"), key))
    # withField on a null struct would build one; a missing struct stays missing.
    return F.when(F.col(column).isNotNull(), struct).alias(column)


def pseudonymise(events: DataFrame, key: str, columns: Sequence[str]) -> DataFrame:
    """``columns`` of the events, identifiers replaced by their tokens.

    A plain ``select`` on purpose: Spark Connect analyses ``withColumn`` eagerly, and inside a
    pipeline flow that broke the stream-static de-duplication join on later updates ("LeftAnti
    joins with a streaming DataFrame/Dataset on the right are not supported").
    """
    return events.select(*[pseudonymised(c, key) for c in columns])
