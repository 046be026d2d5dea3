"""Differential property test: random resources, random searches, the engine's answer compared
with a small in-memory evaluator written straight from search.html (R4), on SQLite and
PostgreSQL. The reference shares no code with the engine."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.search import INDEX_TABLES, execute

from .conftest import insert

BASE = "http://test/fhir"
GENDER = "http://hl7.org/fhir/administrative-gender"
FAMILIES = [
    "Dupont",
    "Dupond",
    "De La Fontaine",
    "Hélène",
    "HELENE",
    "Müller",
    "Le Gall",
    "Lefèvre",
    "lefevre",
]
GIVENS = ["Jean", "Jeanne", "Élodie", "Eloise", "Zoé", "Zoe"]
SYSTEMS = ["http://loinc.org", "http://snomed.info/sct"]
CODES = ["a", "b", "ab"]
AMOUNTS = ["0.5", "1", "1.5", "10", "99.5", "100", "100.5"]
UNITS = ["kg", "g"]
ID_SYSTEMS = ["urn:a", "urn:b"]
ID_VALUES = ["1", "2", "12"]
N_PATIENTS = 4

# -- random resources ------------------------------------------------------------------------
dates = st.builds(
    lambda y, m, d, p: [f"{y}", f"{y}-{m:02d}", f"{y}-{m:02d}-{d:02d}"][p],
    st.integers(1978, 1982),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 2),
)
names = st.lists(
    st.fixed_dictionaries(
        {"family": st.sampled_from(FAMILIES)},
        optional={"given": st.lists(st.sampled_from(GIVENS), min_size=1, max_size=2)},
    ),
    max_size=2,
)
identifiers = st.lists(
    st.fixed_dictionaries(
        {"system": st.sampled_from(ID_SYSTEMS), "value": st.sampled_from(ID_VALUES)}
    ),
    max_size=2,
)


@st.composite
def patient(draw, i):
    p = {"resourceType": "Patient", "id": f"p{i}"}
    for key, strategy in (
        ("name", names),
        ("identifier", identifiers),
        ("gender", st.sampled_from(["male", "female", "other"])),
        ("birthDate", dates),
    ):
        if draw(st.booleans()):
            value = draw(strategy)
            if value:
                p[key] = value
    return p


@st.composite
def observation(draw, i):
    o = {
        "resourceType": "Observation",
        "id": f"o{i}",
        "status": draw(st.sampled_from(["final", "amended"])),
        "code": {
            "coding": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {"system": st.sampled_from(SYSTEMS), "code": st.sampled_from(CODES)}
                    ),
                    min_size=1,
                    max_size=2,
                )
            )
        },
    }
    if draw(st.booleans()):
        o["subject"] = {"reference": f"Patient/p{draw(st.integers(0, N_PATIENTS))}"}
    if draw(st.booleans()):
        o["valueQuantity"] = {
            "value": float(draw(st.sampled_from(AMOUNTS))),
            "system": "http://unitsofmeasure.org",
            "code": draw(st.sampled_from(UNITS)),
        }
    if draw(st.booleans()):
        o["effectiveDateTime"] = draw(dates)
    return o


# -- random searches -------------------------------------------------------------------------
def _string_value(draw):
    text = draw(st.sampled_from(FAMILIES + GIVENS))
    text = draw(st.sampled_from([str, str.lower, str.upper, fold]))(text)
    return text[: draw(st.integers(1, len(text)))]


@st.composite
def patient_query(draw):
    kind = draw(
        st.sampled_from(
            [
                "family",
                "given",
                "name",
                "gender",
                "identifier",
                "birthdate",
                "_has",
                "_id",
                "missing",
            ]
        )
    )
    if kind in ("family", "given", "name"):
        mod = draw(st.sampled_from(["", ":exact", ":contains"]))
        values = [
            _string_value(draw) if mod != ":exact" else draw(st.sampled_from(FAMILIES + GIVENS))
            for _ in range(draw(st.integers(1, 2)))
        ]
        return (kind + mod, ",".join(values))
    if kind == "gender":
        mod = draw(st.sampled_from(["", ":not"]))
        code = draw(st.sampled_from(["male", "female", "other"]))
        return ("gender" + mod, draw(st.sampled_from([code, f"{GENDER}|{code}", f"|{code}"])))
    if kind == "identifier":
        s, v = draw(st.sampled_from(ID_SYSTEMS)), draw(st.sampled_from(ID_VALUES))
        return ("identifier", draw(st.sampled_from([v, f"{s}|{v}", f"|{v}", f"{s}|"])))
    if kind == "birthdate":
        return (
            "birthdate",
            draw(st.sampled_from(["", "eq", "ne", "lt", "gt", "le", "ge", "sa", "eb"]))
            + draw(dates),
        )
    if kind == "_has":
        return ("_has:Observation:subject:code", draw(st.sampled_from(CODES)))
    if kind == "_id":
        return (
            "_id",
            ",".join(f"p{i}" for i in draw(st.sets(st.integers(0, N_PATIENTS), min_size=1))),
        )
    return (
        draw(st.sampled_from(["gender", "birthdate", "name"])) + ":missing",
        draw(st.sampled_from(["true", "false"])),
    )


@st.composite
def observation_query(draw):
    kind = draw(st.sampled_from(["code", "value-quantity", "subject", "date", "chain", "status"]))
    if kind == "code":
        s, c = draw(st.sampled_from(SYSTEMS)), draw(st.sampled_from(CODES))
        mod = draw(st.sampled_from(["", ":not"]))
        return ("code" + mod, draw(st.sampled_from([c, f"{s}|{c}", f"{s}|", f"{c},{CODES[0]}"])))
    if kind == "value-quantity":
        prefix = draw(st.sampled_from(["", "eq", "ne", "lt", "gt", "le", "ge"]))
        amount = draw(st.sampled_from(AMOUNTS + ["100.0", "1.50"]))
        unit = draw(st.sampled_from(["", "||kg", "|http://unitsofmeasure.org|g"]))
        return ("value-quantity", prefix + amount + unit)
    if kind == "subject":
        i = draw(st.integers(0, N_PATIENTS))
        return ("subject", draw(st.sampled_from([f"Patient/p{i}", f"p{i}"])))
    if kind == "date":
        return ("date", draw(st.sampled_from(["", "lt", "gt", "ge", "le"])) + draw(dates))
    if kind == "status":
        return ("status", draw(st.sampled_from(["final", "amended", "final,amended"])))
    return ("subject:Patient.family", _string_value(draw))


# -- the reference evaluator (search.html) ---------------------------------------------------
def fold(text):
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join(
        "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split()
    )


def date_span(text):
    """[start, end) of a date at its precision, UTC (the server's zone for zone-less values)."""
    parts = [int(x) for x in text.split("-")]
    if len(parts) == 1:
        return datetime(parts[0], 1, 1, tzinfo=UTC), datetime(parts[0] + 1, 1, 1, tzinfo=UTC)
    if len(parts) == 2:
        y, m = parts
        return datetime(y, m, 1, tzinfo=UTC), datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
    start = datetime(*parts, tzinfo=UTC)
    return start, start + timedelta(days=1)


def split_prefix(raw):
    if raw[:2].isalpha():
        return raw[:2], raw[2:]
    return "eq", raw


def date_match(target, raw):
    prefix, text = split_prefix(raw)
    (lo, hi), (slo, shi) = date_span(target), date_span(text)
    contained = slo <= lo and hi <= shi
    return {
        "eq": contained,
        "ne": not contained,
        "gt": hi > shi,
        "lt": lo < slo,
        "ge": hi > shi or contained,
        "le": lo < slo or contained,
        "sa": lo >= shi,
        "eb": hi <= slo,
    }[prefix]


def number_match(value, raw):
    prefix, text = split_prefix(raw)
    d = Decimal(text)
    half = Decimal(5).scaleb(d.as_tuple().exponent - 1)
    v = Decimal(str(value))
    inside = d - half <= v < d + half
    return {"eq": inside, "ne": not inside, "lt": v < d, "gt": v > d, "le": v <= d, "ge": v >= d}[
        prefix
    ]


def name_parts(res, which):
    out = []
    for n in res.get("name", []):
        if which in ("family", "name") and "family" in n:
            out.append(n["family"])
        if which in ("given", "name"):
            out.extend(n.get("given", []))
    return out


def tokens(res, code):
    if code == "gender":
        return [(GENDER, res["gender"])] if "gender" in res else []
    if code == "identifier":
        return [(i["system"], i["value"]) for i in res.get("identifier", [])]
    if code == "status":
        return [("http://hl7.org/fhir/observation-status", res["status"])]
    return [(c["system"], c["code"]) for c in res.get("code", {}).get("coding", [])]


def token_match(pairs, raw):
    if "|" not in raw:
        return any(c == raw for _s, c in pairs)
    system, code = raw.split("|", 1)
    if system == "":
        return any(s is None and c == code for s, c in pairs)
    return any(s == system and (code == "" or c == code) for s, c in pairs)


def string_match(parts, modifier, raw):
    if modifier == "exact":
        return raw in parts
    if modifier == "contains":
        return any(fold(raw) in fold(p) for p in parts)
    return any(fold(p).startswith(fold(raw)) for p in parts)


def reference_match(res, raw):
    ref = res.get("subject", {}).get("reference")
    return ref is not None and (ref == raw or ref.split("/")[1] == raw)


def matches(res, name, raw, world):
    head, _, modifier = name.partition(":")
    if name.startswith("_has:"):
        return any(
            o.get("subject", {}).get("reference") == f"Patient/{res['id']}"
            and token_match(tokens(o, "code"), raw)
            for o in world["Observation"]
        )
    if name == "subject:Patient.family":
        targets = {
            f"Patient/{p['id']}"
            for p in world["Patient"]
            if string_match(name_parts(p, "family"), "", raw)
        }
        return res.get("subject", {}).get("reference") in targets
    if modifier == "missing":
        present = {
            "gender": "gender" in res,
            "birthdate": "birthDate" in res,
            "name": bool(name_parts(res, "name")),
        }[head]
        return present != (raw == "true")
    values = raw.split(",")
    if head == "_id":
        return res["id"] in values
    if head in ("family", "given", "name"):
        return any(string_match(name_parts(res, head), modifier, v) for v in values)
    if head in ("gender", "identifier", "code", "status"):
        hit = any(token_match(tokens(res, head), v) for v in values)
        return not hit if modifier == "not" else hit
    if head in ("birthdate", "date"):
        target = res.get("birthDate" if head == "birthdate" else "effectiveDateTime")
        return target is not None and date_match(target, raw)
    if head == "value-quantity":
        q = res.get("valueQuantity")
        if q is None:
            return False
        amount, *unit = raw.split("|")
        if unit and (unit[1] != q["code"] or (unit[0] and unit[0] != q["system"])):
            return False
        return number_match(q["value"], amount)
    if head == "subject":
        return reference_match(res, raw)
    raise AssertionError(name)


# -- the property ----------------------------------------------------------------------------
@st.composite
def world(draw):
    patients = [draw(patient(i)) for i in range(draw(st.integers(1, N_PATIENTS + 1)))]
    observations = [draw(observation(i)) for i in range(draw(st.integers(0, 6)))]
    queries = [
        ("Patient", draw(st.lists(patient_query(), min_size=1, max_size=2))) for _ in range(3)
    ]
    queries += [
        ("Observation", draw(st.lists(observation_query(), min_size=1, max_size=2)))
        for _ in range(3)
    ]
    return {"Patient": patients, "Observation": observations}, queries


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=world())
def test_engine_agrees_with_the_reference(cursor, case):
    data, queries = case
    for table in ["resources", *INDEX_TABLES]:
        cursor.execute(f"DELETE FROM {table}")
    for n, res in enumerate(data["Patient"] + data["Observation"]):
        insert(cursor, res, 1_700_000_000_000_000 + n)
    for rtype, params in queries:
        bundle = execute(cursor, rtype, [*params, ("_count", "100")], base=BASE)
        got = sorted(e["resource"]["id"] for e in bundle.get("entry", []))
        expected = sorted(
            r["id"] for r in data[rtype] if all(matches(r, name, raw, data) for name, raw in params)
        )
        assert got == expected, (rtype, params)
