"""The patient's access log: who accessed the data of a patient, when, how, and why (BTG
flagged), newest first, as a searchset Bundle of BALP AuditEvents. Served by the operation
`GET [base]/Patient/[id]/$access-log` (rest/audit_ops.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hygie.audit.events import render
from hygie.store.base import Backend


def access_log(
    backend: Backend, patient: str, *, base: str, count: int = 50, before: int | None = None
) -> dict[str, Any]:
    """`patient` is `Patient/<id>`; `before`: the paging cursor (a record number)."""
    args: list[Any] = [patient]
    sql = (
        "SELECT e.seq, e.recorded, e.action, e.outcome, e.actor, e.purpose, e.patients,"
        " e.content FROM audit_patient p JOIN audit_event e ON e.seq = p.seq"
        " WHERE p.patient = ?"
    )
    if before is not None:
        sql += " AND p.seq < ?"
        args.append(before)
    sql += " ORDER BY p.seq DESC LIMIT ?"
    args.append(count + 1)
    with backend.read() as cur:
        rows = cur.fetchall(sql, args)
    more = len(rows) > count
    rows = rows[:count]
    url = f"{base}/{patient}/$access-log"
    links = [{"relation": "self", "url": _url(url, count, before)}]
    if more and rows:
        links.append({"relation": "next", "url": _url(url, count, int(rows[-1][0]))})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": render(row), "search": {"mode": "match"}} for row in rows],
    }


def _url(url: str, count: int, before: int | None) -> str:
    params: dict[str, Any] = {"_count": count}
    if before is not None:
        params["before"] = before
    return f"{url}?{urlencode(params)}"
