"""Load the data a run needs through the target server's own API, and learn the ids it gave.

Transaction Bundles of new patients' records (Patient, Encounter, Observations,
DocumentReference: bench/load/synth.py) are POSTed to the base URL. Per FHIR R4 §3.1.0.11
the response Bundle has one entry per request entry, in the same order, each with
`response.location` (`Type/id/_history/v`, relative or absolute); the ids come from there, or
from `entry.resource.id` when a server sends the resource and no location. A server that
refuses transactions gets the same resources one POST at a time, references rewritten to the
ids it assigned. Nothing is assumed about the ids' form.
"""

from __future__ import annotations

import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.load import synth
from bench.load.client import FhirClient

LOCATION = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?/?$")


@dataclass
class Record:
    """One seeded patient: the ids the server gave, and what the searches look for."""

    patient_id: str
    patient: dict[str, Any]  # the body sent (no id)
    encounter_id: str | None = None
    observation_ids: list[str] = field(default_factory=list)
    document_ids: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # LOINC codes of its Observations


def id_from(resp_entry: dict[str, Any], rtype: str) -> str | None:
    loc = (resp_entry.get("response") or {}).get("location") or ""
    m = LOCATION.search(loc.split("?", 1)[0])
    if m and m.group(1) == rtype:
        return m.group(2)
    res = resp_entry.get("resource") or {}
    return res.get("id") if res.get("resourceType") == rtype else None


def _group(n0: int, count: int, obs: int, seed: int, docs: bool) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed * 1_000_003 + n0)
    return [synth.record_entries(seed * 1_000_000 + n0 + k, obs, rng, docs) for k in range(count)]


def _records(groups: list[list[dict]], ids: list[str | None]) -> list[Record]:
    out, i = [], 0
    for g in groups:
        recs = []
        for e in g:
            rid = ids[i]
            i += 1
            rtype = e["resource"]["resourceType"]
            if rid is None:
                raise RuntimeError(f"the server's response gave no id for entry {i} ({rtype})")
            if rtype == "Patient":
                recs.append(Record(rid, e["resource"]))
            elif rtype == "Encounter":
                recs[-1].encounter_id = rid
            elif rtype == "Observation":
                recs[-1].observation_ids.append(rid)
                recs[-1].codes.append(e["resource"]["code"]["coding"][0]["code"])
            elif rtype == "DocumentReference":
                recs[-1].document_ids.append(rid)
        out += recs
    return out


def _post_transaction(client: FhirClient, groups: list[list[dict]]) -> list[Record]:
    entries = [e for g in groups for e in g]
    r = client.request("POST", "", synth.bundle("transaction", entries), prefer="return=minimal")
    if r.status_code != 200:
        raise TransactionRefused(r.status_code, r.text[:2000])
    got = r.json().get("entry") or []
    if len(got) != len(entries):
        raise RuntimeError(f"transaction response has {len(got)} entries for {len(entries)}")
    ids = [id_from(g, e["resource"]["resourceType"]) for g, e in zip(got, entries, strict=True)]
    return _records(groups, ids)


def _post_each(client: FhirClient, groups: list[list[dict]]) -> list[Record]:
    ids: list[str | None] = []
    for g in groups:
        mapping: dict[str, str] = {}
        for e in g:
            res = _rewrite(e["resource"], mapping)
            r = client.request("POST", res["resourceType"], res, prefer="return=representation")
            if r.status_code not in (200, 201):
                raise TransactionRefused(r.status_code, r.text[:2000], res["resourceType"])
            body = r.json() if r.content else {}
            rid = id_from(
                {"response": {"location": r.headers.get("location", "")}, "resource": body},
                res["resourceType"],
            )
            ids.append(rid)
            if e.get("fullUrl") and rid:
                mapping[e["fullUrl"]] = f"{res['resourceType']}/{rid}"
    return _records(groups, ids)


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                mapping.get(v, v)
                if k == "reference" and isinstance(v, str)
                else _rewrite(v, mapping)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(x, mapping) for x in node]
    return node


class TransactionRefused(RuntimeError):
    def __init__(self, status: int, body: str, what: str = "transaction") -> None:
        hint = (
            " (a token is needed: --token, HYGIE_BENCH_TOKEN, or --client-id/--client-secret)"
            if status == 401
            else " (the token lacks a scope?)"
            if status == 403
            else ""
        )
        super().__init__(f"{what} answered {status}{hint}: {body[:500]}")
        self.status = status
        self.body = body


UNSUPPORTED = (404, 405, 415, 501)  # no transactions here: one POST at a time


def seed(
    client: FhirClient,
    patients: int,
    *,
    obs_per_patient: int = 4,
    per_bundle: int = 10,
    workers: int = 4,
    seed_no: int = 1,
    documents: bool = True,
    log=print,
) -> tuple[list[Record], dict[str, Any]]:
    """Create `patients` records; returns them and figures on how the load went."""
    starts = list(range(0, patients, per_bundle))
    chunks = [(n0, min(per_bundle, patients - n0)) for n0 in starts]
    method, docs = "transaction", documents
    t0 = time.perf_counter()
    notes = []
    records: list[Record] | None = None
    for _ in range(3):
        post = _post_transaction if method == "transaction" else _post_each
        try:
            records = post(client, _group(*chunks[0], obs_per_patient, seed_no, docs))
            break
        except TransactionRefused as e:
            if method == "transaction" and e.status in UNSUPPORTED:
                notes.append(f"transactions refused ({e.status}): one POST at a time")
                method = "single POSTs"
            elif docs and "DocumentReference" in e.body:
                notes.append(f"plain DocumentReferences refused ({e.status}): seeded without")
                docs = False
            else:
                raise
            log(notes[-1])
    if records is None:
        raise RuntimeError("seeding failed: " + "; ".join(notes))
    post = _post_transaction if method == "transaction" else _post_each

    def one(chunk: tuple[int, int]) -> list[Record]:
        return post(client, _group(*chunk, obs_per_patient, seed_no, docs))

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for i, recs in enumerate(pool.map(one, chunks[1:]), start=1):
            records += recs
            if i % 50 == 0:
                log(f"seeded {len(records)} of {patients} patients")
    secs = time.perf_counter() - t0
    resources = patients * (2 + docs + obs_per_patient)
    return records, {
        "patients": len(records),
        "resources": resources,
        "method": method,
        "documents": docs,
        "notes": notes,
        "per_bundle_patients": per_bundle,
        "seconds": round(secs, 2),
        "resources_per_s": resources / secs,
    }
