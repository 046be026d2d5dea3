"""A patient's record: appointments, encounters with their observations and documents,
conditions, prescriptions and their dispensations, immunizations.

Everything is drawn from the patient's own random stream, in an order where each reference
points to a resource yielded before it (the directory comes before every patient).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from hygie.demo import clinical as c
from hygie.demo.directory import Directory, endpoint_id, org_id, pra_id, rpps
from hygie.demo.documents import (
    BIOLOGY,
    DISCHARGE,
    IMAGING_REPORT,
    DocType,
    document,
    imaging_study,
)
from hygie.demo.fhirtypes import (
    ACT_CODE,
    APPOINTMENT_SYSTEM,
    ATC,
    PRESCRIPTION_SYSTEM,
    SPECIALTY_CS,
    TODAY,
    UCUM,
    Resource,
    coding,
    concept,
    instant,
    ref,
    shared_concept,
)
from hygie.demo.people import Person
from hygie.demo.vaccines import immunizations

_CLASSES = {
    "AMB": (coding(ACT_CODE, "AMB", "ambulatory"), "Consultation externe"),
    "IMP": (coding(ACT_CODE, "IMP", "inpatient encounter"), "Hospitalisation complète"),
    "EMER": (coding(ACT_CODE, "EMER", "emergency"), "Passage aux urgences"),
    "VR": (coding(ACT_CODE, "VR", "virtual"), "Téléconsultation"),
}
_KINDS = ("AMB", "IMP", "EMER", "VR")
_KIND_WEIGHTS = (60, 70, 82, 100)  # cumulative: 60 % AMB, 10 % IMP, 12 % EMER, 18 % VR
_VITAL = [concept("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")]
_LAB = [concept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")]
_TELE = [concept(ACT_CODE, "VR", "virtual", "Téléconsultation")]
_APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
_ROUTINE = concept(_APPOINTMENT_TYPE, "ROUTINE", "Routine appointment")
_FOLLOWUP = concept(_APPOINTMENT_TYPE, "FOLLOWUP", "A follow up visit from a previous appointment")
_FIRST_FILL = concept(ACT_CODE, "FF", "First Fill")
_REFILL = concept(ACT_CODE, "RF", "Refill")
_CLINICAL = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
_RESOLVED = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved")
_CONFIRMED = concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")
_PROBLEM = [
    concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")
]
_DAYS = {"unit": "jours", "system": UCUM, "code": "d"}


def _fr(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


class Record:
    """Builds one patient's resources; `resources()` yields them in reference order."""

    def __init__(self, p: Person, d: Directory) -> None:
        self.p = p
        self.d = d
        self.rng = p.rng
        self.key = p.id[4:]
        self.gp = pra_id(p.gp)
        self.child = p.kind == "C"
        self.pharmacist = pra_id(d.pick(self.rng, "pharmacist"))
        self.nurse = pra_id(d.pick(self.rng, "nurse"))
        self.pref = p.ref  # one dict shared by the patient's resources (never mutated)
        self.n_obs = 0
        self.n_doc = 0
        self.n_apt = 0

    # -- the whole record --------------------------------------------------------------------
    def resources(self) -> Iterator[Resource]:
        rng = self.rng
        p = self.p
        first_day = min(max(p.born + timedelta(days=1), TODAY - timedelta(days=5 * 365)), TODAY)
        span = (TODAY - first_day).days
        if self.child:
            count = rng.choice((1, 1, 2, 3))
        elif p.kind == "E":
            count = rng.choice((2, 3, 4, 5, 6))
        else:
            count = rng.choice((1, 2, 2, 3, 4))
        days = sorted(first_day + timedelta(days=rng.randint(0, span)) for _ in range(count))
        encounters: list[tuple[str, str, str]] = []  # (id, kind, start)
        for k, day in enumerate(days):
            kind = rng.choices(_KINDS, cum_weights=_KIND_WEIGHTS)[0]
            yield from self.encounter(k, kind, day, encounters)
        yield from self.conditions_and_prescriptions(encounters)
        yield from immunizations(rng, p.id, p.born, (self.gp, self.nurse))
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            yield self.appointment(None, TODAY + timedelta(days=rng.randint(1, 90)), future=True)

    # -- encounters ----------------------------------------------------------------------------
    def _who(self, kind: str) -> int:
        rng = self.rng
        if kind in ("IMP", "EMER"):
            if self.child:
                return self.d.pick(rng, "pediatrician")
            return self.d.pick(rng, rng.choice(("cardiologist", "clinic-cardiologist")))
        if kind == "AMB" and rng.random() < 0.2:
            return self.d.pick(rng, "pediatrician" if self.child else "clinic-cardiologist")
        return self.p.gp

    def encounter(
        self, k: int, kind: str, day: date, done: list[tuple[str, str, str]]
    ) -> Iterator[Resource]:
        rng = self.rng
        who = self._who(kind)
        org = self.d.org_of(who)
        hour, minute = rng.randint(8, 18), rng.choice((0, 15, 30, 45))
        start = datetime(day.year, day.month, day.day, hour, minute)
        if kind == "IMP":
            end = start + timedelta(days=rng.randint(1, 8), hours=rng.randint(0, 5))
        elif kind == "EMER":
            end = start + timedelta(hours=rng.randint(2, 9))
        else:
            end = start + timedelta(minutes=20 if kind == "VR" else 30)
        start_s = instant(day, hour, minute)
        end_s = instant(end.date(), end.hour, end.minute)
        eid = f"enc-{self.key}-{k}"
        ongoing = end.date() > TODAY  # still in hospital on the synthetic "today"
        enc: Resource = {
            "resourceType": "Encounter",
            "id": eid,
            "status": "in-progress" if ongoing else "finished",
            "class": _CLASSES[kind][0],
            "type": [{"text": _CLASSES[kind][1]}],
            "subject": self.pref,
            "participant": [{"individual": ref("Practitioner", pra_id(who))}],
        }
        if kind in ("AMB", "VR") and rng.random() < 0.7:
            apt = self.appointment(who, day, future=False, start=(start_s, end_s, kind == "VR"))
            yield apt
            enc["appointment"] = [ref("Appointment", apt["id"])]
        enc["period"] = {"start": start_s} if ongoing else {"start": start_s, "end": end_s}
        enc["serviceProvider"] = ref("Organization", org_id(org))
        yield enc
        done.append((eid, kind, start_s))
        if kind != "VR":
            yield from self.vitals(eid, start_s, who)
        lab_chance = 0.6 if kind == "IMP" else 0.25 if kind == "AMB" else 0.1
        if not self.child and rng.random() < lab_chance:
            yield from self.biology(eid, day)
        if kind != "VR" and rng.random() < (0.04 if self.child else 0.12):
            yield from self.imaging(eid, day)
        if kind == "IMP" and not ongoing:
            yield from self.discharge(eid, end.date(), end_s, who, org)

    # -- observations ---------------------------------------------------------------------------
    def _observation(
        self, eid: str, when: str, category: list[Resource], m: tuple[str, str], who: str
    ) -> Resource:
        self.n_obs += 1
        return {
            "resourceType": "Observation",
            "id": f"obs-{self.key}-{self.n_obs}",
            "status": "final",
            "category": category,
            "code": shared_concept(c.LOINC, m[0], m[1]),
            "subject": self.pref,
            "encounter": ref("Encounter", eid),
            "effectiveDateTime": when,
            "performer": [ref("Practitioner", who)],
        }

    def vitals(self, eid: str, when: str, who: int) -> Iterator[Resource]:
        rng = self.rng
        performer = pra_id(who)
        if self.child:
            age = max(self.p.age, 0)
            weight = round((3.5 + 2.8 * age) * rng.uniform(0.85, 1.15), 1)
            height = round(min(50 + 6.5 * age, 180) * rng.uniform(0.95, 1.05))
            for m, value, unit in (
                (c.VITALS[1], weight, "kg"),
                (c.VITALS[2], height, "cm"),
                (c.VITALS[3], round(rng.uniform(36.3, 38.8), 1), "Cel"),
            ):
                obs = self._observation(eid, when, _VITAL, m[:2], performer)
                obs["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
                yield obs
            return
        for m in rng.sample(c.VITALS, rng.randint(1, 3)):
            value = round(rng.uniform(m.low, m.high), m.decimals)
            obs = self._observation(eid, when, _VITAL, m[:2], performer)
            obs["valueQuantity"] = {
                "value": int(value) if m.decimals == 0 else value,
                "unit": m.unit,
                "system": UCUM,
                "code": m.unit,
            }
            yield obs
        if rng.random() < 0.6:
            bp = self._observation(eid, when, _VITAL, c.BLOOD_PRESSURE, performer)
            bp["component"] = [
                {
                    "code": shared_concept(c.LOINC, code, label),
                    "valueQuantity": {
                        "value": rng.randint(lo, hi),
                        "unit": "mm[Hg]",
                        "system": UCUM,
                        "code": "mm[Hg]",
                    },
                }
                for code, label, lo, hi in (c.SYSTOLIC, c.DIASTOLIC)
            ]
            yield bp

    def biology(self, eid: str, day: date) -> Iterator[Resource]:
        rng = self.rng
        biologist = self.d.pick(rng, "biologist")
        hour = rng.randint(7, 10)
        when = instant(day, hour, 0)
        lines = [
            "Compte rendu d'examens de biologie médicale",
            *self._header(day, biologist),
        ]
        for m in rng.sample(c.BIOLOGY, rng.randint(2, 4)):
            value = round(rng.uniform(m.low, m.high), m.decimals)
            value = int(value) if m.decimals == 0 else value
            obs = self._observation(eid, when, _LAB, m[:2], pra_id(biologist))
            obs["valueQuantity"] = {"value": value, "unit": m.unit, "system": UCUM, "code": m.unit}
            lines.append(f"{m.display} : {value} {m.unit}")
            yield obs
        report = instant(day, hour + 6, 0)
        yield from self._document(BIOLOGY, lines, biologist, report, eid)

    def _header(self, day: date, author: int) -> list[str]:
        p = self.p
        return [
            f"Patient : {p.firsts[0]} {p.used_family.upper()}, né(e) le {_fr(p.born)}",
            f"Date : {_fr(day)} — auteur RPPS {rpps(author)}",
        ]

    def _document(
        self,
        kind: DocType,
        lines: list[str],
        author: int,
        when: str,
        eid: str,
        study: str | None = None,
    ) -> Iterator[Resource]:
        self.n_doc += 1
        org = self.d.org_kind(self.d.org_of(author))
        yield from document(
            self.rng,
            f"doc-{self.key}-{self.n_doc}",
            kind,
            lines,
            patient=self.p.id,
            author=pra_id(author),
            org=org,
            when=when,
            encounter=eid,
            study=study,
            minor=self.child,
        )

    def imaging(self, eid: str, day: date) -> Iterator[Resource]:
        rng = self.rng
        radiologist = self.d.pick(rng, "radiologist")
        procedure = rng.choice(c.IMAGING)
        hour = rng.randint(8, 16)
        sid = f"ims-{self.key}-{self.n_doc + 1}"
        yield imaging_study(
            sid,
            patient=self.p.id,
            encounter=eid,
            radiologist=pra_id(radiologist),
            endpoint=endpoint_id(self.d.org_of(radiologist)),
            when=instant(day, hour, 0),
            procedure=procedure,
            modality_label=c.MODALITIES[procedure[0]],
            instances=rng.randint(1, 4) if procedure[0] == "CR" else rng.randint(40, 300),
        )
        lines = [
            f"Compte rendu d'imagerie : {procedure[2]}",
            *self._header(day, radiologist),
            "Indication : bilan, examen demandé par le médecin traitant",
            "Conclusion : pas d'anomalie décelable.",
        ]
        yield from self._document(
            IMAGING_REPORT, lines, radiologist, instant(day, hour + 1, 0), eid, sid
        )

    def discharge(self, eid: str, day: date, when: str, who: int, org: int) -> Iterator[Resource]:
        lines = [
            "Lettre de liaison à la sortie",
            *self._header(day, who),
            f"Service : {self.d.org_kind(org).label.split(' de')[0]}",
            "Traitement de sortie : poursuite du traitement habituel.",
            "Suivi : consultation chez le médecin traitant sous 15 jours.",
        ]
        yield from self._document(DISCHARGE, lines, who, when, eid)

    # -- appointments ------------------------------------------------------------------------
    def appointment(
        self,
        who: int | None,
        day: date,
        *,
        future: bool,
        start: tuple[str, str, bool] | None = None,
    ) -> Resource:
        rng = self.rng
        who = self.p.gp if who is None else who
        if start is None:
            hour, minute = rng.randint(8, 18), rng.choice((0, 15, 30, 45))
            tele = rng.random() < 0.3
            length = 20 if tele else 30
            end = datetime(day.year, day.month, day.day, hour, minute) + timedelta(minutes=length)
            start = (instant(day, hour, minute), instant(day, end.hour, end.minute), tele)
        begin, end_s, tele = start
        self.n_apt += 1
        aid = f"apt-{self.key}-{self.n_apt}"
        role = self.d.role(who)
        out: Resource = {
            "resourceType": "Appointment",
            "id": aid,
            "identifier": [{"system": APPOINTMENT_SYSTEM, "value": f"{self.p.n}.{self.n_apt}"}],
            "status": "booked" if future else "fulfilled",
        }
        if tele:
            out["serviceCategory"] = _TELE
        if role.specialty:
            out["specialty"] = [concept(SPECIALTY_CS, *role.specialty)]
        out["appointmentType"] = _FOLLOWUP if rng.random() < 0.4 else _ROUTINE
        out["description"] = "Téléconsultation" if tele else "Consultation"
        out["start"] = begin
        out["end"] = end_s
        out["minutesDuration"] = 20 if tele else 30
        out["created"] = (day - timedelta(days=rng.randint(1, 20))).isoformat()
        if tele:
            out["patientInstruction"] = (
                f"Téléconsultation vidéo : https://visio.demo-hygie.fr/{aid} (lien actif 10 minutes"
                " avant le rendez-vous)"
            )
        out["participant"] = [
            {"actor": self.pref, "required": "required", "status": "accepted"},
            {
                "actor": ref("Practitioner", pra_id(who)),
                "required": "required",
                "status": "accepted",
            },
        ]
        return out

    # -- problems and medicines ------------------------------------------------------------------
    def conditions_and_prescriptions(
        self, encounters: list[tuple[str, str, str]]
    ) -> Iterator[Resource]:
        rng = self.rng
        p = self.p
        if self.child:
            pool = [dx for dx in c.DIAGNOSES if dx[0] in c.CHILD_DIAGNOSES]
            count = rng.choice((0, 0, 1))
        else:
            pool = list(c.DIAGNOSES)
            count = rng.choice((1, 2, 2, 3)) if p.kind == "E" else rng.choice((0, 1, 1, 2))
        n_rx = 0
        for k, (code, label) in enumerate(rng.sample(pool, count)):
            eid, _, start = encounters[rng.randrange(len(encounters))]
            chronic = code in c.CHRONIC
            onset = date.fromisoformat(start[:10]) - timedelta(days=rng.randint(0, 900))
            cid = f"con-{self.key}-{k}"
            yield {
                "resourceType": "Condition",
                "id": cid,
                "clinicalStatus": _CLINICAL if chronic or rng.random() < 0.3 else _RESOLVED,
                "verificationStatus": _CONFIRMED,
                "category": _PROBLEM,
                "code": concept(c.CIM10, code, label, label),
                "subject": self.pref,
                "encounter": ref("Encounter", eid),
                "onsetDateTime": max(onset, p.born).isoformat(),
                "recorder": ref("Practitioner", self.gp),
            }
            for medicine in c.MEDICINES.get(code, ())[:1]:
                n_rx += 1
                yield from self.prescription(n_rx, medicine, chronic, eid, start, cid)
        for eid, kind, start in encounters:
            if kind == "AMB" and rng.random() < 0.08:
                n_rx += 1
                yield from self.prescription(n_rx, c.AMOXICILLIN, False, eid, start, None)

    def prescription(
        self,
        k: int,
        m: c.Medicine,
        chronic: bool,
        eid: str,
        start: str,
        condition: str | None,
    ) -> Iterator[Resource]:
        rng = self.rng
        day = date.fromisoformat(start[:10])
        repeats = 2 if chronic else 0
        rid = f"mrq-{self.key}-{k}"
        medication = shared_concept(ATC, m.atc, m.label, m.label)
        quantity = {
            "value": m.per_day * m.days,
            "unit": c.FORMS[m.form],
            "system": UCUM,
            "code": m.form,
        }
        fills = []
        handed = day + timedelta(days=rng.randint(0, 2))
        for _ in range(repeats + 1):
            if handed > TODAY:
                break
            fills.append(handed)
            handed += timedelta(days=m.days + rng.randint(-2, 3))
        out: Resource = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "identifier": [{"system": PRESCRIPTION_SYSTEM, "value": f"{self.p.n}.{k}"}],
            "status": "active" if len(fills) <= repeats else "completed",
            "intent": "order",
            "medicationCodeableConcept": medication,
            "subject": self.pref,
            "encounter": ref("Encounter", eid),
            "authoredOn": start,
            "requester": ref("Practitioner", self.gp),
        }
        if condition:
            out["reasonReference"] = [ref("Condition", condition)]
        out["dosageInstruction"] = [
            {
                "text": m.dosage,
                "timing": {
                    "repeat": {
                        "boundsDuration": {"value": m.days, **_DAYS},
                        "frequency": m.per_day,
                        "period": 1,
                        "periodUnit": "d",
                    }
                },
            }
        ]
        out["dispenseRequest"] = {
            "validityPeriod": {
                "start": day.isoformat(),
                "end": (day + timedelta(days=90 * (repeats + 1))).isoformat(),
            },
            "numberOfRepeatsAllowed": repeats,
            "quantity": quantity,
            "expectedSupplyDuration": {"value": m.days, **_DAYS},
        }
        yield out
        for r, handed_day in enumerate(fills):
            yield {
                "resourceType": "MedicationDispense",
                "id": f"mdi-{self.key}-{k}-{r}",
                "status": "completed",
                "medicationCodeableConcept": medication,
                "subject": self.pref,
                "performer": [{"actor": ref("Practitioner", self.pharmacist)}],
                "authorizingPrescription": [ref("MedicationRequest", rid)],
                "type": _REFILL if r else _FIRST_FILL,
                "quantity": quantity,
                "daysSupply": {"value": m.days, **_DAYS},
                "whenHandedOver": instant(handed_day, rng.randint(9, 19), rng.randint(0, 59)),
                "dosageInstruction": [{"text": m.dosage}],
            }


def records(p: Person, d: Directory) -> Iterator[Resource]:
    return Record(p, d).resources()
