"""The request plans of the scenarios, written as plan files for bench/load/lua/load.lua.

A plan is {kind: (weight, [Request, ...])}; wrk picks a kind by weight, then one of its
requests at random. Every path starts with the base URL's path (e.g. /fhir), every id is one
the server gave while seeding (bench/load/seed.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from bench.load import synth
from bench.load.seed import Record

SCENARIOS = ("read", "create", "update", "search", "transaction", "import", "mixed")
# the kinds of requests in `mixed`: 70 % reads and searches, 20 % creates and updates,
# 10 % transactions
MIXED_WEIGHTS = {"read": 30, "search": 40, "create": 12, "update": 8, "transaction": 10}
MAX_LINES = 2000  # requests per kind: enough variety, a plan file loads quickly in every thread


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the base path and the query string, URL-encoded
    prefer: str = ""
    body: bytes = b""


Plan = dict[str, tuple[float, list[Request]]]


def q(**params: str | list[str]) -> str:
    """A query string, values percent-encoded (`|` included; `:` and `/` kept as they are)."""
    parts = []
    for k, v in params.items():
        for x in v if isinstance(v, list) else [v]:
            parts.append(f"{k}={quote(x, safe=':/,')}")
    return "?" + "&".join(parts)


def search_requests(base: str, records: list[Record], seed: int = 7) -> dict[str, list[Request]]:
    """The common queries of a patient record, by shape, on the seeded records."""
    rng = random.Random(seed)
    recs = records if len(records) <= MAX_LINES // 2 else rng.sample(records, MAX_LINES // 2)
    shapes: dict[str, list[Request]] = {}

    def add(shape: str, path: str) -> None:
        shapes.setdefault(shape, []).append(Request("GET", base + path))

    for r in recs:
        p = r.patient
        ipp = next(i for i in p["identifier"] if i["system"] == synth.IDENTIFIER_SYSTEMS[0])
        name = p["name"][0]
        pid = f"Patient/{r.patient_id}"
        add("Patient?identifier", "/Patient" + q(identifier=f"{ipp['system']}|{ipp['value']}"))
        add("Patient?family&given", "/Patient" + q(family=name["family"], given=name["given"][0]))
        add("Patient?birthdate", "/Patient" + q(birthdate=p["birthDate"]))
        if r.codes:
            code = rng.choice(r.codes)
            add(
                "Observation?patient&code",
                "/Observation" + q(patient=pid, code=f"http://loinc.org|{code}"),
            )
        y = rng.randint(2010, 2022)
        add(
            "Observation?patient&date",
            "/Observation" + q(patient=pid, date=[f"ge{y}-01-01", f"lt{y + 4}-01-01"]),
        )
        add(
            "Observation?patient&_sort=-date",
            "/Observation" + q(patient=pid, _sort="-date", _count="10"),
        )
        add("Encounter?patient", "/Encounter" + q(patient=pid))
        if r.document_ids:
            add("DocumentReference?patient", "/DocumentReference" + q(patient=pid))
        add(
            "Observation?patient&_include",
            "/Observation" + q(patient=pid, _include="Observation:encounter"),
        )
        add(
            "Patient?_id&_revinclude",
            "/Patient" + q(_id=r.patient_id, _revinclude="Observation:subject"),
        )
    return shapes


def _json(res: dict[str, Any]) -> bytes:
    return orjson.dumps(res)


def reads(base: str, records: list[Record], observations: bool = False) -> list[Request]:
    out = [Request("GET", f"{base}/Patient/{r.patient_id}") for r in records[:MAX_LINES]]
    if observations:
        out += [
            Request("GET", f"{base}/Observation/{r.observation_ids[0]}")
            for r in records[:MAX_LINES]
            if r.observation_ids
        ]
    return out


def patient_creates(base: str, n: int = 1000, start: int = 900_000_000) -> list[Request]:
    return [
        Request("POST", f"{base}/Patient", body=_json(synth.patient(start + i))) for i in range(n)
    ]


def observation_creates(base: str, records: list[Record], n: int = 1000) -> list[Request]:
    rng = random.Random(11)
    out = []
    for i in range(n):
        r = rng.choice(records)
        res = synth.observation(800_000_000 + i, f"Patient/{r.patient_id}")
        out.append(Request("POST", f"{base}/Observation", body=_json(res)))
    return out


def updates(base: str, records: list[Record]) -> list[Request]:
    """PUT of each seeded Patient with a body that changes on every request (__N__)."""
    out = []
    for r in records[:MAX_LINES]:
        res = {"resourceType": "Patient", "id": r.patient_id}
        res.update({k: v for k, v in r.patient.items() if k != "resourceType"})
        res["telecom"] = [
            t if t["system"] != "email" else {**t, "value": "patient.__N__@exemple.fr"}
            for t in res["telecom"]
        ]
        out.append(Request("PUT", f"{base}/Patient/{r.patient_id}", body=_json(res)))
    return out


def transactions(base: str, entries: int, n: int = 20, docs: bool = True) -> list[Request]:
    return [
        Request("POST", base or "/", body=_json(synth.transaction_of(entries, 500 + s, docs)))
        for s in range(n)
    ]


def visits(base: str, records: list[Record], n: int = 300, docs: bool = True) -> list[Request]:
    """Small transactions: one consultation (Encounter, 4 Observations, a report) of an
    existing patient."""
    rng = random.Random(13)
    out = []
    for i in range(n):
        r = rng.choice(records)
        b = synth.bundle(
            "transaction",
            synth.visit_entries(700_000_000 + i, f"Patient/{r.patient_id}", 4, rng, docs),
        )
        out.append(Request("POST", base or "/", body=_json(b)))
    return out


def imports(base: str, records: list[Record], batch: int, n: int = 10) -> list[Request]:
    ids = [r.patient_id for r in records]
    return [
        Request(
            "POST", base or "/", "return=minimal", _json(synth.import_batch(batch, 600 + s, ids))
        )
        for s in range(n)
    ]


def build(
    scenario: str,
    base: str,
    records: list[Record],
    *,
    tx_entries: int = 100,
    import_batch: int = 200,
    docs: bool = True,
) -> Plan:
    if scenario == "read":
        return {"read": (1, reads(base, records))}
    if scenario == "create":
        return {"create": (1, patient_creates(base))}
    if scenario == "update":
        return {"update": (1, updates(base, records))}
    if scenario == "search":
        return {k: (1, v) for k, v in search_requests(base, records).items()}
    if scenario == "transaction":
        return {"transaction": (1, transactions(base, tx_entries, docs=docs))}
    if scenario == "import":
        return {"import": (1, imports(base, records, import_batch))}
    if scenario == "mixed":
        searches = [x for v in search_requests(base, records).values() for x in v]
        creates = observation_creates(base, records, 750) + patient_creates(base, 250, 950_000_000)
        return {
            "read": (MIXED_WEIGHTS["read"], reads(base, records, observations=True)),
            "search": (MIXED_WEIGHTS["search"], searches),
            "create": (MIXED_WEIGHTS["create"], creates),
            "update": (MIXED_WEIGHTS["update"], updates(base, records)),
            "transaction": (MIXED_WEIGHTS["transaction"], visits(base, records, docs=docs)),
        }
    raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")


def write(plan: Plan, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for kind, (weight, _reqs) in plan.items():
            f.write(f"W\t{kind}\t{weight}\n".encode())
        for kind, (_, reqs) in plan.items():
            for r in reqs:
                assert "\t" not in r.path and b"\t" not in r.body and b"\n" not in r.body
                f.write(f"R\t{kind}\t{r.method}\t{r.path}\t{r.prefer}\t".encode() + r.body + b"\n")
    return path
