"""Structural validation against the real vendored R4 definitions (no mocks)."""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.fhir._valid_primitives import primitive_checks, spec_regex
from hygie.fhir.definitions import structure_definitions
from hygie.fhir.outcome import Issue
from hygie.fhir.validation import validate

UUID = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "pat-1",
        "meta": {"versionId": "2", "lastUpdated": "2024-05-01T10:00:00.123+02:00"},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">Camille</div>',
        },
        "contained": [
            {"resourceType": "Organization", "id": "org1", "name": "Clinique du Parc"},
            {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Durand"}]},
        ],
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-nationality",
                "extension": [
                    {
                        "url": "code",
                        "valueCodeableConcept": {
                            "coding": [{"system": "urn:iso:std:iso:3166", "code": "FR"}]
                        },
                    },
                    {"url": "period", "valuePeriod": {"start": "2001"}},
                ],
            },
            {"url": "http://example.org/fhir/StructureDefinition/rank", "valuePositiveInt": 3},
        ],
        "modifierExtension": [
            {"url": "http://example.org/fhir/StructureDefinition/m", "valueBoolean": False}
        ],
        "identifier": [
            {
                "use": "official",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NH"}
                    ]
                },
                "system": "urn:oid:1.2.250.1.213.1.4.8",
                "value": "1800175123456",
                "period": {"start": "2018-01-01", "end": "2030-12-31T23:59:59Z"},
                "assigner": {"reference": "#org1", "display": "Clinique du Parc"},
            }
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": "Martin",
                "given": ["Camille", "Marie"],
                "prefix": ["Mme"],
            },
            {
                "use": "usual",
                "given": [None, "Cam"],
                "_given": [{"extension": [_data_absent()]}, None],
            },
        ],
        "telecom": [
            {"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile", "rank": 1},
            {"system": "email", "value": "camille@example.org"},
        ],
        "gender": "female",
        "birthDate": "1980-02-29",
        "_birthDate": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "valueDateTime": "1980-02-29T14:35:45+01:00",
                }
            ]
        },
        "deceasedBoolean": False,
        "address": [
            {
                "use": "home",
                "type": "both",
                "line": ["1 rue de la Paix", "Bât. B"],
                "city": "Paris",
                "postalCode": "75002",
                "country": "FR",
                "period": {"start": "2010-06"},
            }
        ],
        "maritalStatus": {"text": "mariée"},
        "multipleBirthInteger": 2,
        "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo=", "size": 8}],
        "contact": [
            {
                "relationship": [{"text": "sister"}],
                "name": {"family": "Martin", "given": ["Léa"]},
                "gender": "female",
            }
        ],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-FR"}]},
                "preferred": True,
            }
        ],
        "generalPractitioner": [
            {"reference": "#pr1"},
            {"reference": "Practitioner/p-9/_history/3"},
        ],
        "managingOrganization": {"reference": "https://annuaire.example.fr/fhir/Organization/42"},
        "link": [{"other": {"reference": "Patient/pat-2"}, "type": "seealso"}],
    }


def _data_absent() -> dict[str, Any]:
    return {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "masked",
    }


def observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "bp-1",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]
        },
        "subject": {"reference": "Patient/pat-1", "type": "Patient"},
        "effectivePeriod": {
            "start": "2024-05-01T10:00:00+02:00",
            "end": "2024-05-01T10:05:00+02:00",
        },
        "issued": "2024-05-01T10:06:00Z",
        "performer": [{"reference": "Practitioner/pr-1"}],
        "valueQuantity": {
            "value": 1.5e2,
            "comparator": "<",
            "unit": "mmHg",
            "system": UCUM,
            "code": "mm[Hg]",
        },
        "interpretation": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "N",
                    }
                ]
            }
        ],
        "note": [{"authorString": "Dr Durand", "time": "2024-05-01", "text": "**calme**"}],
        "referenceRange": [
            {
                "low": {"value": 90, "unit": "mmHg"},
                "high": {"value": 140},
                "age": {"low": {"value": 18}},
            }
        ],
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
            {"code": {"text": "position"}, "valueCodeableConcept": {"text": "assis"}},
            {"code": {"text": "remarque"}, "valueString": "RAS"},
            {"code": {"text": "durée"}, "valueTime": "00:05:00"},
            {
                "code": {"text": "ratio"},
                "valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 2}},
            },
        ],
    }


def questionnaire() -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "id": "q1",
        "url": "http://example.org/fhir/Questionnaire/q1",
        "version": "1.0",
        "status": "active",
        "subjectType": ["Patient"],
        "date": "2024",
        "item": [
            {
                "linkId": "1",
                "text": "Antécédents",
                "type": "group",
                "item": [
                    {
                        "linkId": "1.1",
                        "text": "Fumeur ?",
                        "type": "choice",
                        "answerOption": [
                            {"valueString": "oui"},
                            {"valueString": "non", "initialSelected": True},
                        ],
                        "item": [
                            {
                                "linkId": "1.1.1",
                                "text": "Paquets par jour",
                                "type": "decimal",
                                "enableWhen": [
                                    {"question": "1.1", "operator": "=", "answerString": "oui"}
                                ],
                                "initial": [{"valueDecimal": 0.5}],
                            }
                        ],
                    },
                    {"linkId": "1.2", "type": "date", "required": True, "maxLength": 10},
                ],
            }
        ],
    }


def medication_request() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "582620"}]
        },
        "subject": {"reference": "Patient/pat-1", "display": "Camille Martin"},
        "authoredOn": "2024-05-01T09:00:00+02:00",
        "requester": {"reference": "Practitioner/pr-1"},
        "dosageInstruction": [
            {
                "sequence": 1,
                "text": "1 comprimé 3 fois par jour",
                "timing": {
                    "repeat": {
                        "frequency": 3,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsDuration": {"value": 10, "unit": "d", "system": UCUM, "code": "d"},
                    }
                },
                "asNeededBoolean": False,
                "route": {"text": "orale"},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "comprimé"}}],
            }
        ],
        "dispenseRequest": {
            "validityPeriod": {"start": "2024-05-01", "end": "2024-08-01"},
            "numberOfRepeatsAllowed": 0,
            "quantity": {"value": 30, "unit": "comprimé"},
            "expectedSupplyDuration": {"value": 10, "unit": "days", "system": UCUM, "code": "d"},
        },
        "substitution": {"allowedBoolean": True},
    }


def bundle() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": "b1",
        "type": "searchset",
        "total": 2,
        "link": [{"relation": "self", "url": "http://example.org/fhir/Patient?name=martin"}],
        "entry": [
            {
                "fullUrl": "http://example.org/fhir/Patient/pat-1",
                "resource": patient(),
                "search": {"mode": "match", "score": 1},
            },
            {
                "fullUrl": "http://example.org/fhir/Observation/bp-1",
                "resource": observation(),
                "search": {"mode": "include"},
            },
        ],
    }


def transaction() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": UUID,
                "resource": {"resourceType": "Patient", "name": [{"family": "Martin"}]},
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=123"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "poids"},
                    "subject": {"reference": UUID},
                    "performer": [{"reference": "Practitioner?identifier=http://rpps.fr|10101"}],
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


def only(issues: list[Issue], severity: str = "error") -> list[tuple[str, str | None]]:
    return [(i.code, i.expression) for i in issues if i.severity == severity]


def issues_of(resource: Any, expected_type: str | None = None) -> list[tuple[str, str | None]]:
    return only(validate(resource, expected_type))


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


# -- valid resources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [patient, observation, questionnaire, medication_request, bundle, transaction]
)
def test_valid_resources_have_no_issues(make: Any) -> None:
    assert validate(make()) == []


def test_expected_type_matching_is_valid() -> None:
    assert validate(patient(), "Patient") == []


def test_minimal_resources_of_every_type_without_required_elements_are_valid() -> None:
    for name, sd in structure_definitions().items():
        if sd["kind"] != "resource" or sd.get("abstract"):
            continue
        required = [
            e for e in sd["snapshot"]["element"][1:] if e["min"] >= 1 and e["path"].count(".") == 1
        ]
        issues = issues_of({"resourceType": name, "id": "x"})
        assert issues == [("required", f"{name}.{e['path'].split('.')[1]}") for e in required], name


# -- resourceType -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected", "found"),
    [
        ([], None, [("structure", "Resource")]),
        ({"id": "x"}, None, [("required", "Resource")]),
        ({"id": "x"}, "Patient", [("required", "Patient")]),
        ({"resourceType": "Patients"}, None, [("invalid", "Resource")]),
        ({"resourceType": "DomainResource"}, None, [("invalid", "Resource")]),
        ({"resourceType": 12}, None, [("invalid", "Resource")]),
        ({"resourceType": "Patient"}, "Observation", [("invalid", "Observation")]),
    ],
)
def test_resource_type(resource: Any, expected: str | None, found: list[Any]) -> None:
    assert issues_of(resource, expected) == found


# -- unknown elements ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expression"),
    [
        (("foo",), "Patient.foo"),
        (("name", 0, "foo"), "Patient.name[0].foo"),
        (("identifier", 0, "type", "foo"), "Patient.identifier[0].type.foo"),
        (("identifier", 0, "type", "coding", 0, "foo"), "Patient.identifier[0].type.coding[0].foo"),
        (("identifier", 0, "assigner", "foo"), "Patient.identifier[0].assigner.foo"),
        (("identifier", 0, "period", "foo"), "Patient.identifier[0].period.foo"),
        (("meta", "foo"), "Patient.meta.foo"),
        (("text", "foo"), "Patient.text.foo"),
        (("extension", 1, "foo"), "Patient.extension[1].foo"),
        (
            ("extension", 0, "extension", 1, "valuePeriod", "foo"),
            "Patient.extension[0].extension[1].valuePeriod.foo",
        ),
        (("contact", 0, "foo"), "Patient.contact[0].foo"),
        (("_birthDate", "foo"), "Patient.birthDate.foo"),
        (("name", 1, "_given", 0, "foo"), "Patient.name[1].given[0].foo"),
        (("contained", 0, "foo"), "Patient.contained[0].foo"),
        (("_foo",), "Patient._foo"),
        (("_name",), "Patient._name"),
        (("_text",), "Patient._text"),
    ],
)
def test_unknown_elements_are_reported(path: tuple[Any, ...], expression: str) -> None:
    resource = patient()
    target = resource
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = "x"
    assert issues_of(resource) == [("structure", expression)]


def test_unknown_element_in_quantity_and_backbone() -> None:
    obs = observation()
    obs["valueQuantity"]["unitt"] = "mmHg"
    obs["component"][0]["foo"] = 1
    assert issues_of(obs) == [
        ("structure", "Observation.valueQuantity.unitt"),
        ("structure", "Observation.component[0].foo"),
    ]


def test_unknown_element_in_content_reference() -> None:
    q = questionnaire()
    q["item"][0]["item"][0]["item"][0]["foo"] = True
    assert issues_of(q) == [("structure", "Questionnaire.item[0].item[0].item[0].foo")]


def test_resource_type_is_only_allowed_at_the_root() -> None:
    p = patient()
    p["name"][0]["resourceType"] = "HumanName"
    assert issues_of(p) == [("structure", "Patient.name[0].resourceType")]


def test_xhtml_has_no_extension_companion() -> None:
    p = patient()
    p["text"]["_div"] = {"id": "d"}
    assert issues_of(p) == [("structure", "Patient.text._div")]


# -- primitive extensions (_name) ---------------------------------------------------------------


def test_primitive_with_only_extensions_satisfies_presence() -> None:
    obs = with_(observation(), _status={"extension": [_data_absent()]})
    del obs["status"]
    assert issues_of(obs) == []


@pytest.mark.parametrize(
    ("name", "changes", "found"),
    [
        ("not an object", {"_birthDate": "x"}, [("structure", "Patient.birthDate")]),
        ("empty object", {"_birthDate": {}}, [("structure", "Patient.birthDate")]),
        (
            "array for a single value",
            {"_birthDate": [{"id": "a"}]},
            [("structure", "Patient.birthDate")],
        ),
        ("id must be a string", {"_birthDate": {"id": 1}}, [("value", "Patient.birthDate.id")]),
    ],
)
def test_primitive_companion_shape(name: str, changes: dict[str, Any], found: list[Any]) -> None:
    assert issues_of(with_(patient(), **changes)) == found, name


def test_primitive_array_nulls_must_align_with_extensions() -> None:
    p = patient()
    p["name"][1]["_given"] = [None, {"id": "g"}]
    assert issues_of(p) == [("structure", "Patient.name[1].given[0]")]


def test_primitive_companion_array_length_must_match() -> None:
    p = patient()
    p["name"][1]["_given"] = [{"id": "g"}]
    assert issues_of(p) == [("structure", "Patient.name[1].given")]


def test_null_without_extension_is_invalid() -> None:
    p = patient()
    p["name"][0]["given"] = ["Camille", None]
    assert issues_of(p) == [("structure", "Patient.name[0].given[1]")]


# -- cardinality and JSON rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "found"),
    [
        (with_(observation(), status=None), [("structure", "Observation.status")]),
        (
            {"resourceType": "Observation", "code": {"text": "x"}},
            [("required", "Observation.status")],
        ),
        ({"resourceType": "Observation", "status": "final"}, [("required", "Observation.code")]),
        (
            with_(observation(), component=[{"valueString": "x"}]),
            [("required", "Observation.component[0].code")],
        ),
        (
            with_(medication_request(), medicationCodeableConcept=None),
            [("structure", "MedicationRequest.medicationCodeableConcept")],
        ),
        (
            {k: v for k, v in medication_request().items() if k != "medicationCodeableConcept"},
            [("required", "MedicationRequest.medication[x]")],
        ),
        (
            with_(patient(), extension=[{"valueString": "x"}]),
            [("required", "Patient.extension[0].url")],
        ),
        (with_(patient(), text={"status": "generated"}), [("required", "Patient.text.div")]),
        (with_(patient(), link=[{"type": "seealso"}]), [("required", "Patient.link[0].other")]),
    ],
)
def test_required_and_null(resource: dict[str, Any], found: list[Any]) -> None:
    assert issues_of(resource) == found


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        ({"gender": ["female"]}, [("structure", "Patient.gender")]),
        ({"maritalStatus": [{"text": "x"}]}, [("structure", "Patient.maritalStatus")]),
        ({"name": {"family": "Martin"}}, [("structure", "Patient.name")]),
        (
            {"extension": {"url": "http://x.org/e", "valueString": "x"}},
            [("structure", "Patient.extension")],
        ),
        ({"name": []}, [("structure", "Patient.name")]),
        ({"name": [{}]}, [("structure", "Patient.name[0]")]),
        ({"name": [None]}, [("structure", "Patient.name[0]")]),
        ({"name": ["Martin"]}, [("structure", "Patient.name[0]")]),
        ({"meta": {}}, [("structure", "Patient.meta")]),
        ({"maritalStatus": "married"}, [("structure", "Patient.maritalStatus")]),
        ({"id": ""}, [("value", "Patient.id")]),
        ({"name": [{"family": ""}]}, [("value", "Patient.name[0].family")]),
        ({"name": [{"given": [""]}]}, [("value", "Patient.name[0].given[0]")]),
        ({"implicitRules": ""}, [("value", "Patient.implicitRules")]),
    ],
)
def test_cardinality_and_json_rules(changes: dict[str, Any], found: list[Any]) -> None:
    assert issues_of(with_(patient(), **changes)) == found


# -- primitive formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        ({"id": "a b"}, ("value", "Patient.id")),
        ({"id": "x" * 65}, ("value", "Patient.id")),
        ({"id": 12}, ("value", "Patient.id")),
        ({"birthDate": "1980-13-01"}, ("value", "Patient.birthDate")),
        ({"birthDate": "1980-01-01T10:00:00Z"}, ("value", "Patient.birthDate")),
        ({"birthDate": 1980}, ("value", "Patient.birthDate")),
        ({"deceasedBoolean": "2020-01-01"}, ("value", "Patient.deceasedBoolean")),
        (
            {"extension": [{"url": "u", "valueDateTime": "2020-01-01T10:00"}]},
            ("value", "Patient.extension[0].valueDateTime"),
        ),
        ({"active": "true"}, ("value", "Patient.active")),
        ({"active": 1}, ("value", "Patient.active")),
        ({"active": {"value": True}}, ("structure", "Patient.active")),
        ({"multipleBirthInteger": 1.5}, ("value", "Patient.multipleBirthInteger")),
        ({"multipleBirthInteger": "2"}, ("value", "Patient.multipleBirthInteger")),
        ({"multipleBirthInteger": True}, ("value", "Patient.multipleBirthInteger")),
        ({"multipleBirthInteger": 2**31}, ("value", "Patient.multipleBirthInteger")),
        ({"implicitRules": "http://a b"}, ("value", "Patient.implicitRules")),
        ({"language": "fr  FR"}, ("value", "Patient.language")),
        ({"name": [{"family": "x" * (1024 * 1024 + 1)}]}, ("value", "Patient.name[0].family")),
        ({"name": [{"family": "a\x0bb"}]}, ("value", "Patient.name[0].family")),
        ({"photo": [{"data": "not base64!"}]}, ("value", "Patient.photo[0].data")),
        ({"photo": [{"size": -1}]}, ("value", "Patient.photo[0].size")),
        ({"photo": [{"url": "http://x.org/a b"}]}, ("value", "Patient.photo[0].url")),
        ({"telecom": [{"rank": 0}]}, ("value", "Patient.telecom[0].rank")),
        ({"meta": {"lastUpdated": "2024-05-01"}}, ("value", "Patient.meta.lastUpdated")),
        ({"meta": {"profile": ["http://x.org/a b"]}}, ("value", "Patient.meta.profile[0]")),
        (
            {"extension": [{"url": "u", "valueOid": "1.2.3"}]},
            ("value", "Patient.extension[0].valueOid"),
        ),
        (
            {"extension": [{"url": "u", "valueUuid": "urn:uuid:ABC"}]},
            ("value", "Patient.extension[0].valueUuid"),
        ),
        (
            {"extension": [{"url": "u", "valueTime": "25:00:00"}]},
            ("value", "Patient.extension[0].valueTime"),
        ),
        (
            {"extension": [{"url": "u", "valueInstant": "2024-05-01T10:00:00"}]},
            ("value", "Patient.extension[0].valueInstant"),
        ),
        (
            {"extension": [{"url": "u", "valueDecimal": "1.5"}]},
            ("value", "Patient.extension[0].valueDecimal"),
        ),
        (
            {"extension": [{"url": "u", "valueDecimal": float("nan")}]},
            ("value", "Patient.extension[0].valueDecimal"),
        ),
        (
            {"extension": [{"url": "u", "valueMarkdown": ""}]},
            ("value", "Patient.extension[0].valueMarkdown"),
        ),
        (
            {"extension": [{"url": "u", "valueUnsignedInt": -1}]},
            ("value", "Patient.extension[0].valueUnsignedInt"),
        ),
        (
            {"extension": [{"url": "u", "valueCanonical": "a b"}]},
            ("value", "Patient.extension[0].valueCanonical"),
        ),
        (
            {"extension": [{"url": "u a", "valueString": "x"}]},
            ("value", "Patient.extension[0].url"),
        ),
        (
            {"extension": [{"url": "u", "id": "", "valueString": "x"}]},
            ("value", "Patient.extension[0].id"),
        ),
    ],
)
def test_primitive_formats(changes: dict[str, Any], found: tuple[str, str]) -> None:
    assert issues_of(with_(patient(), **changes)) == [found]


@pytest.mark.parametrize(
    "value",
    [
        {"valueDecimal": 0},
        {"valueDecimal": -1.25e-7},
        {"valueInteger": -2147483648},
        {"valueUnsignedInt": 0},
        {"valuePositiveInt": 2147483647},
        {"valueDate": "2024-02"},
        {"valueDateTime": "2024-02-29T23:59:60.5-03:30"},
        {"valueTime": "23:59:59.999"},
        {"valueOid": "urn:oid:2.16.840.1.113883"},
        {"valueUuid": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
        {"valueString": "multi\nline\ttext with unicode ✓\u00a0"},
        {"valueUri": "urn:ietf:rfc:3986"},
        {"valueBase64Binary": "aGVsbG8gd29ybGQ="},
        {"valueCode": "a b"},
    ],
)
def test_valid_primitive_values(value: dict[str, Any]) -> None:
    assert validate(with_(patient(), extension=[{"url": "http://x.org/e", **value}])) == []


def test_large_base64_attachment() -> None:
    data = base64.b64encode(bytes(range(256)) * 4096).decode()
    assert (
        validate({"resourceType": "Binary", "contentType": "application/pdf", "data": data}) == []
    )
    wrapped = "\n".join(data[i : i + 76] for i in range(0, len(data), 76))
    assert (
        validate({"resourceType": "Binary", "contentType": "application/pdf", "data": wrapped})
        == []
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab+/=0 \n\t\x0b\x1c\u00a0é", max_size=16))
def test_base64_check_is_the_spec_regex(value: str) -> None:
    spec = re.compile(str(spec_regex("base64Binary")), re.ASCII)
    assert (primitive_checks()["base64Binary"](value) is None) == bool(spec.fullmatch(value))


# -- choice types -------------------------------------------------------------------------------


def test_choice_with_unknown_type_suffix() -> None:
    found = validate(with_(observation(), valueFoo="x"))
    assert only(found) == [("structure", "Observation.valueFoo")]
    assert "value[x]" in found[0].diagnostics


def test_choice_with_two_types() -> None:
    assert issues_of(with_(observation(), valueString="x")) == [
        ("structure", "Observation.value[x]")
    ]


def test_choice_type_is_validated_as_that_type() -> None:
    obs = observation()
    obs["valueQuantity"]["value"] = "120"
    obs["component"][1]["valueCodeableConcept"] = {"coding": {"code": "x"}}
    assert issues_of(obs) == [
        ("value", "Observation.valueQuantity.value"),
        ("structure", "Observation.component[1].valueCodeableConcept.coding"),
    ]


def test_choice_with_primitive_extension_is_one_choice() -> None:
    obs = with_(observation(), _valueQuantity={"id": "x"})
    assert issues_of(obs) == [("structure", "Observation._valueQuantity")]
    obs = with_(observation(), valueString="x", _valueString={"id": "s"})
    del obs["valueQuantity"]
    assert issues_of(obs) == []


def test_extension_value_choice() -> None:
    ext = [{"url": "http://x.org/e", "valueString": "a", "valueBoolean": True}]
    assert issues_of(with_(patient(), extension=ext)) == [
        ("structure", "Patient.extension[0].value[x]")
    ]
    ext = [{"url": "http://x.org/e", "valueResource": {"resourceType": "Patient"}}]
    assert issues_of(with_(patient(), extension=ext)) == [
        ("structure", "Patient.extension[0].valueResource")
    ]


# -- contained resources ------------------------------------------------------------------------


def test_contained_resources_are_validated_as_their_own_type() -> None:
    p = patient()
    p["contained"][0]["name"] = ["Clinique"]
    p["contained"][1]["name"][0]["foo"] = 1
    assert issues_of(p) == [
        ("structure", "Patient.contained[0].name"),
        ("structure", "Patient.contained[1].name[0].foo"),
    ]


def test_contained_resource_rules() -> None:
    p = patient()
    del p["contained"][0]["id"]
    p["contained"][1]["contained"] = [{"resourceType": "Organization", "id": "o2"}]
    p["contained"][1]["meta"] = {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00Z"}
    found = validate(p)
    assert only(found) == [
        ("required", "Patient.contained[0].id"),
        ("invalid", "Patient.contained[1].contained"),
    ]
    assert only(found, "warning") == [
        ("invalid", "Patient.contained[1].meta.versionId"),
        ("invalid", "Patient.contained[1].meta.lastUpdated"),
    ]


def test_contained_resource_needs_a_known_type() -> None:
    p = with_(patient(), contained=[{"resourceType": "Nope", "id": "n"}, {"id": "m"}, "Patient"])
    assert issues_of(p) == [
        ("invalid", "Patient.contained[0]"),
        ("required", "Patient.contained[1]"),
        ("structure", "Patient.contained[2]"),
    ]


# -- bundles and other resource-typed elements ----------------------------------------------------


def test_bundle_entry_resource_is_validated_as_its_type() -> None:
    b = bundle()
    b["entry"][0]["resource"]["birthDate"] = "yesterday"
    b["entry"][1]["resource"]["status"] = "done"
    b["entry"][1]["resource"]["component"][0]["foo"] = 1
    b["entry"][0]["search"]["mode"] = "hit"
    assert issues_of(b) == [
        ("value", "Bundle.entry[0].resource.birthDate"),
        ("code-invalid", "Bundle.entry[0].search.mode"),
        ("code-invalid", "Bundle.entry[1].resource.status"),
        ("structure", "Bundle.entry[1].resource.component[0].foo"),
    ]


def test_parameters_resource_and_nested_parts() -> None:
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "resource": {"resourceType": "Patient", "gender": "man"}},
            {"name": "group", "part": [{"name": "n", "valueInteger": 1, "foo": 2}]},
        ],
    }
    assert issues_of(params) == [
        ("code-invalid", "Parameters.parameter[0].resource.gender"),
        ("structure", "Parameters.parameter[1].part[0].foo"),
    ]


# -- required bindings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        (with_(patient(), gender="man"), "Patient.gender"),
        (with_(observation(), status="done"), "Observation.status"),
        (
            with_(patient(), text={"status": "made-up", "div": "<div>x</div>"}),
            "Patient.text.status",
        ),
        (with_(patient(), telecom=[{"system": "pager", "use": "car"}]), "Patient.telecom[0].use"),
        (with_(patient(), address=[{"use": "home", "type": "flat"}]), "Patient.address[0].type"),
        (with_(questionnaire(), subjectType=["Patient", "Nobody"]), "Questionnaire.subjectType[1]"),
        (
            with_(observation(), valueQuantity={"value": 1, "comparator": "=="}),
            "Observation.valueQuantity.comparator",
        ),
    ],
)
def test_required_binding_on_code(resource: dict[str, Any], expression: str) -> None:
    assert issues_of(resource) == [("code-invalid", expression)]


def test_required_binding_on_codeable_concept_checks_codings_of_its_systems() -> None:
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/1"},
        "clinicalStatus": {
            "coding": [
                {"system": system, "code": "active"},
                {"system": system, "code": "sleeping"},
                {"system": "http://snomed.info/sct", "code": "55561003"},
            ]
        },
    }
    assert issues_of(condition) == [("code-invalid", "Condition.clinicalStatus.coding[1].code")]
    condition["clinicalStatus"]["coding"][1]["code"] = "remission"  # a nested concept of "inactive"
    assert validate(condition) == []


def test_bindings_to_value_sets_outside_the_bundle_are_skipped() -> None:
    # mimetypes (BCP-13), currencies (ISO 4217) and UCUM need external code systems.
    p = with_(patient(), photo=[{"contentType": "made/up"}])
    assert validate(p) == []
    claim_total = {
        "resourceType": "Invoice",
        "status": "draft",
        "totalNet": {"value": 1, "currency": "XXZ"},
    }
    assert validate(claim_total) == []


# -- references ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/123",
        "Patient/a-b.c",
        "Patient/123/_history/2",
        "http://example.org/fhir/Patient/123",
        "https://example.org/whatever?x=1",
        "#",
        "#p1",
        UUID,
        "urn:oid:1.2.250.1.71",
    ],
)
def test_valid_references(reference: str) -> None:
    assert (
        validate(with_(patient(), link=[{"other": {"reference": reference}, "type": "seealso"}]))
        == []
    )


@pytest.mark.parametrize(
    "reference",
    [
        "Foo/123",
        "Patient/",
        "Patient/a_b",
        "Patient/123/_history/",
        "123",
        "urn:uuid:not-a-uuid",
        "urn:oid:abc",
        "ftp://example.org/Patient/1",
        "#a b",
        "Patient?identifier=1",
    ],
)
def test_invalid_references(reference: str) -> None:
    p = with_(patient(), link=[{"other": {"reference": reference}, "type": "seealso"}])
    assert issues_of(p) == [("value", "Patient.link[0].other.reference")]


def test_reference_target_type_must_be_allowed() -> None:
    obs = with_(observation(), subject={"reference": "Medication/1"})
    found = validate(obs)
    assert only(found) == [("invalid", "Observation.subject.reference")]
    assert "Patient" in found[0].diagnostics
    assert validate(with_(observation(), subject={"reference": "Group/g1"})) == []
    assert (
        validate(with_(observation(), subject={"reference": "http://x.org/fhir/Medication/1"}))
        == []
    )


def test_reference_type() -> None:
    assert issues_of(with_(observation(), subject={"type": "Medication", "display": "x"})) == [
        ("invalid", "Observation.subject.type")
    ]
    assert issues_of(with_(observation(), subject={"reference": "Patient/1", "type": "Group"})) == [
        ("invalid", "Observation.subject.type")
    ]
    found = validate(with_(observation(), subject={"type": "Nobody", "identifier": {"value": "1"}}))
    assert only(found) == [] and only(found, "warning") == [("value", "Observation.subject.type")]
    assert (
        validate(
            with_(observation(), subject={"type": "http://hl7.org/fhir/StructureDefinition/Group"})
        )
        == []
    )


def test_conditional_references_only_in_transactions() -> None:
    t = transaction()
    assert validate(t) == []
    t["type"] = "collection"
    assert issues_of(t) == [("value", "Bundle.entry[1].resource.performer[0].reference")]


def test_any_reference_target_when_element_allows_any_resource() -> None:
    ext = [{"url": "http://x.org/e", "valueReference": {"reference": "Medication/1"}}]
    assert validate(with_(patient(), extension=ext)) == []


# -- robustness and properties ------------------------------------------------------------------


def test_deeply_nested_input_does_not_crash() -> None:
    item: dict[str, Any] = {"linkId": "x", "type": "group"}
    root = item
    for _ in range(2000):
        child: dict[str, Any] = {"linkId": "x", "type": "group"}
        item["item"] = [child]
        item = child
    found = validate({"resourceType": "Questionnaire", "status": "draft", "item": [root]})
    assert [i.code for i in found] == ["structure"]


def test_diagnostics_name_the_element() -> None:
    [issue] = validate(with_(patient(), birthDate="1980-13"))
    assert issue.diagnostics.startswith("Patient.birthDate:") and "date" in issue.diagnostics
    assert issue.severity == "error"


def test_every_error_is_reported() -> None:
    bad = with_(patient(), foo=1, gender="x", birthDate="x", active="x", name=[{}])
    assert len(issues_of(bad)) == 5


# No Patient element starts with "zz", so these keys are unknown wherever they appear.
_GARBAGE_KEYS = st.tuples(st.sampled_from(["zz", "_zz"]), st.text(max_size=12)).map("".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(_GARBAGE_KEYS, min_size=1, max_size=4, unique=True), st.data())
def test_garbage_keys_are_always_reported(keys: list[str], data: st.DataObject) -> None:
    p = patient()
    for key in keys:
        p[key] = data.draw(st.one_of(st.none(), st.integers(), st.text(), st.just({"a": 1})))
    assert issues_of(p) == [("structure", f"Patient.{key}") for key in keys]


_names = st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=20)
_human_names = st.fixed_dictionaries(
    {"family": _names},
    optional={
        "given": st.lists(_names, min_size=1, max_size=3),
        "use": st.sampled_from(
            ["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"]
        ),
    },
)
_patients = st.fixed_dictionaries(
    {"resourceType": st.just("Patient")},
    optional={
        "id": st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True),
        "active": st.booleans(),
        "gender": st.sampled_from(["male", "female", "other", "unknown"]),
        "birthDate": st.dates().map(lambda d: d.isoformat()),
        "name": st.lists(_human_names, min_size=1, max_size=3),
        "multipleBirthInteger": st.integers(min_value=-(2**31), max_value=2**31 - 1),
        "deceasedBoolean": st.booleans(),
    },
)


@settings(max_examples=100, deadline=None)
@given(_patients)
def test_generated_valid_patients_have_no_issues(resource: dict[str, Any]) -> None:
    assert validate(resource, "Patient") == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([patient, observation, questionnaire, medication_request, bundle, transaction]),
    st.data(),
)
def test_arbitrary_json_anywhere_gives_issues_not_exceptions(
    make: Any, data: st.DataObject
) -> None:
    resource = make()
    path = data.draw(st.sampled_from(_paths(resource)[1:]))
    target = resource
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(_json)
    for issue in validate(resource):
        assert issue.code in {"structure", "required", "value", "code-invalid", "invalid"}
        assert issue.expression and issue.diagnostics.startswith(issue.expression)
