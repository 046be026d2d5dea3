"""SMART on FHIR scope parsing and matching (SMART App Launch v2.2, scopes-and-launch-context)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hygie.access import scopes
from hygie.access.scopes import ScopeError, allows, granting_contexts, parse, split, supported

INTERACTIONS = list(scopes.INTERACTION_PERMISSION)


def fs(*s: str) -> frozenset[str]:
    return frozenset(s)


@pytest.mark.parametrize(
    ("text", "context", "rtype", "perms", "query"),
    [
        ("patient/*.rs", "patient", "*", "rs", None),
        ("user/Observation.cruds", "user", "Observation", "cruds", None),
        ("system/*.rs", "system", "*", "rs", None),
        ("patient/Observation.r", "patient", "Observation", "r", None),
        ("user/Patient.cud", "user", "Patient", "cud", None),
        (
            "patient/Observation.rs?category=laboratory",
            "patient",
            "Observation",
            "rs",
            "category=laboratory",
        ),
        # v1, mapped per the guide
        ("patient/*.read", "patient", "*", "rs", None),
        ("user/Observation.write", "user", "Observation", "cud", None),
        ("system/Patient.*", "system", "Patient", "cruds", None),
    ],
)
def test_parse(text, context, rtype, perms, query):
    s = parse(text)
    assert s is not None
    assert (s.context, s.rtype, s.permissions, s.query) == (context, rtype, frozenset(perms), query)


@pytest.mark.parametrize(
    "text",
    [
        "patient/*.sr",
        "user/Observation.rr",
        "user/Observation.x",
        "system/observation.rs",
        "patient/*.",
        "user/.rs",
        "patient/Observation",
        "patient/*.cruds.extra",
    ],
)
def test_malformed_raises(text):
    with pytest.raises(ScopeError):
        parse(text)


@pytest.mark.parametrize(
    "text", ["openid", "fhirUser", "launch/patient", "offline_access", "profile", "launch"]
)
def test_identity_scopes_are_not_resource_scopes(text):
    assert parse(text) is None
    assert supported(text)
    for i in INTERACTIONS:
        assert not allows(fs(text), "practitioner", "Patient", i)


def test_str_round_trip_normalises_v1():
    assert str(parse("patient/*.read")) == "patient/*.rs"
    assert str(parse("user/Observation.cruds")) == "user/Observation.cruds"


def test_permission_table():
    # c create; r read, vread, instance history; u update, patch; d delete; s search, type history
    assert allows(fs("user/Observation.c"), "practitioner", "Observation", "create")
    for i in ("read", "vread", "history-instance"):
        assert allows(fs("user/Observation.r"), "practitioner", "Observation", i)
        assert not allows(fs("user/Observation.s"), "practitioner", "Observation", i)
    for i in ("update", "patch"):
        assert allows(fs("user/Observation.u"), "practitioner", "Observation", i)
        assert not allows(fs("user/Observation.c"), "practitioner", "Observation", i)
    assert allows(fs("user/Observation.d"), "practitioner", "Observation", "delete")
    for i in ("search", "history"):
        assert allows(fs("user/Observation.s"), "practitioner", "Observation", i)
        assert not allows(fs("user/Observation.r"), "practitioner", "Observation", i)


def test_type_and_wildcard():
    assert allows(fs("patient/*.rs"), "patient", "Condition", "search")
    assert not allows(fs("patient/Observation.rs"), "patient", "Condition", "read")
    assert allows(
        fs("patient/Observation.rs", "patient/Condition.r"), "patient", "Condition", "read"
    )
    assert not allows(fs("patient/*.rs"), "patient", "Condition", "create")


def test_contexts_by_kind():
    assert allows(fs("system/*.rs"), "client", "Patient", "read")
    assert not allows(fs("user/*.rs"), "client", "Patient", "read")
    assert not allows(fs("patient/*.rs"), "client", "Patient", "read")
    assert not allows(fs("system/*.rs"), "practitioner", "Patient", "read")
    assert allows(fs("user/*.rs"), "practitioner", "Patient", "read")
    assert allows(fs("patient/*.rs"), "representative", "Patient", "read")
    assert not allows(fs("system/*.cruds"), "patient", "Patient", "read")
    assert not allows(fs("user/*.cruds"), "stranger", "Patient", "read")
    # the server itself is not bound by scopes
    assert allows(frozenset(), "system", "Patient", "delete")


def test_granting_contexts_tells_patient_only_grants():
    got = granting_contexts(fs("patient/*.rs", "user/Observation.rs"), "Condition", "read")
    assert got == {"patient"}
    got = granting_contexts(fs("patient/*.rs", "user/Observation.rs"), "Observation", "read")
    assert got == {"patient", "user"}


def test_query_constrained_scope_grants_nothing_and_is_unsupported():
    s = fs("patient/Observation.rs?category=laboratory")
    assert not allows(s, "patient", "Observation", "read")
    assert not supported("patient/Observation.rs?category=laboratory")
    assert supported("patient/Observation.rs")
    assert not supported("patient/Observation.rx")


def test_malformed_scope_grants_nothing():
    assert not allows(fs("user/*.zz"), "practitioner", "Patient", "read")


def test_unknown_interaction():
    with pytest.raises(ValueError):
        allows(fs("user/*.cruds"), "practitioner", "Patient", "dance")


def test_split():
    assert split("openid  fhirUser patient/*.rs") == {"openid", "fhirUser", "patient/*.rs"}
    assert split(None) == frozenset()


@given(
    perms=st.sets(st.sampled_from("cruds"), min_size=1),
    rtype=st.sampled_from(["Patient", "Observation", "*"]),
    asked=st.sampled_from(["Patient", "Observation", "Condition"]),
    interaction=st.sampled_from(INTERACTIONS),
)
def test_property_grant_iff_letter_and_type(perms, rtype, asked, interaction):
    text = "user/" + rtype + "." + "".join(p for p in "cruds" if p in perms)
    expected = scopes.INTERACTION_PERMISSION[interaction] in perms and rtype in ("*", asked)
    assert allows(fs(text), "practitioner", asked, interaction) is expected
