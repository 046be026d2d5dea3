"""`hygie demo`: a deterministic synthetic French population whose NIRs, references and
resources are all valid, loaded once with --if-empty."""

from __future__ import annotations

import io
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hygie.cli import app
from hygie.demo import holds_resources, run_demo
from hygie.demo.nir import is_valid_nir, luhn_digit, make_nir, nir_key
from hygie.demo.places import COMMUNES, COUNTRIES
from hygie.demo.population import INS_TEST_OID, INSEE_CODE, population
from hygie.fhir.validation import validate
from hygie.services.identity import nir as identity_nir
from hygie.store import Context, open_repository

CTX = Context.system()
PLACES = {c.insee for c in COMMUNES} | {code for code, _ in COUNTRIES}


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return list(population(200, 2026))


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def test_nir_key_arithmetic() -> None:
    assert nir_key("1550814168025") == 97 - 1550814168025 % 97
    assert nir_key("185052A004012") == 97 - 1850519004012 % 97  # 2A counts as 19
    assert nir_key("185052B033012") == 97 - 1850518033012 % 97  # 2B counts as 18
    nir = make_nir(2, 1990, 12, "2A004", 12)
    assert nir.startswith("290122A004012") and is_valid_nir(nir)
    assert make_nir(1, 1960, 3, "2B033", 5).startswith("1600320033005")  # Corsica was 20
    assert not is_valid_nir(nir[:-2] + f"{(int(nir[-2:]) + 1) % 100:02d}")
    assert luhn_digit("7992739871") == 3


def test_deterministic() -> None:
    first = list(itertools.islice(population(200, 2026), 500))
    assert first == list(itertools.islice(population(200, 2026), 500))
    assert first != list(itertools.islice(population(200, 7), 500))


def test_streams_without_building_the_population() -> None:
    stream = population(10**9, 1)
    assert next(stream)["resourceType"] == "Organization"  # returns at once for any size


def test_every_resource_valid(resources: list[dict[str, Any]]) -> None:
    for res in resources:
        errors = [i for i in validate(res) if i.severity in ("error", "fatal")]
        assert not errors, (res["resourceType"], res["id"], errors)


def test_every_reference_resolves_and_ids_unique(resources: list[dict[str, Any]]) -> None:
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    assert len(keys) == len(set(keys))
    seen: set[str] = set()
    for res, key in zip(resources, keys, strict=True):
        for ref in references(res):
            assert ref in seen, f"{key} points to {ref}, not streamed before it"
        seen.add(key)


def test_content_and_shape(resources: list[dict[str, Any]]) -> None:
    counts = Counter(r["resourceType"] for r in resources)
    assert counts["Patient"] == 200
    assert counts["Practitioner"] >= 6 and counts["Organization"] >= 3
    assert counts["Encounter"] >= 200 and counts["Observation"] > counts["Encounter"]
    assert counts["Condition"] > 50
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    given = [g for p in patients for n in p["name"] for g in n["given"]]
    family = [n["family"] for p in patients for n in p["name"]]
    assert any(not g.isascii() for g in given) and any("-" in g for g in given)
    assert any(not f.isascii() for f in family) and any(" " in f or "-" in f for f in family)
    assert any(len(p["name"]) == 2 for p in patients)  # a used name beside the birth name
    for p in patients:
        codes = [
            e["valueCoding"]["code"] for e in p["address"][0]["extension"] if e["url"] == INSEE_CODE
        ]
        assert codes and codes[0] in PLACES
    for obs in (r for r in resources if r["resourceType"] == "Observation"):
        quantities = [obs.get("valueQuantity")] + [
            c["valueQuantity"] for c in obs.get("component", [])
        ]
        for q in filter(None, quantities):
            assert q["system"] == "http://unitsofmeasure.org" and q["code"]
        assert obs["code"]["coding"][0]["system"] == "http://loinc.org"


def test_ins_nir_valid_and_consistent(resources: list[dict[str, Any]]) -> None:
    checked = 0
    for p in (r for r in resources if r["resourceType"] == "Patient"):
        ins = [i for i in p["identifier"] if i.get("system") == INS_TEST_OID]
        status = p["extension"][0]["extension"][0]["valueCoding"]["code"]
        assert bool(ins) == (status == "QUAL")  # INS only on a qualified identity
        if not ins:
            continue
        nir = ins[0]["value"]
        assert is_valid_nir(nir) and identity_nir.is_valid(nir), nir
        assert ins[0]["type"]["coding"][0]["code"] == "INS-NIR-TEST"
        assert nir[0] == ("2" if p["gender"] == "female" else "1")
        assert nir[1:5] == p["birthDate"][2:4] + p["birthDate"][5:7]
        place = p["extension"][1]["valueAddress"]["extension"][0]["valueCoding"]["code"]
        expected = (
            place
            if not (place[:2] in ("2A", "2B") and p["birthDate"] < "1976")
            else "20" + place[2:]
        )
        assert nir[5:10] == expected
        checked += 1
    assert checked > 150
    nirs = [
        i["value"]
        for r in resources
        if r["resourceType"] == "Patient"
        for i in r["identifier"]
        if i.get("system") == INS_TEST_OID
    ]
    assert len(nirs) == len(set(nirs))


def test_load_if_empty_is_idempotent(db_url: str) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert run_demo(db_url, if_empty=True, patients=20, console=console) == 0
    assert "Loaded" in out.getvalue()
    assert run_demo(db_url, if_empty=True, patients=20, console=console) == 0
    assert "already holds resources" in out.getvalue()
    assert run_demo(db_url, patients=20, console=console) == 0  # same ids, same content
    repo = open_repository(db_url)
    try:
        assert holds_resources(repo, CTX)
        assert repo.read(CTX, "Patient", "pat-000019").version == 1
        found = repo.search(CTX, "Patient", [("_summary", "count")], base="http://t/fhir")
        assert found["total"] == 20
    finally:
        repo.close()


def test_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--db", url, "--if-empty", "--patients", "5"])
    assert first.exit_code == 0, first.output
    assert "Loaded" in first.output and "5 Patient" in first.output
    second = runner.invoke(app, ["demo", "--db", url, "--if-empty", "--patients", "5"])
    assert second.exit_code == 0 and "already holds resources" in second.output
