"""Printing query results: an aligned text table, or one JSON object per row."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Spark row values -> JSON values; nothing raises, nothing is dropped."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        # Strings are fetched as bytes so invalid UTF-8 survives; keep it visible, escaped.
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "asDict"):
        return {k: to_jsonable(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, dict):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return base64.b64encode(repr(value).encode()).decode()


def json_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[str]:
    """One JSON object per row; ASCII only, so control characters and any byte are escaped."""
    for row in rows:
        yield json.dumps(
            {c: to_jsonable(v) for c, v in zip(columns, row, strict=True)}, ensure_ascii=True
        )


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        text = value
    else:
        jsonable = to_jsonable(value)
        text = jsonable if isinstance(jsonable, str) else json.dumps(jsonable, ensure_ascii=False)
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    """A plain aligned table, stable across runs (for notebooks and the terminal)."""
    cells = [[_cell(v) for v in row] for row in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in cells]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def fmt(row: Sequence[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    lines = [fmt(columns), "-+-".join("-" * w for w in widths)]
    lines += [fmt(row) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)
