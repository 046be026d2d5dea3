"""Opaque keyset cursors: the sort key of a page boundary row, never an offset.

A cursor is base64url(JSON {"k": [sort values...], "r": rid, "b": backwards}); page N costs
what page 1 costs because the query seeks to the key through the index.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from hygie.search.parse import bad


@dataclass(slots=True)
class Cursor:
    keys: list[Any]
    rid: int
    backwards: bool = False

    def encode(self) -> str:
        data = orjson.dumps({"k": self.keys, "r": self.rid, "b": int(self.backwards)})
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(token: str, nkeys: int) -> Cursor:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        keys, rid, back = data["k"], data["r"], data["b"]
        if not isinstance(keys, list) or len(keys) != nkeys or not isinstance(rid, int):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise bad("_cursor", "invalid or outdated paging cursor") from None
    return Cursor(keys, rid, bool(back))
