"""The policy and the audit over real HTTP with real tokens (`hygie serve`, tokens required):
a GP outside the care team gets 404, declares the relationship, then reads; the patient reads
their data but not a document held back, and reads who accessed it in their access log."""

from __future__ import annotations

import httpx

from hygie.store import Context
from tests.access.world import DMP_VISIBILITY_SYSTEM
from tests.auth.browser import Browser, exchange
from tests.auth.conftest import APP_REDIRECT, PASSWORD, make_app, make_patient, make_practitioner


def _token(iss: str, base: str, app: str, scope: str, username: str, totp: str | None) -> dict:
    browser = Browser(iss)
    try:
        auth = browser.login(app, APP_REDIRECT, scope, base, username, PASSWORD, totp)
        return {
            "Authorization": f"Bearer {exchange(iss, app, APP_REDIRECT, auth).json()['access_token']}"
        }
    finally:
        browser.close()


def test_policy_and_audit_over_http(auth_repo, secure_live_server) -> None:
    dr = make_practitioner(auth_repo)
    pat = make_patient(auth_repo)
    other = make_patient(auth_repo, username="autre.patient")
    app = make_app(auth_repo)
    system = Context.system()
    subject = {"reference": pat.patient}
    obs = auth_repo.create(
        system,
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "pouls"},
            "subject": subject,
        },
    ).stored
    held = auth_repo.create(
        system,
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": subject,
            "securityLabel": [
                {"coding": [{"system": DMP_VISIBILITY_SYSTEM, "code": "INVISIBLE_PATIENT"}]}
            ],
            "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/x"}}],
        },
    ).stored
    base = secure_live_server()
    iss = base.removesuffix("/fhir")
    gp = _token(iss, base, app, "openid fhirUser user/*.cruds", dr.username, dr.totp_secret)

    assert httpx.get(f"{base}/Observation/{obs.id}", headers=gp).status_code == 404
    count = httpx.get(f"{base}/Observation?subject={pat.patient}&_summary=count", headers=gp)
    assert count.status_code == 200 and count.json()["total"] == 0
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": subject,
        "participant": [{"member": {"reference": dr.fhir_user}}],
    }
    assert httpx.post(f"{base}/CareTeam", json=team, headers=gp).status_code == 201
    assert httpx.get(f"{base}/Observation/{obs.id}", headers=gp).status_code == 200
    assert httpx.get(f"{base}/DocumentReference/{held.id}", headers=gp).status_code == 200

    me = _token(iss, base, app, "openid launch/patient patient/*.rs", pat.username, None)
    assert httpx.get(f"{base}/Observation/{obs.id}", headers=me).status_code == 200
    assert httpx.get(f"{base}/DocumentReference/{held.id}", headers=me).status_code == 404
    found = httpx.get(f"{base}/DocumentReference?subject={pat.patient}", headers=me).json()
    assert found.get("entry", []) == []
    log = httpx.get(f"{base}/{pat.patient}/$access-log", headers=me)
    assert log.status_code == 200, log.text
    readers = [e["resource"]["agent"][0]["who"]["reference"] for e in log.json()["entry"]]
    assert dr.fhir_user in readers
    assert httpx.get(f"{base}/{other.patient}/$access-log", headers=me).status_code == 403
    assert httpx.get(f"{base}/{pat.patient}/$access-log", headers=gp).status_code == 403
