"""Serialization of the row records for the cache: compact JSON, Decimals as strings (exact).

Both builds store the same bytes for the same row, so a cache written by one can be read by
the other, and a round trip gives back an equal record.
"""

from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal

from .records import FillRow, OrderRow, PositionRow, Row, SettlementRow

_TAGS: dict[type, str] = {OrderRow: "order", FillRow: "fill", PositionRow: "position", SettlementRow: "settlement"}
_TYPES = {tag: cls for cls, tag in _TAGS.items()}
# Per type: (field name, is Decimal) in field order.
_LAYOUT = {
    cls: tuple((f.name, "Decimal" in str(f.type)) for f in fields(cls)) for cls in _TAGS
}
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads


class DecodeError(ValueError):
    """The cached bytes are not a record this codec wrote."""


def encode(record: Row) -> bytes:
    cls = record.__class__
    tag = _TAGS.get(cls)
    if tag is None:
        raise TypeError(f"cannot serialize a {cls.__name__}: expected one of {[c.__name__ for c in _TAGS]}")
    out: list[object] = [tag]
    for name, is_decimal in _LAYOUT[cls]:
        value = getattr(record, name)
        out.append(str(value) if is_decimal and value is not None else value)
    return _dumps(out).encode()


def decode(data: bytes) -> Row:
    try:
        items = _loads(data)
        cls = _TYPES[items[0]]
        layout = _LAYOUT[cls]
        if len(items) != len(layout) + 1:
            raise DecodeError(f"a {items[0]} record has {len(layout)} fields, got {len(items) - 1}")
        args = [
            Decimal(v) if is_decimal and v is not None else v
            for (name, is_decimal), v in zip(layout, items[1:])
        ]
    except DecodeError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, ArithmeticError) as exc:
        raise DecodeError(f"not a serialized record: {data[:60]!r} ({exc})") from None
    return cls(*args)
