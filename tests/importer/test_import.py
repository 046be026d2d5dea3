"""`hygie import` on SQLite and PostgreSQL (the `db_url` fixture): NDJSON (plain and gzip),
transaction, batch and collection Bundles, error reports with file and line or entry, and
all-or-nothing Bundle files."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from hygie.cli import app
from hygie.fhir.outcome import FhirError
from hygie.importer import run_import
from hygie.store import Context, Repository, open_repository

CTX = Context.system()


def patient(rid: str, family: str = "Lefèvre", **extra: object) -> dict:
    return {
        "resourceType": "Patient",
        "id": rid,
        "name": [{"family": family, "given": ["Zoé"]}],
        "gender": "female",
        "birthDate": "1984-03-02",
        **extra,
    }


def observation(rid: str, subject: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2025-01-02T10:00:00+01:00",
        "valueQuantity": {
            "value": 72,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def ndjson(path: Path, *lines: dict | bytes) -> Path:
    body = b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    path.write_bytes(gzip.compress(body) if path.name.endswith(".gz") else body)
    return path


def bundle_file(path: Path, kind: str, *entries: dict) -> Path:
    path.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": kind, "entry": list(entries)}))
    return path


def run(db_url: str, *paths: Path, batch: int = 1000, workers: int = 1) -> tuple[int, str]:
    buffer = io.StringIO()
    code = run_import(
        list(paths),
        db=db_url,
        batch=batch,
        workers=workers,
        console=Console(file=buffer, width=300),
    )
    return code, buffer.getvalue()


def exists(repo: Repository, rtype: str, rid: str) -> bool:
    try:
        repo.read(CTX, rtype, rid)
    except FhirError as exc:
        assert exc.status == 404
        return False
    return True


# -- NDJSON -----------------------------------------------------------------------------------
def test_ndjson_in_batches(db_url: str, tmp_path: Path, repo: Repository) -> None:
    lines = [patient(f"p{i}") for i in range(25)] + [
        observation(f"o{i}", f"Patient/p{i}") for i in range(25)
    ]
    code, out = run(db_url, ndjson(tmp_path / "data.ndjson", *lines), batch=7)
    assert code == 0, out
    assert "50" in out and "Import summary" in out
    assert exists(repo, "Patient", "p24") and exists(repo, "Observation", "o0")
    assert repo.read(CTX, "Observation", "o3").resource()["subject"]["reference"] == "Patient/p3"


def test_ndjson_gz_and_blank_lines(db_url: str, tmp_path: Path, repo: Repository) -> None:
    path = ndjson(tmp_path / "p.ndjson.gz", patient("g1"), b"", b"  ", patient("g2"))
    code, out = run(db_url, path)
    assert code == 0, out
    assert exists(repo, "Patient", "g1") and exists(repo, "Patient", "g2")


def test_resource_without_id_is_created(db_url: str, tmp_path: Path, repo: Repository) -> None:
    res = patient("x")
    del res["id"]
    code, out = run(db_url, ndjson(tmp_path / "a.ndjson", res))
    assert code == 0, out
    found = repo.search(CTX, "Patient", [("family", "Lefèvre")], base="http://t/fhir")
    assert len(found["entry"]) == 1


def test_bad_json_line_reported_with_file_and_line(
    db_url: str, tmp_path: Path, repo: Repository
) -> None:
    path = ndjson(
        tmp_path / "bad.ndjson", patient("a1"), b'{"resourceType": "Patient", ', patient("a3")
    )
    code, out = run(db_url, path, batch=10)
    assert code == 1
    assert f"{path}:2: invalid JSON" in out
    assert exists(repo, "Patient", "a1") and exists(repo, "Patient", "a3")


def test_invalid_resource_skipped_rest_of_batch_stored(
    db_url: str, tmp_path: Path, repo: Repository
) -> None:
    path = ndjson(
        tmp_path / "mixed.ndjson",
        patient("v1"),
        patient("v2", gender="robot"),
        b"[1, 2]",
        patient("v4", colour="blue"),
        patient("v5"),
    )
    code, out = run(db_url, path, batch=100)
    assert code == 1
    assert f"{path}:2: invalid Patient/v2" in out and "gender" in out
    assert f"{path}:3: expected a JSON object" in out
    assert f"{path}:4: invalid Patient/v4" in out and "colour" in out
    assert exists(repo, "Patient", "v1") and exists(repo, "Patient", "v5")
    assert not exists(repo, "Patient", "v2") and not exists(repo, "Patient", "v4")


def test_reimport_is_idempotent(db_url: str, tmp_path: Path, repo: Repository) -> None:
    path = ndjson(tmp_path / "p.ndjson", patient("same"))
    assert run(db_url, path)[0] == 0
    assert run(db_url, path)[0] == 0
    assert repo.read(CTX, "Patient", "same").version == 1  # unchanged content: no new version


# -- Bundles ----------------------------------------------------------------------------------
def test_transaction_bundle_resolves_local_references(
    db_url: str, tmp_path: Path, repo: Repository
) -> None:
    pat = patient("ignored")
    del pat["id"]
    path = bundle_file(
        tmp_path / "tx.json",
        "transaction",
        {
            "fullUrl": "urn:uuid:6f1c6b1e-0000-4000-8000-000000000001",
            "resource": pat,
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "resource": observation("tx-o1", "urn:uuid:6f1c6b1e-0000-4000-8000-000000000001"),
            "request": {"method": "PUT", "url": "Observation/tx-o1"},
        },
    )
    code, out = run(db_url, path)
    assert code == 0, out
    ref = repo.read(CTX, "Observation", "tx-o1").resource()["subject"]["reference"]
    assert ref.startswith("Patient/") and exists(repo, "Patient", ref.split("/")[1])


def test_failing_transaction_leaves_nothing(db_url: str, tmp_path: Path, repo: Repository) -> None:
    path = bundle_file(
        tmp_path / "bad-tx.json",
        "transaction",
        {"resource": patient("t1"), "request": {"method": "PUT", "url": "Patient/t1"}},
        {
            "resource": patient("t2", gender="robot"),
            "request": {"method": "PUT", "url": "Patient/t2"},
        },
    )
    code, out = run(db_url, path)
    assert code == 1
    assert f"{path} (entry 1): transaction refused, nothing stored" in out
    assert not exists(repo, "Patient", "t1") and not exists(repo, "Patient", "t2")


def test_batch_bundle_entries_fail_alone(db_url: str, tmp_path: Path, repo: Repository) -> None:
    path = bundle_file(
        tmp_path / "batch.json",
        "batch",
        {"resource": patient("b1"), "request": {"method": "PUT", "url": "Patient/b1"}},
        {
            "resource": patient("b2", gender="robot"),
            "request": {"method": "PUT", "url": "Patient/b2"},
        },
    )
    code, out = run(db_url, path)
    assert code == 1
    assert f"{path} (entry 1): PUT Patient/b2: 400" in out
    assert exists(repo, "Patient", "b1") and not exists(repo, "Patient", "b2")


def test_collection_bundle(db_url: str, tmp_path: Path, repo: Repository) -> None:
    pat = patient("c-ignored")
    del pat["id"]
    path = bundle_file(
        tmp_path / "collection.json",
        "collection",
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000000a", "resource": pat},
        {"resource": observation("c-o1", "urn:uuid:00000000-0000-4000-8000-00000000000a")},
    )
    code, out = run(db_url, path)
    assert code == 0, out
    ref = repo.read(CTX, "Observation", "c-o1").resource()["subject"]["reference"]
    assert ref.startswith("Patient/") and exists(repo, "Patient", ref.split("/")[1])


def test_collection_with_invalid_entry_stores_nothing(
    db_url: str, tmp_path: Path, repo: Repository
) -> None:
    path = bundle_file(
        tmp_path / "bad-collection.json",
        "collection",
        {"resource": patient("k0")},
        {"resource": patient("k1")},
        {"resource": patient("k2", birthDate="02/03/1984")},
        {"resource": patient("k3", gender="x")},
    )
    code, out = run(db_url, path)
    assert code == 1
    assert f"{path} (entry 2): invalid Patient/k2" in out and "birthDate" in out
    assert f"{path} (entry 3): invalid Patient/k3" in out
    assert "nothing stored from this bundle" in out
    assert not any(exists(repo, "Patient", f"k{i}") for i in range(4))


def test_malformed_bundle_file(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b'{"resourceType": "Bundle",\n "type": "collection",\n "entry": [}')
    code, out = run(db_url, path)
    assert code == 1
    assert f"{path}:3: invalid JSON" in out


# -- arguments --------------------------------------------------------------------------------
def test_directory_unknown_and_missing_files(db_url: str, tmp_path: Path, repo: Repository) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    ndjson(folder / "Patient.ndjson", patient("d1"))
    ndjson(folder / "Observation.ndjson.gz", observation("d2", "Patient/d1"))
    (folder / "README.txt").write_text("ignored")
    other = tmp_path / "notes.csv"
    other.write_text("a,b")
    code, out = run(db_url, folder, other, tmp_path / "missing.ndjson")
    assert code == 1
    assert "unsupported file type" in out and "no such file or directory" in out
    assert exists(repo, "Patient", "d1") and exists(repo, "Observation", "d2")


def test_parallel_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    lines = [patient(f"w{i}") for i in range(40)] + [b"not json"]
    path = ndjson(tmp_path / "w.ndjson", *lines)
    code, out = run(url, path, batch=5, workers=2)
    assert code == 1 and f"{path}:41: invalid JSON" in out
    repo = open_repository(url)
    try:
        assert all(exists(repo, "Patient", f"w{i}") for i in range(40))
    finally:
        repo.close()


@pytest.mark.parametrize("good", [True, False])
def test_cli(tmp_path: Path, good: bool) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    path = ndjson(
        tmp_path / "cli.ndjson",
        patient("cli1"),
        patient("cli2", gender="?" if not good else "male"),
    )
    result = CliRunner().invoke(app, ["import", str(path), "--db", url, "--batch", "1"])
    assert result.exit_code == (0 if good else 1), result.output
    assert "Import summary" in result.output
    if not good:
        assert "cli.ndjson:2: invalid Patient/cli2" in result.output


def test_unusable_database(tmp_path: Path) -> None:
    code, out = run("mysql://nowhere/db", ndjson(tmp_path / "p.ndjson", patient("u1")))
    assert code == 2 and "Cannot open the database" in out
