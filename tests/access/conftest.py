"""The secure fixtures of tests/auth (tokens required), for the REST tests of the policy."""

from tests.auth.conftest import auth_repo, secure_live_server  # noqa: F401
