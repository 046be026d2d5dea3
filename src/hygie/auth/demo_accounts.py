"""Demonstration accounts of `hygie demo` (and so `make run`): synthetic identities with fixed,
documented credentials (README.md, "Demo accounts"), for a local demonstration only.

Idempotent: accounts and clients that exist are left alone. The FHIR resources they stand for
(Practitioner, Patient, RelatedPerson) are created through the Repository.
"""

from __future__ import annotations

import typer

from hygie.auth import accounts, clients, identities
from hygie.auth.schema import ensure_schema
from hygie.store import Repository, open_repository
from hygie.store.context import PATIENT, PRACTITIONER, REPRESENTATIVE

PASSWORD = "Hygie-Demo-2026"
# (username, family, given, RPPS, profession TRE_G15, specialty TRE_R38, TOTP secret)
PROFESSIONALS = [
    ("dr.martin", "Martin", "Claire", "19999980014", "10", "SM54", "HYGIEDEMOMEDECIN"),
    ("inf.bernard", "Bernard", "Luc", "19999980022", "60", None, "HYGIEDEMOINFIRMI"),
    ("ph.petit", "Petit", "Sophie", "19999980030", "21", None, "HYGIEDEMOPHARMAC"),
]
SYSTEM_CLIENT = ("hygie-demo-system", "demo-system-secret-change-me", "system/*.rs")
SMART_APP = ("hygie-demo-app", "http://localhost:8765/callback")


def _link_care(repo: Repository) -> None:
    """The demo professionals treat the demo patients and the first generated ones."""
    from hygie.demo.care_links import link_demo_care

    b = repo.backend
    pros = [accounts.by_username(b, p[0]) for p in PROFESSIONALS]
    refs = [a.fhir_user for a in pros if a is not None and a.fhir_user]
    patient = accounts.by_username(b, "patient.dupont")
    parent = accounts.by_username(b, "parent.leroy")
    link_demo_care(
        repo,
        refs,
        patient.patient if patient else None,
        parent.represented[0] if parent and parent.represented else None,
    )


def ensure_demo_accounts(db: str, quiet: bool = False) -> list[str]:
    """Create the missing demo accounts and clients; returns the usernames / ids created."""
    repo = open_repository(db)
    created: list[str] = []
    try:
        b = repo.backend
        ensure_schema(b)
        for username, family, given, rpps, prof, spec, secret in PROFESSIONALS:
            if accounts.by_username(b, username) is None:
                ref = identities.create_practitioner(repo, family, given, rpps, None, prof == "10")
                accounts.create(
                    b,
                    username=username,
                    kind=PRACTITIONER,
                    password=PASSWORD,
                    display=f"{given} {family}",
                    fhir_user=ref,
                    totp_secret=secret,
                    rpps=rpps,
                    profession=prof,
                    specialty=spec,
                )
                created.append(username)
        if accounts.by_username(b, "patient.dupont") is None:
            ref = identities.create_patient(repo, "Dupont", "Camille", "1984-03-12", "female")
            accounts.create(
                b,
                username="patient.dupont",
                kind=PATIENT,
                password=PASSWORD,
                display="Camille Dupont",
                fhir_user=ref,
                patient=ref,
            )
            created.append("patient.dupont")
        if accounts.by_username(b, "parent.leroy") is None:
            child = identities.create_patient(repo, "Leroy", "Léo", "2018-06-02", "male")
            ref = identities.create_related_person(repo, child, "Leroy", "Julie", "MTH")
            accounts.create(
                b,
                username="parent.leroy",
                kind=REPRESENTATIVE,
                password=PASSWORD,
                display="Julie Leroy",
                fhir_user=ref,
                represented=(child,),
            )
            created.append("parent.leroy")
        cid, secret, scope = SYSTEM_CLIENT
        if clients.get(b, cid) is None:
            clients.create(b, "Démo système", scope, client_id=cid, secret=secret)
            created.append(cid)
        cid, redirect_uri = SMART_APP
        if clients.get(b, cid) is None:
            clients.create(
                b,
                "Application SMART de démonstration",
                "",
                client_id=cid,
                redirect_uris=(redirect_uri,),
                public=True,
            )
            created.append(cid)
        _link_care(repo)
    finally:
        repo.close()
    if created and not quiet:
        typer.echo(
            f"Demo accounts created: {', '.join(created)} (password {PASSWORD}; TOTP secrets and"
            " clients in README.md, 'Demo accounts')",
            err=True,
        )
    return created
