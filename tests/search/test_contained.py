"""Chained conditions evaluated inside contained resources (FHIR R4 search.html#contained: "A
chained condition will be evaluated inside contained resources"), on both databases: the
contained resource the reference names matches, another contained resource does not, the
container's own rows and server resources still do; tests about the container itself
(`_id`, `:missing`, `:not`) stay on server resources."""

from __future__ import annotations

from typing import Any

import pytest

from hygie.search import extract
from hygie.search.index import extract_reference
from hygie.store import Context, Repository

SYSTEM = Context.system()
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"


def document(author: str, contained: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [{"attachment": {"url": "http://example.org/doc"}}],
        "author": [{"reference": author}],
    }
    if contained:
        doc["contained"] = contained
    return doc


def practitioner(pid: str, family: str, given: str | None = None, rpps: str | None = None):
    res: dict[str, Any] = {"resourceType": "Practitioner", "id": pid, "name": [{"family": family}]}
    if given:
        res["name"][0]["given"] = [given]
    if rpps:
        res["identifier"] = [{"system": IDNPS, "value": rpps}]
    return res


@pytest.fixture
def docs(repo: Repository) -> dict[str, str]:
    repo.update(SYSTEM, "Practitioner", "srv", practitioner("srv", "SERVEUR", "Jean"))

    def create(res: dict[str, Any]) -> str:
        stored = repo.create(SYSTEM, res).stored
        assert stored is not None
        return stored.id

    return {
        # PDSm's form: the author is a contained Practitioner
        "contained": create(
            document("#a", [practitioner("a", "MARTIN", "Paul", rpps="810101010101")])
        ),
        "server": create(document("Practitioner/srv")),
        # a contained Practitioner named MARTIN that no reference of `author` names
        "unreferenced": create(document("Practitioner/srv", [practitioner("z", "MARTIN", "Zoé")])),
    }


def found(repo: Repository, *params: tuple[str, str]) -> set[str]:
    bundle = repo.search(SYSTEM, "DocumentReference", list(params), base="http://t/fhir")
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("author.family", "MARTIN", {"contained"}),
        ("author.family", "mart", {"contained"}),
        ("author.family:exact", "MARTIN", {"contained"}),
        ("author.family:exact", "Martin", set()),
        ("author.given", "paul", {"contained"}),
        ("author:Practitioner.name", "paul", {"contained"}),
        ("author.identifier", f"{IDNPS}|810101010101", {"contained"}),
        ("author.family", "SERVEUR", {"server", "unreferenced"}),
        ("author.family", "MARTIN,SERVEUR", {"contained", "server", "unreferenced"}),
        ("author.given", "Zoé", set()),  # contained, but not the author
        ("author._id", "a", set()),  # a contained resource's id is not a resource id
    ],
)
def test_a_chain_looks_inside_the_contained_author(repo, docs, param, value, expected):
    assert found(repo, (param, value)) == {docs[k] for k in expected}


def test_combined_with_other_conditions_and_counted(repo, docs):
    assert found(repo, ("author.family", "MARTIN"), ("status", "current")) == {docs["contained"]}
    assert found(repo, ("author.family", "MARTIN"), ("status", "superseded")) == set()
    bundle = repo.search(
        SYSTEM,
        "DocumentReference",
        [("author.given", "paul"), ("_summary", "count")],
        base="http://t/fhir",
    )
    assert bundle["total"] == 1


def test_an_update_replaces_the_contained_rows(repo, docs):
    rid = docs["contained"]
    doc = repo.read(SYSTEM, "DocumentReference", rid).resource()
    doc["contained"][0]["name"] = [{"family": "DURAND"}]
    repo.update(SYSTEM, "DocumentReference", rid, doc)
    assert found(repo, ("author.family", "MARTIN")) == set()
    assert found(repo, ("author.family", "DURAND")) == {rid}


def test_the_generated_extractor_and_the_reference_agree_on_contained_rows():
    doc = document("#a", [practitioner("a", "MARTIN", "Paul", rpps="810101010101")])
    fast, slow = extract(doc), extract_reference(doc)
    for table in set(fast) | set(slow):
        assert sorted(map(repr, fast.get(table, []))) == sorted(map(repr, slow.get(table, [])))
    assert not any(c for c in fast.get("compartment", []) if c[1] == "a")


def test_resources_stored_before_get_their_contained_rows_by_reindex(repo, docs):
    """A database written before contained indexing: `hygie reindex --contained` adds the rows
    (idempotent: run twice, same rows)."""
    from hygie import search
    from hygie.search.keys import contained_key
    from hygie.search.registry import params_for

    ref_key = params_for("DocumentReference")["author"].key
    family = params_for("Practitioner")["family"].key
    gone = contained_key(ref_key, family)

    def contained_family_rows() -> int:
        with repo.backend.read() as cur:
            row = cur.fetchone("SELECT COUNT(*) FROM idx_string WHERE param = ?", (gone,))
        return int(row[0]) if row else 0

    assert contained_family_rows() == 1
    with repo.backend.write() as cur:  # as an older version of Hygie left them
        cur.execute("DELETE FROM idx_string WHERE param = ?", (gone,))
    assert found(repo, ("author.family", "MARTIN")) == set()
    seen = []
    assert search.reindex_contained(repo.backend, chunk=1, progress=lambda *a: seen.append(a))
    assert found(repo, ("author.family", "MARTIN")) == {docs["contained"]}
    assert contained_family_rows() == 1
    search.reindex_contained(repo.backend)
    assert contained_family_rows() == 1  # replaced, not doubled
    assert seen and seen[-1][1] == seen[-1][2]  # progress reaches its total


def test_the_cli_reindexes_contained_resources(db_url, repo, docs):
    from typer.testing import CliRunner

    from hygie.cli import app

    out = CliRunner().invoke(app, ["reindex", "--contained", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert "Reindexed 2 resources." in out.output
