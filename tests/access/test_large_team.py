"""A practitioner who treats many patients (a hospital team): the row filter carries the
care team as one list parameter (a PostgreSQL array, a JSON array on SQLite) instead of one
parameter per patient; the results are the same as for a small team."""

from __future__ import annotations

from hygie import access
from hygie.store import Context, Repository
from hygie.store.context import AUTH_MFA, PRACTITIONER

BASE = "http://t/fhir"


def test_a_team_of_many_patients_filters_exactly(repo: Repository) -> None:
    access.install(repo)
    system = Context.system()
    batch = []
    for n in range(30):
        pid = f"p{n}"
        batch.append({"resourceType": "Patient", "id": pid, "name": [{"family": f"Nom{n}"}]})
        batch.append(
            {
                "resourceType": "Observation",
                "id": f"o{n}",
                "status": "final",
                "code": {"text": "poids"},
                "subject": {"reference": f"Patient/{pid}"},
            }
        )
        if n < 20:  # treats p0..p19
            batch.append(
                {
                    "resourceType": "CareTeam",
                    "id": f"ct{n}",
                    "status": "active",
                    "subject": {"reference": f"Patient/{pid}"},
                    "participant": [{"member": {"reference": "Practitioner/gp"}}],
                }
            )
    # p3 opposes every professional
    batch.append(
        {
            "resourceType": "Consent",
            "id": "opp3",
            "status": "active",
            "scope": {"text": "patient-privacy"},
            "category": [{"text": "opposition"}],
            "patient": {"reference": "Patient/p3"},
            "provision": {"type": "deny"},
        }
    )
    repo.load(system, batch)
    gp = Context(
        actor="Practitioner/gp",
        kind=PRACTITIONER,
        scopes=frozenset({"user/*.rs"}),
        profession="10",
        auth_level=AUTH_MFA,
    )
    expected = {f"o{n}" for n in range(20) if n != 3}
    found = repo.search(gp, "Observation", [("_count", "100")], base=BASE)
    assert {e["resource"]["id"] for e in found["entry"]} == expected
    count = repo.search(gp, "Observation", [("_summary", "count")], base=BASE)
    assert count["total"] == len(expected)
    paged, seen = repo.search(gp, "Observation", [("_count", "7")], base=BASE), set()
    while True:  # keyset pages: no gap, no duplicate, nothing outside the team
        ids = [e["resource"]["id"] for e in paged.get("entry", [])]
        assert not seen & set(ids)
        seen |= set(ids)
        nxt = [link["url"] for link in paged["link"] if link["relation"] == "next"]
        if not nxt:
            break
        params = [tuple(p.split("=", 1)) for p in nxt[0].split("?", 1)[1].split("&")]
        paged = repo.search(gp, "Observation", params, base=BASE)
    assert seen == expected
    outside = repo.search(gp, "Observation", [("patient", "Patient/p25")], base=BASE)
    assert outside.get("entry", []) == []
    assert repo.search(gp, "Patient", [("_id", "p25")], base=BASE)["entry"]  # Patient: free
