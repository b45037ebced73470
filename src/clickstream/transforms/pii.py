"""Pseudonymisation of personal data: keyed SHA-256 (HMAC) hex tokens.

The same value and key always give the same token (joins and distinct counts still work across
runs); without the key a token cannot be reversed or recomputed from a guessed value. HMAC is
written with Spark's own ``sha2`` (RFC 2104: ``H((K ^ opad) || H((K ^ ipad) || m))``), so no
Python runs per row.

The key reaches Spark in one of two ways. As a string (``key: str``), its padded forms are
literals of the query, and Spark writes query plans, literals included, to its event log: fine
for a notebook's example, not for the pipeline. As data (``KeyPads.joined()``), the pads are
columns of a one-row frame (``pads_frame``) computed from the key's text at run time and
cross-joined onto the rows, so no plan ever holds the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clickstream import config

_BLOCK = 64  # SHA-256 block size in bytes

# struct -> leaves holding direct identifiers (contract.pii_paths) or online identifiers that
# single out a person (user_id, the cookie's anonymous_id). Coarse fields (country, region,
# city, device type, os, browser) stay as they are: analysts need them.
PSEUDONYMISED: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "anonymous_id", "email"),
    "device": ("user_agent",),
    "geo": ("ip",),
}


INNER_PAD = "_pii_inner_pad"
OUTER_PAD = "_pii_outer_pad"


def _pads(key: str) -> tuple[str, str]:
    raw = key.encode("utf-8")
    if len(raw) > _BLOCK:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in raw).hex(), bytes(b ^ 0x5C for b in raw).hex()


@dataclass(frozen=True)
class KeyPads:
    """The HMAC key as its two padded forms (``K ^ ipad``, ``K ^ opad``), as binary columns."""

    inner: Column
    outer: Column

    @classmethod
    def literal(cls, key: str) -> KeyPads:
        """The pads as literals of the query (and so of its plan)."""
        inner, outer = _pads(key)
        return cls(F.unhex(F.lit(inner)), F.unhex(F.lit(outer)))

    @classmethod
    def joined(cls) -> KeyPads:
        """The pads as the columns ``pads_frame`` adds to rows it was cross-joined onto."""
        return cls(F.col(INNER_PAD), F.col(OUTER_PAD))


def _xor_pad(padded_hex: Column, byte: int) -> Column:
    """The 64 key bytes (as 128 hex digits) XOR ``byte``, as binary: byte by byte in SQL."""

    def xor_digit_pair(i: Column) -> Column:
        pair = padded_hex.substr(i * 2 + 1, F.lit(2))
        return F.lpad(F.hex(F.conv(pair, 16, 10).cast("int").bitwiseXOR(F.lit(byte))), 2, "0")

    digits = F.transform(F.sequence(F.lit(0), F.lit(_BLOCK - 1)), xor_digit_pair)
    return F.unhex(F.array_join(digits, ""))


def pads_frame(key_text: DataFrame, column: str = "value") -> DataFrame:
    """One row per key text (a key file read as one whole text: one row) -> its two pads.

    RFC 2104 in SQL: a key longer than the block is hashed first, a shorter one padded with
    zero bytes; then each byte XOR 0x36 (inner) and 0x5C (outer). One trailing newline (a key
    file's) is not part of the key.
    """
    text = F.regexp_replace(F.col(column), r"\r?\n$", "")
    raw = F.encode(text, "UTF-8")
    block = F.when(F.octet_length(raw) > _BLOCK, F.unhex(F.sha2(raw, 256))).otherwise(raw)
    padded_hex = F.rpad(F.hex(block), 2 * _BLOCK, "0")
    return key_text.select(
        _xor_pad(padded_hex, 0x36).alias(INNER_PAD), _xor_pad(padded_hex, 0x5C).alias(OUTER_PAD)
    )


def key_file_pads(spark: Any, path: Path) -> DataFrame:
    """The pads of the key a file holds, read by Spark when the query runs (one row)."""
    reader = spark.read.option("wholetext", "true").option(config.SECRET_READ_OPTION, "true")
    return pads_frame(reader.text(path.absolute().as_uri()))


@dataclass(frozen=True)
class PiiKey:
    """The key as queries use it: its pads, and how rows get them (``keyed``)."""

    pads: KeyPads
    pads_frame: Callable[[], DataFrame] | None = None

    @classmethod
    def literal(cls, key: str) -> PiiKey:
        """The key as literals of the queries (and so of their plans)."""
        return cls(KeyPads.literal(key))

    @classmethod
    def from_file(cls, spark: Any, path: Path) -> PiiKey:
        """The key a file holds, read by Spark when the queries run: no plan holds it."""
        return cls(KeyPads.joined(), lambda: key_file_pads(spark, path))

    def keyed(self, rows: DataFrame) -> DataFrame:
        """``rows`` with the pads' columns when they come as data (a one-row cross join)."""
        return rows if self.pads_frame is None else rows.crossJoin(self.pads_frame())


def key_from_text(text: str) -> str:
    """The key a key file holds: its text without one trailing newline (as ``pads_frame``)."""
    return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text


def _key_pads(key: str | KeyPads) -> KeyPads:
    return key if isinstance(key, KeyPads) else KeyPads.literal(key)


def hmac_sha256_hex(value: Column, key: str | KeyPads) -> Column:
    """HMAC-SHA-256 of the value's UTF-8 bytes as 64 lowercase hex digits; null stays null."""
    pads = _key_pads(key)
    inner = F.sha2(F.concat(pads.inner, value.cast("binary")), 256)
    return F.sha2(F.concat(pads.outer, F.unhex(inner)), 256)


def rescued_tokens(
    column: str, key: str | KeyPads, keep: Sequence[str] = ("_file_path",)
) -> Column:
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


def pseudonymised(column: str, key: str | KeyPads) -> Column:
    """Column ``column`` with its identifiers (``PSEUDONYMISED``) replaced by tokens."""
    leaves = PSEUDONYMISED.get(column)
    if not leaves:
        return F.col(column)
    struct = F.col(column)
    for leaf in leaves:
        struct = struct.withField(leaf, hmac_sha256_hex(F.col(f"{column}.{leaf}"), key))
    # withField on a null struct would build one; a missing struct stays missing.
    return F.when(F.col(column).isNotNull(), struct).alias(column)


def pseudonymise(
    events: DataFrame, key: str | KeyPads, columns: Sequence[str]
) -> DataFrame:
    """``columns`` of the events, identifiers replaced by their tokens.

    A plain ``select`` on purpose: Spark Connect analyses ``withColumn`` eagerly, and inside a
    pipeline flow that broke the stream-static de-duplication join on later updates ("LeftAnti
    joins with a streaming DataFrame/Dataset on the right are not supported").
    """
    return events.select(*[pseudonymised(c, key) for c in columns])
