"""`hygie demo` and the population stream behind it: deterministic, valid, every reference
pointing to a resource streamed before it, NIRs consistent with the people, families with
legal representatives, loaded once with --if-empty."""

from __future__ import annotations

import io
import itertools
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hygie.cli import app
from hygie.demo import holds_resources, run_demo
from hygie.demo.directory import Directory
from hygie.demo.fhirtypes import EMAIL_TYPE, INSEE_CODE
from hygie.demo.nir import is_valid_nir, luhn_digit, make_nir, nir_key
from hygie.demo.population import group_resources, population
from hygie.fhir.validation import validate
from hygie.store import Context, open_repository
from tests.demo.checks import PLACES, check_patient_identity, luhn_ok, references

CTX = Context.system()


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return list(population(200, 2026))


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
    d = Directory.of(10**9, 1)
    assert d.practitioners <= 48_000 and d.organizations <= 4_000  # a bounded directory
    far = list(group_resources(1, d, 10**8, 10**9))  # any household, without the ones before
    assert far[0]["resourceType"] == "Patient" and far[0]["id"].startswith("pat-4000000")


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
    for rtype in (
        "Organization", "Endpoint", "Practitioner", "PractitionerRole", "RelatedPerson",
        "Encounter", "Observation", "Condition", "Immunization", "MedicationRequest",
        "MedicationDispense", "DocumentReference", "Binary", "ImagingStudy", "Appointment",
    ):  # fmt: skip
        assert counts[rtype] > 0, rtype
    assert counts["Observation"] > counts["Encounter"] > counts["Patient"]
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    given = [g for p in patients for n in p["name"] for g in n["given"]]
    family = [n["family"] for p in patients for n in p["name"]]
    assert any(not g.isascii() for g in given) and any("-" in g for g in given)
    assert any(not f.isascii() for f in family) and any(" " in f or "-" in f for f in family)
    assert any(
        len(p["name"]) == 2 and p["name"][0]["family"] != p["name"][1]["family"] for p in patients
    )
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
    tele = [a for a in resources if a["resourceType"] == "Appointment" and "serviceCategory" in a]
    assert tele and all(a["serviceCategory"][0]["coding"][0]["code"] == "VR" for a in tele)
    assert {a["status"] for a in resources if a["resourceType"] == "Appointment"} == {
        "booked",
        "fulfilled",
    }


def test_families_and_legal_representatives(resources: list[dict[str, Any]]) -> None:
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    children = [r for r in resources if r["resourceType"] == "Patient" and "contact" in r]
    assert len(children) > 20
    for child in children:
        assert child["birthDate"] > "2008-01-15"  # under 18 on 2026-01-15
        for contact in child["contact"]:
            codes = {c["code"] for rel in contact["relationship"] for c in rel["coding"]}
            assert "CUR" in codes and codes & {"MTH", "FTH"}
    parents = [r for r in resources if r["resourceType"] == "Patient" and "link" in r]
    assert parents
    for parent in parents:
        for link in parent["link"]:
            rp = by_key[link["other"]["reference"]]
            assert rp["resourceType"] == "RelatedPerson" and link["type"] == "seealso"
            assert rp["birthDate"] == parent["birthDate"] and rp["gender"] == parent["gender"]
            child = by_key[rp["patient"]["reference"]]
            assert child["birthDate"] > parent["birthDate"]
            assert child["address"][0]["line"] == parent["address"][0]["line"]


def test_directory_identifiers(resources: list[dict[str, Any]]) -> None:
    for r in resources:
        if r["resourceType"] == "Practitioner":
            rpps = next(
                i["value"] for i in r["identifier"] if i["type"]["coding"][0]["code"] == "RPPS"
            )
            idnps = next(
                i["value"] for i in r["identifier"] if i["type"]["coding"][0]["code"] == "IDNPS"
            )
            assert len(rpps) == 11 and luhn_ok(rpps) and idnps == "8" + rpps
            assert r["qualification"][0]["code"]["coding"][0]["system"].endswith(
                "TRE-G15-ProfessionSante"
            )
            mail = r["telecom"][0]
            assert mail["system"] == "email" and mail["extension"][0]["url"] == EMAIL_TYPE
            assert mail["extension"][0]["valueCoding"]["code"] == "MSSANTE"
        elif r["resourceType"] == "Organization":
            finess = next(
                i["value"] for i in r["identifier"] if i["type"]["coding"][0]["code"] == "FINEG"
            )
            assert len(finess) == 9 and luhn_ok(finess)
        elif r["resourceType"] == "PractitionerRole" and "specialty" in r:
            assert r["specialty"][0]["coding"][0]["system"].endswith("TRE-R38-SpecialiteOrdinale")


def test_children_follow_the_vaccination_calendar(resources: list[dict[str, Any]]) -> None:
    born = {
        r["id"]: date.fromisoformat(r["birthDate"])
        for r in resources
        if r["resourceType"] == "Patient"
    }
    first_hexavalent: dict[str, int] = {}
    for imm in (r for r in resources if r["resourceType"] == "Immunization"):
        pid = imm["patient"]["reference"][8:]
        day = date.fromisoformat(imm["occurrenceDateTime"])
        assert born[pid] < day <= date(2026, 1, 15)
        coding = imm["vaccineCode"]["coding"][0]
        if coding["code"] == "J07CA09" and imm["protocolApplied"][0]["doseNumberPositiveInt"] == 1:
            first_hexavalent[pid] = (day - born[pid]).days
    infants = [pid for pid, b in born.items() if 120 < (date(2026, 1, 15) - b).days < 18 * 365]
    assert infants
    got = [first_hexavalent[pid] for pid in infants if pid in first_hexavalent]
    assert len(got) >= 0.8 * len(infants)  # a few doses are missed on purpose
    assert all(55 <= age <= 95 for age in got)  # at two months


def test_ins_nir_valid_and_consistent(resources: list[dict[str, Any]]) -> None:
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    with_ins = sum(check_patient_identity(p) for p in patients)
    assert with_ins > 0.7 * len(patients)
    nirs = [
        i["value"]
        for p in patients
        for i in p["identifier"]
        if i.get("type", {}).get("coding", [{}])[0].get("code") == "INS-NIR-TEST"
    ]
    assert len(nirs) == len(set(nirs))
    corsica = [
        p
        for p in patients
        if any(
            e.get("valueAddress", {})
            .get("extension", [{}])[0]
            .get("valueCoding", {})
            .get("code", "")[:2]
            in ("2A", "2B")
            for e in p["extension"]
        )
    ]
    abroad = [
        p
        for p in patients
        if any(
            e.get("valueAddress", {})
            .get("extension", [{}])[0]
            .get("valueCoding", {})
            .get("code", "")
            .startswith("99")
            for e in p["extension"]
        )
    ]
    assert corsica and abroad


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
        assert repo.read(CTX, "Patient", "pat-000019").version == 1  # unchanged: no new version
        found = repo.search(CTX, "Patient", [("_summary", "count")], base="http://t/fhir")
        assert found["total"] == 20
    finally:
        repo.close()


def test_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--db", url, "--if-empty", "--patients", "5"])
    assert first.exit_code == 0, first.output
    text = " ".join(first.output.split())  # the console wraps long lines
    assert "Loaded" in text and "5 Patient" in text
    second = runner.invoke(app, ["demo", "--db", url, "--if-empty", "--patients", "5"])
    assert second.exit_code == 0 and "already holds resources" in second.output
