"""`hygie generate`: NDJSON per resource type, every reference resolving inside the set, every
resource valid, NIRs consistent, small real PDFs, byte-identical output for a seed whatever
the number of workers, gzip readable, and an import into SQLite and PostgreSQL that stores
every resource."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from hygie.cli import app
from hygie.demo.generate import BLOCK_GROUPS, generate, render, units
from hygie.demo.population import GROUP, population
from hygie.fhir.validation import validate
from hygie.importer import run_import
from hygie.store import Context, open_repository
from tests.demo.checks import check_patient_identity, references

PATIENTS = 300
SEED = 11


def read_dir(path: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for f in sorted(path.glob("*.ndjson*")):
        raw = gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes()
        out[f.name.split(".")[0]] = [orjson.loads(line) for line in raw.splitlines()]
    return out


def tree_bytes(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(path.iterdir())}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("gen") / "plain"
    summary = generate(out, patients=PATIENTS, seed=SEED, progress=False)
    return out, summary


@pytest.fixture(scope="module")
def files(generated: tuple[Path, Any]) -> dict[str, list[dict[str, Any]]]:
    return read_dir(generated[0])


def test_one_file_per_type_with_the_counted_resources(generated, files) -> None:
    out, summary = generated
    assert {p.name for p in out.iterdir()} == {f"{t}.ndjson" for t in summary.counts}
    for rtype, resources in files.items():
        assert all(r["resourceType"] == rtype for r in resources)
        assert len(resources) == summary.counts[rtype]
    assert summary.counts["Patient"] == PATIENTS
    assert summary.total == sum(summary.counts.values()) > 15 * PATIENTS
    assert summary.peak_rss_kib > 0 and summary.bytes_written == sum(
        p.stat().st_size for p in out.iterdir()
    )


def test_every_reference_resolves_inside_the_set(files) -> None:
    keys = [f"{r['resourceType']}/{r['id']}" for rs in files.values() for r in rs]
    assert len(keys) == len(set(keys))
    known = set(keys)
    checked = 0
    for rs in files.values():
        for r in rs:
            for ref in references(r):
                assert ref in known, f"{r['resourceType']}/{r['id']} points to missing {ref}"
                checked += 1
    assert checked > 10 * PATIENTS


def test_every_resource_is_valid(files) -> None:
    for rs in files.values():
        for r in rs:
            errors = [i for i in validate(r) if i.severity in ("error", "fatal")]
            assert not errors, (r["resourceType"], r["id"], errors)


def test_every_nir_valid_and_consistent(files) -> None:
    with_ins = sum(check_patient_identity(p) for p in files["Patient"])
    assert with_ins > 0.7 * PATIENTS


def _pdf_is_well_formed(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    start = int(re.search(rb"startxref\n(\d+)\n", data)[1])
    assert data[start:].startswith(b"xref\n0 6\n")
    entries = data[start:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, start=1):
        assert len(entry) + 1 == 20  # each entry is 20 bytes with its end of line
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number)
    length = int(re.search(rb"<</Length (\d+)>>\nstream\n", data)[1])
    body = data.split(b"stream\n", 1)[1]
    assert body[length:].startswith(b"\nendstream")


def test_documents_carry_small_real_pdfs_and_shared_record_metadata(files) -> None:
    binaries = {b["id"]: base64.b64decode(b["data"]) for b in files["Binary"]}
    studies = {s["id"]: s for s in files["ImagingStudy"]}
    endpoints = {e["id"] for e in files["Endpoint"]}
    kinds = Counter()
    for doc in files["DocumentReference"]:
        attachment = doc["content"][0]["attachment"]
        data = binaries[attachment["url"].removeprefix("Binary/")]
        assert 300 < len(data) < 2000 and attachment["size"] == len(data)
        assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
        _pdf_is_well_formed(data)
        assert doc["type"]["coding"][0]["system"] == "http://loinc.org"
        assert doc["category"][0]["coding"][0]["system"].endswith("TRE-A03-ClasseDocument")
        assert doc["securityLabel"][0]["coding"][0]["code"] == "N"
        assert doc["content"][0]["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
        assert doc["context"]["facilityType"]["coding"][0]["code"].startswith("SA")
        assert doc["context"]["practiceSetting"]["coding"][0]["code"]
        assert doc["author"][0]["reference"].startswith("Practitioner/")
        assert doc["subject"]["reference"].startswith("Patient/")
        kinds[doc["type"]["coding"][0]["code"]] += 1
        if doc["type"]["coding"][0]["code"] == "18748-4":  # imaging report → its study
            study = studies[doc["context"]["related"][0]["reference"].removeprefix("ImagingStudy/")]
            assert study["endpoint"][0]["reference"].removeprefix("Endpoint/") in endpoints
    assert set(kinds) == {"11490-0", "11502-2", "18748-4"}  # discharge, biology, imaging


def test_nothing_happens_after_today_but_booked_appointments(files) -> None:
    today = "2026-01-15"  # the synthetic world's fixed "today" (hygie.demo.fhirtypes.TODAY)
    for enc in files["Encounter"]:
        assert enc["period"]["start"][:10] <= today
        assert (enc["status"] == "finished") == ("end" in enc["period"])
        assert enc["period"].get("end", today)[:10] <= today
    for apt in files["Appointment"]:
        assert (apt["start"][:10] > today) == (apt["status"] == "booked")
    dated = [
        *(o["effectiveDateTime"] for o in files["Observation"]),
        *(i["occurrenceDateTime"] for i in files["Immunization"]),
        *(d["whenHandedOver"] for d in files["MedicationDispense"]),
        *(d["date"] for d in files["DocumentReference"]),
        *(p["birthDate"] for p in files["Patient"]),
    ]
    assert max(dated)[:10] <= today


def test_medicines_prescribed_then_dispensed(files) -> None:
    requests = {r["id"]: r for r in files["MedicationRequest"]}
    per_request = Counter()
    for dispense in files["MedicationDispense"]:
        rid = dispense["authorizingPrescription"][0]["reference"].removeprefix("MedicationRequest/")
        request = requests[rid]
        assert dispense["medicationCodeableConcept"] == request["medicationCodeableConcept"]
        assert dispense["whenHandedOver"][:10] >= request["authoredOn"][:10]
        per_request[rid] += 1
    for rid, n in per_request.items():
        assert n <= requests[rid]["dispenseRequest"]["numberOfRepeatsAllowed"] + 1


def test_blocks_are_the_stream_cut_in_pieces() -> None:
    """Rendering the units one by one gives, per type, exactly the population stream: a unit
    depends on nothing else, so units can be made in any process."""
    n = 2 * BLOCK_GROUPS * GROUP + 7  # three blocks, the last one partial
    expected: dict[str, list[bytes]] = {}
    for res in population(n, 5):
        expected.setdefault(res["resourceType"], []).append(orjson.dumps(res))
    got: dict[str, bytes] = {}
    for unit in units(n, 5):
        for rtype, data in render(unit, n, 5, compress=False)[0].items():
            got[rtype] = got.get(rtype, b"") + data
    assert got == {t: b"\n".join(lines) + b"\n" for t, lines in expected.items()}


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    n = BLOCK_GROUPS * GROUP + 40
    generate(tmp_path / "a", patients=n, seed=3, progress=False)
    generate(tmp_path / "b", patients=n, seed=3, workers=2, progress=False)
    generate(tmp_path / "c", patients=n, seed=4, progress=False)
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    assert (
        tree_bytes(tmp_path / "a")["Patient.ndjson"] != tree_bytes(tmp_path / "c")["Patient.ndjson"]
    )


def test_gzip_output_is_readable_and_deterministic(tmp_path: Path) -> None:
    n = BLOCK_GROUPS * GROUP + 9  # two units: two gzip members per file
    generate(tmp_path / "plain", patients=n, seed=8, progress=False)
    generate(tmp_path / "gz", patients=n, seed=8, compress=True, progress=False)
    generate(tmp_path / "gz2", patients=n, seed=8, compress=True, workers=2, progress=False)
    plain = tree_bytes(tmp_path / "plain")
    packed = tree_bytes(tmp_path / "gz")
    assert set(packed) == {f"{name}.gz" for name in plain}
    for name, data in plain.items():
        with gzip.open(tmp_path / "gz" / f"{name}.gz", "rb") as f:
            assert f.read() == data
    assert packed == tree_bytes(tmp_path / "gz2")


def test_a_failed_run_leaves_no_file(tmp_path: Path) -> None:
    """Patient.ndjson.part cannot be opened (a directory holds its name): the run fails after
    the directory files were written, and removes them."""
    (tmp_path / "Patient.ndjson.part").mkdir()
    with pytest.raises(IsADirectoryError):
        generate(tmp_path, patients=40, seed=1, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["Patient.ndjson.part"]


def test_units_bound_memory_whatever_the_size() -> None:
    work = units(10_000_000, 1)
    assert max(stop - start for kind, start, stop in work if kind == "groups") == BLOCK_GROUPS
    assert max(stop - start for kind, start, stop in work if kind != "groups") <= 2_000


def test_import_into_the_database_stores_everything(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "set"
    summary = generate(out, patients=24, seed=2, compress=True, progress=False)
    console = Console(file=io.StringIO(), width=200)
    assert run_import([out], db=db_url, batch=500, console=console) == 0
    repo = open_repository(db_url)
    try:
        ctx = Context.system()
        for rtype, n in summary.counts.items():
            found = repo.search(ctx, rtype, [("_summary", "count")], base="http://t/fhir")
            assert found["total"] == n, rtype
        doc = files_first(out / "DocumentReference.ndjson.gz")
        binary = repo.read(ctx, "Binary", doc["content"][0]["attachment"]["url"][7:])
        assert base64.b64decode(binary.resource()["data"]).startswith(b"%PDF-")
    finally:
        repo.close()


def files_first(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rb") as f:
        return orjson.loads(f.readline())


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(
        app, ["generate", "--patients", "12", "--seed", "1", "--out", str(out), "--gzip"]
    )
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert "Patient 12" in " ".join(text.replace("│", " ").split()) and "resources/s" in text
    assert "peak RSS" in text and (out / "Patient.ndjson.gz").exists()
    refused = runner.invoke(app, ["generate", "--patients", "0", "--out", str(out)])
    assert refused.exit_code == 2
