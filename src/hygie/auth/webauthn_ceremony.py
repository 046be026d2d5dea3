"""WebAuthn registration and authentication ceremonies (py_webauthn), bound to the provider's
origin: the relying party id is the issuer's host name (WebAuthn forbids IP addresses: serve the
provider under a host name, e.g. `localhost` in development)."""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
import webauthn
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

RP_NAME = "Hygie"


def rp_of(issuer: str) -> tuple[str, str]:
    """(relying party id, expected origin) of an issuer URL."""
    parts = urlsplit(issuer)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def registration_options(
    issuer: str, account_id: str, username: str, display: str | None, existing: list[str]
) -> tuple[str, str]:
    """(options as JSON for navigator.credentials.create, challenge base64url)."""
    rp_id, _ = rp_of(issuer)
    opts = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_name=username,
        user_id=account_id.encode(),
        user_display_name=display or username,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing
        ],
    )
    return webauthn.options_to_json(opts), bytes_to_base64url(opts.challenge)


def verify_registration(issuer: str, credential: dict, challenge: str) -> tuple[str, str, int]:
    """(credential id, public key, sign count), base64url; raises on a bad attestation."""
    rp_id, origin = rp_of(issuer)
    reg = webauthn.verify_registration_response(
        credential=credential,
        expected_challenge=base64url_to_bytes(challenge),
        expected_rp_id=rp_id,
        expected_origin=origin,
    )
    return (
        bytes_to_base64url(reg.credential_id),
        bytes_to_base64url(reg.credential_public_key),
        reg.sign_count,
    )


def authentication_options(issuer: str, credential_ids: list[str]) -> tuple[str, str]:
    rp_id, _ = rp_of(issuer)
    opts = webauthn.generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in credential_ids
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return webauthn.options_to_json(opts), bytes_to_base64url(opts.challenge)


def verify_authentication(
    issuer: str, credential: dict, challenge: str, public_key: str, sign_count: int
) -> int:
    """The new sign count; raises when the assertion is not valid."""
    rp_id, origin = rp_of(issuer)
    auth = webauthn.verify_authentication_response(
        credential=credential,
        expected_challenge=base64url_to_bytes(challenge),
        expected_rp_id=rp_id,
        expected_origin=origin,
        credential_public_key=base64url_to_bytes(public_key),
        credential_current_sign_count=sign_count,
    )
    return auth.new_sign_count


def loads(body: bytes) -> dict:
    return orjson.loads(body)
