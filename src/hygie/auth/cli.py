"""Operator commands: `hygie user …` and `hygie client …` (mounted by hygie/cli.py)."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import typer

from hygie.config import DEFAULT_DB

user_app = typer.Typer(
    help="Accounts: professionals, patients, legal representatives.", no_args_is_help=True
)
client_app = typer.Typer(
    help="OAuth clients: system clients (client credentials) and SMART apps.", no_args_is_help=True
)

DbOption = typer.Option(
    DEFAULT_DB, "--db", help="Database URL: sqlite:///path.db or postgresql://…"
)

_REPRESENTS = typer.Option(
    [], "--represents", help="Patient/… a representative acts for (repeatable)."
)
_SCOPE = typer.Option(
    [],
    "--scope",
    help="Scopes the client may be granted (repeatable, or space-separated), e.g. system/*.rs.",
)
_REDIRECT = typer.Option([], "--redirect-uri", help="Redirect URI of a SMART app (repeatable).")


def _out(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


def _fail(text: str, code: int = 1) -> None:
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(code)


def _open(db: str):
    from hygie.auth.schema import ensure_schema
    from hygie.store import open_repository

    repo = open_repository(db)
    ensure_schema(repo.backend)
    return repo


@user_app.command("create")
def user_create(
    kind: str = typer.Option(..., "--kind", help="practitioner, patient or representative."),
    username: str = typer.Option(..., "--username", help="The login name."),
    family: str = typer.Option("", "--family", help="Family name (for the FHIR resource created)."),
    given: str = typer.Option("", "--given", help="Given name."),
    rpps: str = typer.Option("", "--rpps", help="RPPS number (11 digits) of a professional."),
    adeli: str = typer.Option("", "--adeli", help="ADELI number of a professional without RPPS."),
    profession: str = typer.Option(
        "",
        "--profession",
        help="Profession code (TRE_G15, e.g. 10 médecin, 21 pharmacien, 60 infirmier).",
    ),
    specialty: str = typer.Option(
        "", "--specialty", help="Specialty code (TRE_R38, e.g. SM54 médecine générale)."
    ),
    organization: str = typer.Option(
        "", "--organization", help="Organization/… the professional acts for."
    ),
    practitioner: str = typer.Option(
        "", "--practitioner", help="Link an existing Practitioner/… instead of creating one."
    ),
    patient: str = typer.Option(
        "", "--patient", help="Patient/… of a patient account (created when omitted)."
    ),
    birth_date: str = typer.Option(
        "", "--birth-date", help="Birth date of a patient created here (YYYY-MM-DD)."
    ),
    gender: str = typer.Option("", "--gender", help="Gender of a patient created here."),
    represents: list[str] = _REPRESENTS,
    relationship: str = typer.Option(
        "GUARD", "--relationship", help="v3 RoleCode of a representative (GUARD, MTH, FTH)."
    ),
    totp_enrol: bool = typer.Option(
        True, "--totp/--no-totp", help="Enrol a TOTP second factor (professionals always need one)."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
    db: str = DbOption,
) -> None:
    """Create an account and the FHIR resource it stands for; prints JSON (id, fhirUser, and the
    otpauth:// URI of the TOTP secret, shown once)."""
    from hygie.auth import accounts, identities, totp
    from hygie.store.context import PATIENT, PRACTITIONER, REPRESENTATIVE

    if kind not in accounts.KINDS:
        _fail(f"--kind must be one of {', '.join(accounts.KINDS)}", 2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Mot de passe", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < 8:
        _fail("the password needs at least 8 characters", 2)
    if rpps and (len(rpps) != 11 or not rpps.isdigit()):
        _fail("an RPPS number has 11 digits", 2)
    repo = _open(db)
    try:
        if accounts.by_username(repo.backend, username) is not None:
            _fail(f"an account named '{username}' already exists")
        display = " ".join(x for x in (given, family) if x) or username
        fhir_user = None
        patient_ref = None
        represented: tuple[str, ...] = ()
        if kind == PRACTITIONER:
            if practitioner:
                if not identities.exists(repo, practitioner):
                    _fail(f"{practitioner} does not exist")
                fhir_user = practitioner
            else:
                fhir_user = identities.create_practitioner(
                    repo,
                    family or username,
                    given or None,
                    rpps or None,
                    adeli or None,
                    profession == "10",
                )
        elif kind == PATIENT:
            if patient:
                if not identities.exists(repo, patient):
                    _fail(f"{patient} does not exist")
                patient_ref = patient
            else:
                patient_ref = identities.create_patient(
                    repo, family or username, given or None, birth_date or None, gender or None
                )
            fhir_user = patient_ref
        elif kind == REPRESENTATIVE:
            if not represents:
                _fail("a representative needs --represents Patient/… (one or more)", 2)
            for p in represents:
                if not identities.exists(repo, p):
                    _fail(f"{p} does not exist")
            represented = tuple(represents)
            fhir_user = identities.create_related_person(
                repo, represents[0], family or username, given or None, relationship
            )
        secret = totp.new_secret() if (totp_enrol or kind == PRACTITIONER) else None
        acc = accounts.create(
            repo.backend,
            username=username,
            kind=kind,
            password=password,
            display=display,
            fhir_user=fhir_user,
            totp_secret=secret,
            rpps=rpps or None,
            adeli=adeli or None,
            profession=profession or None,
            specialty=specialty or None,
            organization=organization or None,
            patient=patient_ref,
            represented=represented,
        )
        out: dict[str, Any] = {
            "id": acc.id,
            "username": acc.username,
            "kind": acc.kind,
            "fhirUser": fhir_user,
        }
        if secret:
            out["totp_secret"] = secret
            out["totp_uri"] = totp.provisioning_uri(secret, username)
        _out(out)
    finally:
        repo.close()


@user_app.command("list")
def user_list(db: str = DbOption) -> None:
    """The accounts, one JSON object a line (no secrets)."""
    repo = _open(db)
    try:
        with repo.backend.read() as cur:
            rows = cur.fetchall(
                "SELECT id, username, kind, fhir_user, rpps, disabled FROM auth_accounts ORDER BY created, id"
            )
        for r in rows:
            _out(
                {
                    "id": r[0],
                    "username": r[1],
                    "kind": r[2],
                    "fhirUser": r[3],
                    "rpps": r[4],
                    "disabled": bool(r[5]),
                }
            )
    finally:
        repo.close()


@client_app.command("create")
def client_create(
    name: str = typer.Argument(..., help="A name for the client."),
    scope: list[str] = _SCOPE,
    redirect_uri: list[str] = _REDIRECT,
    public: bool = typer.Option(False, "--public", help="A public SMART app (PKCE, no secret)."),
    jwks: str = typer.Option(
        "",
        "--jwks",
        help="File with the client's public JWK Set: it authenticates with private_key_jwt "
        "(SMART Backend Services) instead of a secret.",
    ),
    db: str = DbOption,
) -> None:
    """Register a client; prints JSON {"client_id": …, "client_secret": …} (the secret is shown
    once and stored hashed; null for a public client or one with --jwks). Nothing else goes to
    standard output."""
    from hygie.auth import clients

    scopes = " ".join(scope)
    if not scopes.strip() and not redirect_uri:
        _fail("give at least one --scope (e.g. --scope system/*.rs)", 2)
    if public and not redirect_uri:
        _fail("a public client needs --redirect-uri", 2)
    key_set = None
    if jwks:
        try:
            key_set = orjson.loads(open(jwks, "rb").read())
        except (OSError, orjson.JSONDecodeError) as exc:
            _fail(f"cannot read the JWK Set {jwks}: {exc}", 2)
    repo = _open(db)
    try:
        try:
            client, secret = clients.create(
                repo.backend,
                name,
                scopes,
                redirect_uris=tuple(redirect_uri),
                public=public,
                jwks=key_set,
            )
        except ValueError as exc:
            _fail(str(exc), 2)
        _out({"client_id": client.client_id, "client_secret": secret})
    finally:
        repo.close()


@client_app.command("list")
def client_list(db: str = DbOption) -> None:
    """The clients, one JSON object a line (never their secrets)."""
    from hygie.auth import clients

    repo = _open(db)
    try:
        for c in clients.all_clients(repo.backend):
            _out(
                {
                    "client_id": c.client_id,
                    "name": c.name,
                    "scope": " ".join(sorted(c.scope)),
                    "redirect_uris": list(c.redirect_uris),
                    "confidential": c.confidential,
                    "revoked": c.revoked,
                }
            )
    finally:
        repo.close()


@client_app.command("revoke")
def client_revoke(
    client_id: str = typer.Argument(..., help="The client to revoke."), db: str = DbOption
) -> None:
    """Revoke a client: it gets no more tokens and its refresh tokens stop working (access tokens
    already issued expire on their own, within their lifetime)."""
    from hygie.auth import clients

    repo = _open(db)
    try:
        if not clients.revoke(repo.backend, client_id):
            _fail(f"no client '{client_id}'")
        typer.echo(f"revoked {client_id}", err=True)
    finally:
        repo.close()


def _account(repo, username: str):
    from hygie.auth import accounts

    acc = accounts.by_username(repo.backend, username)
    if acc is None:
        _fail(f"no account '{username}'")
    return acc


@user_app.command("password")
def user_password(
    username: str = typer.Argument(..., help="The login name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
    db: str = DbOption,
) -> None:
    """Set a new password (ends the account's sessions and refresh tokens; unlocks it)."""
    from hygie.auth import accounts
    from hygie.auth.passwords import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Mot de passe", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < 8:
        _fail("the password needs at least 8 characters", 2)
    repo = _open(db)
    try:
        acc = _account(repo, username)
        accounts.update(
            repo.backend, acc.id, password_hash=hash_password(password), failed=0, locked_until=0
        )
        typer.echo(f"password of {username} changed", err=True)
    finally:
        repo.close()


@user_app.command("disable")
def user_disable(
    username: str = typer.Argument(..., help="The login name."),
    enable: bool = typer.Option(False, "--enable", help="Enable the account again instead."),
    db: str = DbOption,
) -> None:
    """Disable an account: no more logins, its sessions and refresh tokens end (access tokens
    already issued expire within their lifetime)."""
    from hygie.auth import accounts

    repo = _open(db)
    try:
        acc = _account(repo, username)
        accounts.update(repo.backend, acc.id, disabled=0 if enable else 1)
        typer.echo(f"{username} {'enabled' if enable else 'disabled'}", err=True)
    finally:
        repo.close()


@user_app.command("unlock")
def user_unlock(
    username: str = typer.Argument(..., help="The login name."), db: str = DbOption
) -> None:
    """Lift a lockout after failed logins."""
    from hygie.auth import accounts

    repo = _open(db)
    try:
        acc = _account(repo, username)
        accounts.update(repo.backend, acc.id, failed=0, locked_until=0)
        typer.echo(f"{username} unlocked", err=True)
    finally:
        repo.close()


@user_app.command("totp-reset")
def user_totp_reset(
    username: str = typer.Argument(..., help="The login name."), db: str = DbOption
) -> None:
    """Give the account a new TOTP secret (a lost phone); prints JSON with the otpauth:// URI,
    shown once."""
    from hygie.auth import accounts, totp

    repo = _open(db)
    try:
        acc = _account(repo, username)
        secret = totp.new_secret()
        accounts.update(repo.backend, acc.id, totp_secret=secret, totp_last_step=0)
        _out(
            {
                "username": username,
                "totp_secret": secret,
                "totp_uri": totp.provisioning_uri(secret, username),
            }
        )
    finally:
        repo.close()


keys_app = typer.Typer(help="The provider's token-signing keys.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(db: str = DbOption) -> None:
    """Add a new signing key; it signs from now on, older keys keep verifying. Restart the
    server (or wait: workers load a key they do not know on first sight)."""
    from hygie.auth.keys import KeyRing

    repo = _open(db)
    try:
        _out({"kid": KeyRing(repo.backend).rotate()})
    finally:
        repo.close()


@keys_app.command("retire")
def keys_retire(
    kid: str = typer.Argument(..., help="Keep this key and newer ones; stop trusting older keys."),
    db: str = DbOption,
) -> None:
    """Stop trusting keys older than KID (once the tokens they signed have expired)."""
    from hygie.auth.keys import KeyRing

    repo = _open(db)
    try:
        ring = KeyRing(repo.backend)
        if kid not in {k["kid"] for k in ring.jwks()["keys"]}:
            _fail(f"no active key '{kid}'")
        ring.retire_before(kid)
        _out({"active": [k["kid"] for k in KeyRing(repo.backend).jwks()["keys"]]})
    finally:
        repo.close()
