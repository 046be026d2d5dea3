"""Walk every page of a repository search (keyset cursors: each page costs what the first does)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hygie.store import Context, Repository


def each(
    repo: Repository,
    ctx: Context,
    rtype: str | None,
    params: list[tuple[str, str]],
    *,
    base: str,
    compartment: tuple[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page = params if cursor is None else [*params, ("_cursor", cursor)]
        bundle = repo.search(ctx, rtype, page, base=base, compartment=compartment)
        for entry in bundle.get("entry") or []:
            if (entry.get("search") or {}).get("mode", "match") == "match":
                yield entry["resource"]
        nxt = next(
            (link["url"] for link in bundle.get("link") or [] if link.get("relation") == "next"),
            None,
        )
        if nxt is None:
            return
        cursor = dict(parse_qsl(urlsplit(nxt).query)).get("_cursor")
        if cursor is None:
            return
