"""`hygie user create` (professional, patient, representative) and the demo accounts of
`hygie demo`, with the credentials README.md documents; key rotation."""

from __future__ import annotations

import subprocess

import orjson
import pyotp
import pytest
from joserfc import jwt
from joserfc.errors import JoseError

from hygie.auth import accounts, clients, demo_accounts
from hygie.auth.keys import KeyRing
from hygie.store.context import Context
from tests.conftest import VENV_BIN

HYGIE = str(VENV_BIN / "hygie")


class _Run:
    def __init__(self, result) -> None:
        self.returncode = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr


def _create(db_url: str, *args: str, password: str = "un-mot-de-passe") -> _Run:
    """The `hygie user create` command, in process (the FHIR definitions load once)."""
    from typer.testing import CliRunner

    from hygie.cli import app

    argv = ["user", "create", *args, "--password-stdin", "--db", db_url]
    return _Run(CliRunner().invoke(app, argv, input=password + "\n"))


def test_user_create_each_kind(db_url, auth_repo) -> None:
    r = _create(
        db_url,
        "--kind",
        "practitioner",
        "--username",
        "dr.cli",
        "--family",
        "Cli",
        "--given",
        "Jean",
        "--rpps",
        "19999970042",
        "--profession",
        "10",
        "--specialty",
        "SM54",
        "--organization",
        "Organization/o1",
    )
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["kind"] == "practitioner" and out["fhirUser"].startswith("Practitioner/")
    assert out["totp_uri"].startswith("otpauth://totp/") and pyotp.TOTP(out["totp_secret"]).now()
    prac = orjson.loads(auth_repo.read(Context.system(), *out["fhirUser"].split("/")).content)
    assert {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "819999970042"}.items() <= prac[
        "identifier"
    ][0].items()
    acc = accounts.by_username(auth_repo.backend, "dr.cli")
    assert acc is not None and acc.rpps == "19999970042" and acc.organization == "Organization/o1"
    assert (
        acc.password_hash.startswith("$argon2id$") and "un-mot-de-passe" not in r.stdout + r.stderr
    )

    r = _create(
        db_url,
        "--kind",
        "patient",
        "--username",
        "pat.cli",
        "--family",
        "Cli",
        "--given",
        "Lou",
        "--birth-date",
        "2015-05-05",
        "--no-totp",
    )
    assert r.returncode == 0, r.stderr
    pat = orjson.loads(r.stdout)
    assert pat["fhirUser"].startswith("Patient/") and "totp_secret" not in pat

    r = _create(
        db_url,
        "--kind",
        "representative",
        "--username",
        "rep.cli",
        "--family",
        "Cli",
        "--represents",
        pat["fhirUser"],
        "--relationship",
        "MTH",
        "--no-totp",
    )
    assert r.returncode == 0, r.stderr
    rep = orjson.loads(r.stdout)
    assert rep["fhirUser"].startswith("RelatedPerson/")
    related = orjson.loads(auth_repo.read(Context.system(), *rep["fhirUser"].split("/")).content)
    assert related["patient"]["reference"] == pat["fhirUser"]
    assert accounts.by_username(auth_repo.backend, "rep.cli").represented == (pat["fhirUser"],)

    # refusals: a duplicate, a short password, a missing represented patient, a bad RPPS
    assert _create(db_url, "--kind", "patient", "--username", "pat.cli").returncode == 1
    assert (
        _create(db_url, "--kind", "patient", "--username", "p2", password="court").returncode == 2
    )
    assert (
        _create(
            db_url, "--kind", "representative", "--username", "r2", "--represents", "Patient/nope"
        ).returncode
        == 1
    )
    assert (
        _create(db_url, "--kind", "practitioner", "--username", "d2", "--rpps", "123").returncode
        == 2
    )
    help_text = subprocess.run(
        [HYGIE, "user", "create", "--help"], capture_output=True, text=True
    ).stdout
    assert "--rpps" in help_text and "--represents" in help_text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_demo_accounts_are_idempotent_and_documented(db_url, auth_repo) -> None:
    created = demo_accounts.ensure_demo_accounts(db_url, quiet=True)
    assert {"dr.martin", "inf.bernard", "ph.petit", "patient.dupont", "parent.leroy"} <= set(
        created
    )
    assert demo_accounts.ensure_demo_accounts(db_url, quiet=True) == []
    gp = accounts.by_username(auth_repo.backend, "dr.martin")
    assert gp is not None and gp.totp_secret == "HYGIEDEMOMEDECIN" and gp.profession == "10"
    assert accounts.verify_password_of(gp, demo_accounts.PASSWORD)
    system = clients.authenticate(
        auth_repo.backend, "hygie-demo-system", "demo-system-secret-change-me"
    )
    assert system is not None and system.scope == {"system/*.rs"}
    readme = (VENV_BIN.parent.parent / "README.md").read_text()
    for text in (
        "dr.martin",
        demo_accounts.PASSWORD,
        "HYGIEDEMOMEDECIN",
        "hygie-demo-system",
        "demo-system-secret-change-me",
        "parent.leroy",
    ):
        assert text in readme, text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_rotated_keys_keep_verifying(auth_repo) -> None:
    ring = KeyRing(auth_repo.backend)
    old = ring.sign({"sub": "x"})
    new_kid = ring.rotate()
    fresh = ring.sign({"sub": "y"})
    assert jwt.decode(fresh, ring._keys).header["kid"] == new_kid
    assert ring.decode(old)["sub"] == "x" and ring.decode(fresh)["sub"] == "y"
    assert len(ring.jwks()["keys"]) == 2
    ring.retire_before(new_kid)
    with pytest.raises(JoseError):
        KeyRing(auth_repo.backend).decode(old)


def test_minted_token_works_at_a_live_server(db_url, auth_repo, secure_live_server) -> None:
    """`hygie.auth.mint` (for benchmarks and tests) gives tokens the server accepts."""
    import httpx

    from hygie.auth.mint import mint_access_token
    from tests.auth.conftest import make_practitioner

    acc = make_practitioner(auth_repo)
    base = secure_live_server()
    iss = base.removesuffix("/fhir")
    tok = mint_access_token(db_url, iss, username=acc.username, scope="user/*.rs")
    r = httpx.get(f"{base}/{acc.fhir_user}", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text
    other = mint_access_token(db_url, "http://elsewhere:1", username=acc.username)
    assert (
        httpx.get(
            f"{base}/{acc.fhir_user}", headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_operator_commands(db_url, auth_repo) -> None:
    """password, disable/enable, unlock, totp-reset, keys rotate/retire."""
    from typer.testing import CliRunner

    from hygie.cli import app
    from tests.auth.conftest import make_practitioner

    acc = make_practitioner(auth_repo)
    run = CliRunner().invoke
    assert (
        run(
            app,
            ["user", "password", acc.username, "--password-stdin", "--db", db_url],
            input="nouveau-mot-de-passe\n",
        ).exit_code
        == 0
    )
    now = accounts.by_username(auth_repo.backend, acc.username)
    assert accounts.verify_password_of(
        now, "nouveau-mot-de-passe"
    ) and not accounts.verify_password_of(now, "correct horse battery")
    assert run(app, ["user", "disable", acc.username, "--db", db_url]).exit_code == 0
    assert accounts.by_username(auth_repo.backend, acc.username).disabled
    assert run(app, ["user", "disable", acc.username, "--enable", "--db", db_url]).exit_code == 0
    assert not accounts.by_username(auth_repo.backend, acc.username).disabled
    accounts.record_failure(auth_repo.backend, acc.id, 1, 600)
    assert accounts.is_locked(accounts.by_username(auth_repo.backend, acc.username))
    assert run(app, ["user", "unlock", acc.username, "--db", db_url]).exit_code == 0
    assert not accounts.is_locked(accounts.by_username(auth_repo.backend, acc.username))
    reset = run(app, ["user", "totp-reset", acc.username, "--db", db_url])
    secret = orjson.loads(reset.stdout)["totp_secret"]
    assert (
        secret != acc.totp_secret
        and accounts.by_username(auth_repo.backend, acc.username).totp_secret == secret
    )
    assert (
        run(
            app,
            ["user", "password", "nobody", "--password-stdin", "--db", db_url],
            input="abcdefghij\n",
        ).exit_code
        == 1
    )
    first = KeyRing(auth_repo.backend).jwks()["keys"][0]["kid"]
    kid = orjson.loads(run(app, ["keys", "rotate", "--db", db_url]).stdout)["kid"]
    assert {first, kid} == {k["kid"] for k in KeyRing(auth_repo.backend).jwks()["keys"]}
    assert orjson.loads(run(app, ["keys", "retire", kid, "--db", db_url]).stdout) == {
        "active": [kid]
    }


def test_demo_accounts_see_demo_records(db_url, auth_repo) -> None:
    """`hygie demo`'s accounts are tied to the population: the GP treats the demo patients and
    the first generated ones (and no one else); the patient and the parent see their records."""
    from hygie import access
    from hygie.demo import DEFAULT_SEED, population
    from hygie.store import open_repository
    from hygie.store.context import AUTH_MFA, PATIENT, PRACTITIONER, REPRESENTATIVE

    auth_repo.load(Context.system(), list(population(60, DEFAULT_SEED)))
    demo_accounts.ensure_demo_accounts(db_url, quiet=True)
    repo = open_repository(db_url)
    access.install(repo)
    try:
        b = repo.backend
        gp_account = accounts.by_username(b, "dr.martin")
        me = accounts.by_username(b, "patient.dupont")
        parent = accounts.by_username(b, "parent.leroy")
        gp = Context(
            actor=gp_account.fhir_user,
            kind=PRACTITIONER,
            scopes=frozenset({"user/*.rs"}),
            profession="10",
            auth_level=AUTH_MFA,
        )

        def ids(ctx: Context, rtype: str, *params: tuple[str, str]) -> set[str]:
            found = repo.search(ctx, rtype, [*params, ("_count", "500")], base="http://t/fhir")
            return {
                f"{rtype}/{e['resource']['id']}"
                for e in found["entry"]
                if e["resource"]["resourceType"] == rtype
            }

        treated = ids(gp, "CareTeam")
        assert len(treated) == 27  # 25 generated patients, the demo patient and child
        seen = {ref for ref in ids(gp, "Observation")}
        assert seen and any("demo-" in r for r in seen)
        child = parent.represented[0]
        # a generated patient outside the 25 is not visible to the GP
        everyone = ids(Context.system(), "Patient")
        assert len(ids(gp, "Condition")) < len(ids(Context.system(), "Condition"))
        assert len(everyone) == 62
        own = Context(
            actor=me.fhir_user, kind=PATIENT, scopes=frozenset({"patient/*.rs"}), patient=me.patient
        )
        assert ids(own, "Patient") == {me.patient}
        assert len(ids(own, "Observation")) == 3
        assert ids(own, "MedicationRequest") and ids(own, "Condition")
        rep = Context(
            actor=parent.fhir_user,
            kind=REPRESENTATIVE,
            scopes=frozenset({"patient/*.rs"}),
            patient=child,
            represented=frozenset({child}),
        )
        assert len(ids(rep, "Immunization")) == 3
        # idempotent: a second run writes no new version
        before = b.read_one("SELECT count(*) FROM resource_history")[0]
        demo_accounts.ensure_demo_accounts(db_url, quiet=True)
        assert b.read_one("SELECT count(*) FROM resource_history")[0] == before
    finally:
        repo.close()
