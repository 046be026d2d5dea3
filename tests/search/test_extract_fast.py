"""The generated extractors (codegen.py) give the rows of the reference one (index.py), table by
table, on the demo population, on random resources built from the StructureDefinitions and
with custom SearchParameters registered."""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.demo.population import population
from hygie.fhir.definitions import resource_types, structure_definitions
from hygie.search import codegen, custom, registry
from hygie.search.index import extract, extract_reference

RESOURCE_TYPES = resource_types()
CLINICAL = ["Patient", "Observation", "Encounter", "Condition", "MedicationRequest"]


def same_rows(resource: dict[str, Any]) -> None:
    try:
        expected = extract_reference(resource)
    except Exception as exc:  # noqa: BLE001 - the generated one must fail alike
        with pytest.raises(type(exc)):
            extract(resource)
        return
    got = extract(resource)
    assert list(got) == list(expected)
    for table in expected:
        assert Counter(got[table]) == Counter(expected[table]), (table, resource)
        assert len(set(got[table])) == len(got[table])  # de-duplicated as the reference


def test_demo_population_every_type():
    seen = Counter()
    for resource in population(60, 2026):
        seen[resource["resourceType"]] += 1
        same_rows(resource)
    assert {"Patient", "Observation", "Encounter", "Condition", "Practitioner"} <= set(seen)


# -- random resources from the StructureDefinitions --------------------------------------------


@cache
def _elements() -> dict[str, list[tuple[str, list[str], bool, str | None]]]:
    """Context -> [(name, type codes, repeats, contentReference)] of its direct children."""
    out: dict[str, list[tuple[str, list[str], bool, str | None]]] = {}
    for sd in structure_definitions().values():
        for el in sd.get("snapshot", {}).get("element", []):
            path = el["path"]
            if "." not in path:
                continue
            parent, name = path.rsplit(".", 1)
            codes = [t["code"] for t in el.get("type", [])]
            ref = el.get("contentReference")
            repeats = el.get("max", "1") != "1"
            out.setdefault(parent, []).append((name, codes, repeats, ref[1:] if ref else None))
    return out


TEXTS = ["Dupont", "Hélène", "  De La  Fontaine ", "ŒUVRE", "", "x" * 600, "final", "12"]
CODES = ["final", "male", "female", "active", "phone", "email", "8867-4", "a|b", "", "Cel"]
SYSTEMS = [
    "http://loinc.org",
    "http://snomed.info/sct",
    "urn:oid:1.2.250.1.213.1.4.8",
    "http://unitsofmeasure.org",
    None,
]
DATES = [
    "2024",
    "2024-03",
    "2024-03-01",
    "2024-03-01T10:00:00+01:00",
    "2024-03-01T10:00Z",
    "2023-12-31T23:59:59.123456-05:00",
    "2024-02-29T00:00:00.5Z",
    "1980-05-12T08:30",
    "not-a-date",
    "2024-13",
]
REFERENCES = [
    "Patient/p1",
    "Practitioner/dr1",
    "http://other/fhir/Patient/p9",
    "Encounter/e1/_history/2",
    "urn:uuid:0f0e1d2c-0000-4000-8000-000000000000",
    "#contained",
    "Organization/o1/",
    "RelatedPerson/r1",
    "Group/g1",
    "Device/d1",
    "Location/l1",
    "http://x/ValueSet/v|1.0",
    "Nonsense/zz",
    "Patient",
    "",
]
URIS = [
    "http://x/y",
    "urn:uuid:1",
    "http://hl7.org/fhir/StructureDefinition/Patient|4.0.1",
    "Patient/p1",
    "",
]
EXTENSION_URLS = [
    "http://hygie.test/ext/a",
    "http://hygie.test/ext/b",
    "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
]
DECIMALS = st.one_of(
    st.sampled_from([0, 1, 7.2, 37.9, 100, 1e2, -3.5, 1.50, 0.001]),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False),
)
QUANTITY_KINDS = {"Quantity", "Age", "Distance", "Duration", "Count", "SimpleQuantity"}


def maybe_list(draw, strategy, repeats: bool):
    if repeats:
        items = draw(st.lists(strategy, min_size=1, max_size=3))
        # a lone value where a list is expected: the walkers take both
        return items[0] if len(items) == 1 and draw(st.integers(0, 9)) == 0 else items
    return draw(strategy)


def quantity(kind: str = "Quantity"):
    return st.fixed_dictionaries(
        {},
        optional={
            "value": DECIMALS,
            "unit": st.sampled_from(["kg", "Cel", "mmol/L", "g", "a"]),
            "system": st.sampled_from(["http://unitsofmeasure.org", "urn:iso:std:iso:4217"]),
            "code": st.sampled_from(["kg", "Cel", "mmol/L", "[lb_av]", "EUR"]),
            **({"comparator": st.sampled_from(["<", ">="])} if kind != "SimpleQuantity" else {}),
        },
    )


def coding():
    return st.fixed_dictionaries(
        {},
        optional={
            "system": st.sampled_from([s for s in SYSTEMS if s]),
            "code": st.sampled_from(CODES),
            "display": st.sampled_from(TEXTS),
        },
    )


def codeable():
    return st.fixed_dictionaries(
        {}, optional={"coding": st.lists(coding(), max_size=3), "text": st.sampled_from(TEXTS)}
    )


def reference():
    return st.fixed_dictionaries(
        {},
        optional={
            "reference": st.sampled_from(REFERENCES),
            "type": st.sampled_from(["Patient", "Practitioner", "Group"]),
            "identifier": st.fixed_dictionaries(
                {"system": st.sampled_from(SYSTEMS[:3]), "value": st.sampled_from(["1", "x"])}
            ),
            "display": st.sampled_from(TEXTS),
        },
    )


def period():
    return st.fixed_dictionaries(
        {}, optional={"start": st.sampled_from(DATES), "end": st.sampled_from(DATES)}
    )


def primitive(code: str):
    if code == "boolean":
        return st.booleans()
    if code in ("integer", "positiveInt", "unsignedInt", "integer64"):
        return st.integers(-5, 10_000)
    if code == "decimal":
        return DECIMALS
    if code in ("date", "dateTime", "instant", "time"):
        return st.sampled_from(DATES)
    if code in ("uri", "url", "canonical", "oid", "uuid"):
        return st.sampled_from(URIS + REFERENCES[:3])
    if code in ("code", "id"):
        return st.sampled_from(CODES)
    if code == "base64Binary":
        return st.just("aGVsbG8=")
    return st.sampled_from(TEXTS)  # string, markdown, http://hl7.org/fhirpath/System.String


def extension(depth: int):
    value_types = [
        "string",
        "Coding",
        "CodeableConcept",
        "Reference",
        "Quantity",
        "dateTime",
        "Address",
        "boolean",
        "Period",
        "integer",
    ]

    @st.composite
    def build(draw):
        ext = {"url": draw(st.sampled_from(EXTENSION_URLS))}
        if depth > 0 and draw(st.integers(0, 4)) == 0:
            ext["extension"] = draw(st.lists(extension(depth - 1), min_size=1, max_size=2))
        else:
            t = draw(st.sampled_from(value_types))
            ext["value" + t[0].upper() + t[1:]] = draw(of_type(t, depth - 1))
        return ext

    return build()


def of_type(code: str, depth: int, context: str | None = None):
    """Values of FHIR type `code` (or of the backbone element `context`)."""
    if context is not None:
        return complex_of(context, depth)
    if code[:1].islower() or code.startswith("http://"):
        return primitive(code)
    if code in QUANTITY_KINDS:
        return quantity(code)
    if code == "Money":
        return st.fixed_dictionaries(
            {}, optional={"value": DECIMALS, "currency": st.sampled_from(["EUR", "USD"])}
        )
    if code == "Range":
        return st.fixed_dictionaries({}, optional={"low": quantity(), "high": quantity()})
    if code == "Coding":
        return coding()
    if code == "CodeableConcept":
        return codeable()
    if code == "Reference":
        return reference()
    if code == "Period":
        return period()
    if code == "Extension":
        return extension(depth)
    if code == "Timing":
        return st.fixed_dictionaries(
            {},
            optional={
                "event": st.lists(st.sampled_from(DATES), max_size=2),
                "repeat": st.fixed_dictionaries({}, optional={"boundsPeriod": period()}),
            },
        )
    if code in ("Resource", "BackboneElement", "Element") or depth <= 0:
        return st.just({})
    return complex_of(code, depth)


def complex_of(context: str, depth: int):
    @st.composite
    def build(draw):
        out: dict[str, Any] = {}
        for name, codes, repeats, ref in _elements().get(context, ()):
            if name in ("id", "contained", "modifierExtension") or not draw(
                st.integers(0, 9).map(lambda n: n < (5 if context in RESOURCE_TYPES else 3))
            ):
                continue
            if name == "extension":
                if depth > 0:
                    out[name] = draw(st.lists(extension(depth - 1), min_size=1, max_size=2))
                continue
            if ref is not None:
                if depth > 0:
                    out[name] = maybe_list(draw, complex_of(ref, depth - 1), repeats)
                continue
            if not codes:
                continue
            if name.endswith("[x]"):
                code = draw(st.sampled_from(codes))
                key = name[:-3] + code[0].upper() + code[1:]
                out[key] = draw(of_type(code, depth - 1))
                continue
            code = codes[0]
            backbone = f"{context}.{name}" if code in ("BackboneElement", "Element") else None
            if backbone is not None and depth <= 0:
                continue
            out[name] = maybe_list(draw, of_type(code, depth - 1, backbone), repeats)
        return out

    return build()


@st.composite
def resource(draw, rtypes: list[str], depth: int = 3):
    rtype = draw(st.sampled_from(rtypes))
    body = draw(complex_of(rtype, depth))
    body.pop("resourceType", None)
    out = {"resourceType": rtype, **body}
    if draw(st.booleans()):
        out["id"] = draw(st.sampled_from(["r1", "abc-2", ""]))
    return out


RANDOM = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@RANDOM
@given(resource(CLINICAL))
def test_random_clinical_resources(r):
    same_rows(r)


@pytest.mark.parametrize("rtype", sorted(resource_types()))
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_resources_of_every_type(rtype, data):
    same_rows(data.draw(resource([rtype], depth=2)))


def test_scalars_lists_and_odd_values():
    for r in [
        {
            "resourceType": "Patient",
            "id": "p",
            "gender": ["male", 3],
            "name": {"family": "X"},
            "deceasedBoolean": False,
            "birthDate": "1980",
            "telecom": {"system": "phone", "value": 1},
        },
        {"resourceType": "Patient", "deceasedDateTime": "2020", "link": [{"other": "Patient/x"}]},
        {
            "resourceType": "Observation",
            "status": 3,
            "code": "8867-4",
            "valueQuantity": 7,
            "component": [{"code": {"text": "t"}, "valueQuantity": {"value": "1.50"}}, "x"],
            "subject": "Patient/p1",
        },
        {
            "resourceType": "Observation",
            "code": {"coding": [{"code": "a"}, {"system": "s"}]},
            "valueString": "abc",
            "valueQuantity": {"value": True},
            "effectiveTiming": {},
        },
        {"resourceType": "Encounter", "subject": {"resourceType": "Patient", "id": "p"}},
        {
            "resourceType": "MedicationRequest",
            "medicationReference": {"reference": "#m"},
            "subject": {"identifier": {"system": "s", "value": "v"}},
        },
    ]:
        same_rows(r)


# -- custom SearchParameters ------------------------------------------------------------------

CUSTOM = [
    {
        "url": "http://hygie.test/sp/ext",
        "code": "ext-city",
        "base": ["Patient"],
        "type": "string",
        "expression": f"Patient.extension('{EXTENSION_URLS[0]}').value",
    },
    {
        "url": "http://hygie.test/sp/multiple",
        "code": "multiple",
        "base": ["Patient"],
        "type": "number",
        "expression": "Patient.multipleBirth",
    },  # the pre-filter skips it
    {
        "url": "http://hygie.test/sp/fp",
        "code": "given-first",
        "base": ["Patient"],
        "type": "string",
        "expression": "Patient.name.given.first()",
    },  # a fhirpathpy fallback
    {
        "url": "http://hygie.test/sp/gp",
        "code": "gp-org",
        "base": ["Patient"],
        "type": "reference",
        "expression": "Patient.generalPractitioner.where(resolve() is Organization)",
    },
    {
        "url": "http://hygie.test/sp/vq",
        "code": "value-qty",
        "base": ["Observation"],
        "type": "quantity",
        "expression": "(Observation.value as Quantity) | Observation.component.value.ofType(Quantity)",
    },
    {
        "url": "http://hygie.test/sp/cvq",
        "code": "my-code-value",
        "base": ["Observation"],
        "type": "composite",
        "expression": "Observation",
        "component": [
            {
                "definition": "http://hl7.org/fhir/SearchParameter/clinical-code",
                "expression": "code",
            },
            {
                "definition": "http://hl7.org/fhir/SearchParameter/Observation-value-quantity",
                "expression": "value.as(Quantity)",
            },
        ],
    },
]


@pytest.fixture
def customs(monkeypatch):
    params = custom.compile_all(
        [{"resourceType": "SearchParameter", "status": "active", **sp} for sp in CUSTOM]
    )
    monkeypatch.setattr(custom._state, "backend", None)
    monkeypatch.setattr(custom._state, "params", params)
    registry.custom_changed()
    yield params
    monkeypatch.undo()
    registry.custom_changed()


def test_custom_parameters_regenerate_the_extractor(customs):
    assert "multiple" in registry.params_for("Patient")
    assert "extract_Patient" in codegen.source("Patient")
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "multipleBirthInteger": 2,
        "name": [{"given": ["Ana", "Bea"]}],
        "generalPractitioner": [{"reference": "Organization/o1"}, {"reference": "Practitioner/x"}],
        "extension": [
            {"url": EXTENSION_URLS[0], "valueString": "Nantes"},
            {"url": EXTENSION_URLS[1], "valueString": "Brest"},
        ],
    }
    rows = extract(patient)
    key = registry.params_for("Patient")["ext-city"].key
    assert (key, "nantes", "Nantes") in rows["idx_string"]
    assert (key, "brest", "Brest") not in rows["idx_string"]
    key = registry.params_for("Patient")["given-first"].key
    strings = rows["idx_string"]
    assert (key, "ana", "Ana") in strings and (key, "bea", "Bea") not in strings
    key = registry.params_for("Patient")["multiple"].key
    assert not [r for r in rows["idx_number"] if r[0] == key]  # as the reference (pre-filter)
    same_rows(patient)
    obs = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "s", "code": "c"}]},
        "valueQuantity": {"value": 3, "code": "kg"},
        "component": [{"valueQuantity": {"value": 1}}],
    }
    same_rows(obs)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(r=resource(["Patient", "Observation"]))
def test_random_resources_with_custom_parameters(customs, r):
    same_rows(r)


def test_cache_follows_the_plan(customs):
    first = codegen.extractor("Patient")
    assert codegen.extractor("Patient") is first
    registry.custom_changed()
    assert codegen.extractor("Patient") is not first


def test_a_generation_failure_falls_back_to_the_reference(monkeypatch):
    def broken(rtype, plan):
        raise RuntimeError("codegen bug")

    monkeypatch.setattr(codegen, "generate", broken)
    monkeypatch.setattr(codegen, "_cache", {})
    assert codegen.extractor("Patient") is extract_reference
    same_rows({"resourceType": "Patient", "id": "p", "gender": "male"})


def test_unknown_resource_type():
    same_rows({"resourceType": "Not-A-Type", "id": "x"})
