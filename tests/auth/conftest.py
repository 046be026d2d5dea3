"""Secure fixtures (tokens required), beside the open ones of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyotp
import pytest

from hygie.auth import accounts, clients, identities
from hygie.auth.schema import ensure_schema
from hygie.store import Context, Repository, open_repository
from hygie.store.context import PATIENT, PRACTITIONER, REPRESENTATIVE

PASSWORD = "correct horse battery"
APP_REDIRECT = "http://127.0.0.1:9/callback"  # never dereferenced: the tests read Location


@pytest.fixture
def secure_live_server(db_url: str, live_server_factory) -> Callable[..., str]:
    """Start a `hygie serve` that requires tokens (optionally with HYGIE_* env settings);
    returns its FHIR base URL."""

    def start(**env: str) -> str:
        return live_server_factory(db_url, secure=True, env=env).base

    return start


@pytest.fixture
def auth_repo(db_url: str) -> Iterator[Repository]:
    repo = open_repository(db_url)
    ensure_schema(repo.backend)
    try:
        yield repo
    finally:
        repo.close()


def make_practitioner(repo: Repository, username: str = "dr.test", rpps: str = "19999970018", **kw):
    ref = identities.create_practitioner(repo, "Testeur", "Anne", rpps, None, True)
    return accounts.create(
        repo.backend,
        username=username,
        kind=PRACTITIONER,
        password=PASSWORD,
        display="Anne Testeur",
        fhir_user=ref,
        totp_secret=kw.get("totp") or pyotp.random_base32(),
        rpps=rpps,
        profession="10",
        specialty="SM54",
    )


def make_patient(repo: Repository, username: str = "pat.test"):
    ref = identities.create_patient(repo, "Patiente", "Zoé", "1990-01-01", "female")
    return accounts.create(
        repo.backend,
        username=username,
        kind=PATIENT,
        password=PASSWORD,
        display="Zoé Patiente",
        fhir_user=ref,
        patient=ref,
    )


def make_representative(repo: Repository, children: int = 1, username: str = "rep.test"):
    kids = tuple(
        identities.create_patient(repo, "Enfant", f"E{i}", "2019-01-01", None)
        for i in range(children)
    )
    ref = identities.create_related_person(repo, kids[0], "Parent", "Paul", "FTH")
    return accounts.create(
        repo.backend,
        username=username,
        kind=REPRESENTATIVE,
        password=PASSWORD,
        display="Paul Parent",
        fhir_user=ref,
        represented=kids,
    ), kids


def make_app(repo: Repository, redirect: str = APP_REDIRECT, scope: str = ""):
    client, _ = clients.create(
        repo.backend, "Appli test", scope, redirect_uris=(redirect,), public=True
    )
    return client.client_id


def make_system_client(repo: Repository, scope: str = "system/*.rs") -> tuple[str, str]:
    client, secret = clients.create(repo.backend, "Système test", scope)
    assert secret is not None
    return client.client_id, secret


def treat(repo: Repository, practitioner: str, patients: list[str]) -> None:
    """An active CareTeam naming the practitioner for each patient (the care relationship)."""
    for patient in patients:
        repo.create(
            Context.system(),
            {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": patient},
                "participant": [{"member": {"reference": practitioner}}],
            },
        )
