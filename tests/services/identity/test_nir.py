"""NIR/NIA structure and key: one test per error kind, Corsica, and the INS systems."""

from __future__ import annotations

import pytest

from hygie.services.identity import nir

VALID = nir.with_key("1840375056123")  # male, March 1984, Paris, order 123


def kinds(value: str) -> list[str]:
    return [p.kind for p in nir.problems(value)]


def test_valid_nir_and_key_arithmetic():
    assert nir.is_valid(VALID)
    assert int(VALID[-2:]) == 97 - int(VALID[:13]) % 97


@pytest.mark.parametrize("value", [VALID[:14], VALID + "1", "", VALID[:13]])
def test_length(value):
    assert kinds(value) == ["length"]
    assert f"has {len(value)} characters" in nir.problems(value)[0].message


@pytest.mark.parametrize("value", ["18403750561X3" + "00", "1 8403750561234", "184037505612A45"])
def test_characters(value):
    assert kinds(value) == ["characters"]


@pytest.mark.parametrize("sex", "0569")
def test_sex(sex):
    value = nir.with_key(sex + VALID[1:13])
    assert kinds(value) == ["sex"]


@pytest.mark.parametrize("sex", "123478")
def test_accepted_sexes(sex):
    assert nir.is_valid(nir.with_key(sex + VALID[1:13]))


@pytest.mark.parametrize("month", ["00", "13", "19", "43", "49"])
def test_month(month):
    value = nir.with_key(VALID[:3] + month + VALID[5:13])
    assert kinds(value) == ["month"]
    assert f"'{month}'" in nir.problems(value)[0].message


@pytest.mark.parametrize("month", ["01", "12", "20", "42", "50", "99"])
def test_unknown_or_special_months_are_accepted(month):
    assert nir.is_valid(nir.with_key(VALID[:3] + month + VALID[5:13]))


def test_department():
    assert kinds(nir.with_key(VALID[:5] + "00" + VALID[7:13])) == ["department"]


def test_order():
    assert kinds(nir.with_key(VALID[:10] + "000")) == ["order"]


def test_key():
    wrong = VALID[:13] + f"{(int(VALID[13:]) % 97) + 1:02d}"
    assert kinds(wrong) == ["key"]
    assert f"{VALID[13:]} expected" in nir.problems(wrong)[0].message


def test_several_problems_are_reported_together():
    value = "5" + "8413" + VALID[5:13] + "00"
    assert kinds(value) == ["sex", "month", "key"]


@pytest.mark.parametrize(("dept", "digits"), [("2A", "19"), ("2B", "18")])
def test_corsica_key_uses_19_and_18(dept, digits):
    first13 = f"18403{dept}004017"
    key = 97 - int(first13.replace(dept, digits)) % 97
    assert nir.control_key(first13) == key
    assert nir.is_valid(f"{first13}{key:02d}")
    assert nir.is_valid(f"{first13.replace(dept, dept.lower())}{key:02d}")
    assert kinds(f"{first13}{(key % 97) + 1:02d}") == ["key"]


def test_born_abroad_department_99():
    assert nir.is_valid(nir.with_key("2910399100044"))


def test_ins_systems_are_the_fr_core_oids():
    assert nir.INS_SYSTEMS[nir.NIR_SYSTEM][0] == "INS-NIR"
    assert nir.NIR_SYSTEM.endswith(".4.8") and nir.NIA_SYSTEM.endswith(".4.9")
    assert nir.FICTITIOUS_SYSTEMS == {
        "urn:oid:1.2.250.1.213.1.4.10",
        "urn:oid:1.2.250.1.213.1.4.11",
    }
