"""RNIV status transitions: every pair of statuses, with and without the evidence each needs."""

from __future__ import annotations

from itertools import product

import pytest

from hygie.services.identity import status as s
from hygie.services.identity.status import Evidence, transition_problems

PAIRS = [(a, b) for a, b in product(s.STATUSES, repeat=2) if a != b]
FULL = Evidence(reason="checked at admission", document="CN", insi_ok=True)


def allowed(current, target, evidence, now=frozenset(), after=frozenset()):
    return not transition_problems(current, target, set(now), set(after), evidence)


def needs(current, target):
    r0, v0 = s.criteria(current)
    r1, v1 = s.criteria(target)
    return (r1 and not r0), (v1 and not v0)


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_every_transition_with_full_evidence_is_allowed(current, target):
    assert allowed(current, target, FULL)


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_without_insi_retrieval(current, target):
    gains_r, _ = needs(current, target)
    ok = allowed(current, target, Evidence(reason="x", document="PA", insi_ok=False))
    assert ok is (not gains_r)
    if gains_r:
        problems = transition_problems(current, target, set(), set(), Evidence("x", "PA"))
        assert any("INSi" in p for p in problems)


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_without_document(current, target):
    _, gains_v = needs(current, target)
    assert allowed(current, target, Evidence(reason="x", insi_ok=True)) is (not gains_v)


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_with_a_low_trust_document(current, target):
    _, gains_v = needs(current, target)
    assert allowed(current, target, Evidence("x", "carte-vitale", insi_ok=True)) is (not gains_v)


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_without_reason(current, target):
    assert not allowed(current, target, Evidence(None, "CN", insi_ok=True))
    assert not allowed(current, target, Evidence("  ", "CN", insi_ok=True))


@pytest.mark.parametrize("code", s.STATUSES)
def test_same_status_is_refused(code):
    problems = transition_problems(code, code, set(), set(), FULL)
    assert problems == [f"the identity is already {s.LABELS[code]} ({code})"]


@pytest.mark.parametrize("code", s.STATUSES)
def test_same_status_with_new_attribute_is_a_change(code):
    assert allowed(code, code, FULL, after={"HOMD"})


def test_unknown_status():
    assert transition_problems("PROV", "VALIDE", set(), set(), FULL)[0].startswith("unknown")


@pytest.mark.parametrize("attr", ["DOUT", "FICT"])
@pytest.mark.parametrize("target", [s.RECUP, s.VALI, s.QUAL])
def test_doubtful_or_fictitious_identity_stays_provisional(attr, target):
    assert not allowed(s.PROV, target, FULL, now={attr}, after={attr})
    assert allowed(s.PROV, target, FULL, now={attr}, after=set())  # attribute lifted first


@pytest.mark.parametrize("attr", ["DOUT", "FICT"])
def test_marking_doubtful_downgrades_to_provisional(attr):
    assert allowed(s.QUAL, s.PROV, Evidence("document looks forged"), after={attr})
    assert not allowed(s.QUAL, s.QUAL, FULL, after={attr})


def test_doubtful_and_fictitious_never_combined():
    problems = transition_problems(s.PROV, s.PROV, set(), {"DOUT", "FICT"}, FULL)
    assert any("may not be combined" in p for p in problems)


def test_insi_may_not_be_queried_for_a_doubtful_identity():
    problems = transition_problems(s.PROV, s.RECUP, {"DOUT"}, {"DOUT"}, FULL)
    assert any("may not be queried" in p for p in problems)


@pytest.mark.parametrize(
    ("case", "doc"),
    [
        ("care-home", "LECV"),
        ("care-home", "ANCV"),
        ("minor", "AN"),
        ("minor", "LEP"),
        ("minor", "CC"),
    ],
)
def test_2024_special_cases(case, doc):
    assert not allowed(s.RECUP, s.QUAL, Evidence("x", doc))
    assert allowed(s.RECUP, s.QUAL, Evidence("x", doc, case))
    other = "minor" if case == "care-home" else "care-home"
    assert not allowed(s.RECUP, s.QUAL, Evidence("x", doc, other))


@pytest.mark.parametrize("doc", sorted(s.HIGH_TRUST))
def test_high_trust_documents(doc):
    assert allowed(s.PROV, s.VALI, Evidence("x", doc))


def test_downgrades_need_only_a_reason():
    for current, target in PAIRS:
        if not any(needs(current, target)):
            assert allowed(current, target, Evidence("INS proved wrong"))
