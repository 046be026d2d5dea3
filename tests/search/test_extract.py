"""Index extraction, no database needed."""

from __future__ import annotations

from hygie.search import extract, param_key
from hygie.search.normalize import MAX_TIME, date_range, decimal_range, fold

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"tag": [{"system": "urn:tags", "code": "demo"}], "profile": ["http://x/P"]},
    "identifier": [
        {
            "system": "urn:oid:1.2.250.1.213.1.4.8",
            "value": "1234",
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}
                ]
            },
        }
    ],
    "name": [{"family": "De La Fontaine", "given": ["Hélène"]}],
    "gender": "female",
    "birthDate": "1980-05-12",
    "telecom": [{"system": "email", "value": "h@x.fr"}],
    "address": [{"city": "Saint-Étienne", "postalCode": "42000"}],
    "generalPractitioner": [{"reference": "Practitioner/dr1"}],
}
OBS = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Fréquence"},
    "subject": {"reference": "http://other/fhir/Patient/p9"},
    "encounter": {"reference": "Encounter/e1/_history/2"},
    "effectivePeriod": {"start": "2024-03-01T10:00:00+01:00"},
    "performer": [{"reference": "urn:uuid:0f0e1d2c-0000-4000-8000-000000000000"}],
    "valueQuantity": {"value": 7.20, "system": "http://unitsofmeasure.org", "code": "mmol/L"},
}


def rows_of(resource, table, code):
    key = param_key(resource["resourceType"], code)
    return [r[1:] for r in extract(resource)[table] if r[0] == key]


def test_param_key_is_stable_signed_64_bit():
    k = param_key("Patient", "name")
    assert k == param_key("Patient", "name") != param_key("Patient", "family")
    assert -(2**63) <= k < 2**63


def test_fold_strips_accents_case_and_spaces():
    assert fold("  Hélène   DE la  Fontaine ") == "helene de la fontaine"
    assert fold("ŒUVRE") == "œuvre"


def test_names_are_folded_per_part():
    assert ("helene", "Hélène") in rows_of(PATIENT, "idx_string", "name")
    assert ("de la fontaine", "De La Fontaine") in rows_of(PATIENT, "idx_string", "family")
    assert ("saint-etienne", "Saint-Étienne") in rows_of(PATIENT, "idx_string", "address-city")


def test_tokens():
    assert rows_of(PATIENT, "idx_token", "gender") == [
        ("http://hl7.org/fhir/administrative-gender", "female", None)
    ]
    assert rows_of(PATIENT, "idx_token", "identifier") == [
        ("urn:oid:1.2.250.1.213.1.4.8", "1234", None)
    ]
    assert rows_of(PATIENT, "idx_token", "email") == [("email", "h@x.fr", None)]
    assert rows_of(PATIENT, "idx_token", "_tag") == [("urn:tags", "demo", None)]
    assert rows_of(PATIENT, "idx_token", "deceased") == [(None, "false", None)]
    assert rows_of(OBS, "idx_token", "code") == [("http://loinc.org", "8867-4", "frequence")]


def test_dates_have_precision_ranges():
    low, high = date_range("2024")
    assert (high - low) == 366 * 86400 * 10**6
    assert rows_of(PATIENT, "idx_date", "birthdate") == [date_range("1980-05-12")]
    assert date_range("2024-03-01T10:00:00+01:00") == date_range("2024-03-01T09:00:00Z")
    assert rows_of(OBS, "idx_date", "date") == [(date_range("2024-03-01T09:00:00Z")[0], MAX_TIME)]


def test_numbers_and_quantities_carry_implicit_precision():
    assert decimal_range("100") == (100.0, 99.5, 100.5)
    assert rows_of(OBS, "idx_quantity", "value-quantity") == [
        ("http://unitsofmeasure.org", "mmol/L", 7.2, 7.15, 7.25)
    ]


def test_references():
    assert rows_of(PATIENT, "idx_reference", "general-practitioner") == [
        ("Practitioner", "dr1", None, None)
    ]
    assert rows_of(OBS, "idx_reference", "subject") == [
        ("Patient", "p9", None, "http://other/fhir/Patient/p9")
    ]
    assert rows_of(OBS, "idx_reference", "encounter") == [("Encounter", "e1", "2", None)]
    assert rows_of(OBS, "idx_reference", "performer") == [
        (None, None, None, "urn:uuid:0f0e1d2c-0000-4000-8000-000000000000")
    ]


def test_canonical_reference_splits_version():
    q = {"resourceType": "QuestionnaireResponse", "questionnaire": "http://x/Questionnaire/q1|2.0"}
    assert rows_of(q, "idx_reference", "questionnaire") == [
        ("Questionnaire", "q1", "2.0", "http://x/Questionnaire/q1")
    ]


def test_compartments():
    assert set(extract(PATIENT)["compartment"]) == {("Patient", "p1"), ("Practitioner", "dr1")}
    assert set(extract(OBS)["compartment"]) == {("Patient", "p9"), ("Encounter", "e1")}


def test_choice_type_restriction():
    cond = {
        "resourceType": "Condition",
        "onsetAge": {"value": 40, "code": "a", "system": "http://unitsofmeasure.org"},
    }
    assert rows_of(cond, "idx_date", "onset-date") == []
    assert rows_of(cond, "idx_quantity", "onset-age")[0][:3] == (
        "http://unitsofmeasure.org",
        "a",
        40.0,
    )


def test_every_official_expression_compiles_for_every_base():
    from hygie.fhir.definitions import search_parameters
    from hygie.search.registry import params_for

    slow = set()
    for sp in search_parameters():
        for rtype in sp["base"]:
            if rtype in ("Resource", "DomainResource"):
                continue
            p = params_for(rtype).get(sp["code"])
            if p is not None and not p.fast:
                slow.add(sp["code"])
    assert slow <= {"composition", "message"}
