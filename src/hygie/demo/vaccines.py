"""Immunizations following the French vaccination calendar (calendrier des vaccinations,
Ministère de la Santé, 2025 edition), with the changes of the years before it.

Infants: DTCaP-Hib-HepB (hexavalent) and pneumococcal conjugate at 2, 4 and 11 months; MMR at
12 and 16-18 months; meningococcus C at 5 and 12 months, replaced for infants born from 2025
by meningococcus ACWY at 6 and 12 months; meningococcus B at 3, 5 and 12 months and rotavirus
at 2 and 3 months, recommended for infants born from 2022 (MenB compulsory from 2025). Boosters:
DTCaP at 6 years, dTcaP at 11-13 with HPV (two doses, boys included since 2021) and, since
2025, MenACWY; adults dTcaP at 25, dTP at 45 and 65 then every 10 years; influenza each autumn
from 65. Children get their whole history, adults only the adult boosters (older records are
rarely digital). Vaccines are coded with WHO ATC.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import NamedTuple

from hygie.demo.fhirtypes import ATC, TODAY, Resource, ref, shared_concept


class Dose(NamedTuple):
    months: int  # age at the dose
    atc: str
    label: str
    dose: int


HEXA = ("J07CA09", "Vaccin diphtérie, tétanos, coqueluche, poliomyélite, Hib, hépatite B")
PNEUMO = ("J07AL02", "Vaccin pneumococcique conjugué")
MMR = ("J07BD52", "Vaccin rougeole, oreillons, rubéole")
MENC = ("J07AH07", "Vaccin méningococcique C conjugué")
MENACWY = ("J07AH08", "Vaccin méningococcique ACWY conjugué")
MENB = ("J07AH09", "Vaccin méningococcique B")
ROTA = ("J07BH01", "Vaccin rotavirus")
DTCAP = ("J07CA02", "Vaccin diphtérie, tétanos, coqueluche, poliomyélite")
HPV = ("J07BM03", "Vaccin papillomavirus humain 9-valent")
DTP = ("J07CA01", "Vaccin diphtérie, tétanos, poliomyélite")
FLU = ("J07BB02", "Vaccin grippal inactivé")


def _d(months: int, vaccine: tuple[str, str], dose: int) -> Dose:
    return Dose(months, vaccine[0], vaccine[1], dose)


INFANT = (
    _d(2, HEXA, 1), _d(2, PNEUMO, 1), _d(4, HEXA, 2), _d(4, PNEUMO, 2),
    _d(11, HEXA, 3), _d(11, PNEUMO, 3), _d(12, MMR, 1), _d(16, MMR, 2),
    _d(72, DTCAP, 4), _d(132, DTCAP, 5), _d(132, HPV, 1), _d(138, HPV, 2),
)  # fmt: skip
BEFORE_2025 = (_d(5, MENC, 1), _d(12, MENC, 2))
FROM_2025 = (_d(6, MENACWY, 1), _d(12, MENACWY, 2), _d(132, MENACWY, 3))
FROM_2022 = (_d(2, ROTA, 1), _d(3, ROTA, 2), _d(3, MENB, 1), _d(5, MENB, 2), _d(12, MENB, 3))
ADULT = (_d(300, DTCAP, 1), _d(540, DTP, 1), _d(780, DTP, 1), _d(900, DTP, 1), _d(1020, DTP, 1))


def schedule(born: date) -> list[Dose]:
    if (TODAY - born).days >= 18 * 365:
        return list(ADULT)
    doses = list(INFANT)
    doses += FROM_2025 if born.year >= 2025 else BEFORE_2025
    if born.year >= 2022:
        doses += FROM_2022
    return doses


def _at(born: date, months: int, rng: random.Random) -> date:
    year, month = divmod(born.month - 1 + months, 12)
    return date(born.year + year, month + 1, min(born.day, 28)) + timedelta(days=rng.randint(0, 20))


def immunizations(
    rng: random.Random, pid: str, born: date, performers: tuple[str, str]
) -> Iterator[Resource]:
    """The doses of the calendar already due, given by the GP or the nurse (`performers`)."""
    k = 0
    for dose in sorted(schedule(born)):
        day = _at(born, dose.months, rng)
        if day > TODAY:
            continue
        if dose.months >= 300 and (TODAY - day).days > 10 * 365:
            continue  # adult boosters older than ten years are not in the digital record
        if rng.random() < 0.06:
            continue  # a missed dose
        yield _immunization(rng, pid, k, day, dose.atc, dose.label, dose.dose, performers)
        k += 1
    if (TODAY - born).days >= 65 * 365:
        for season in (TODAY.year - 3, TODAY.year - 2, TODAY.year - 1):
            if rng.random() < 0.6:
                day = date(season, 10, 15) + timedelta(days=rng.randint(0, 50))
                yield _immunization(rng, pid, k, day, *FLU, 1, performers)
                k += 1


def _immunization(
    rng: random.Random,
    pid: str,
    k: int,
    day: date,
    atc: str,
    label: str,
    dose: int,
    performers: tuple[str, str],
) -> Resource:
    return {
        "resourceType": "Immunization",
        "id": f"imm-{pid[4:]}-{k}",
        "status": "completed",
        "vaccineCode": shared_concept(ATC, atc, label, label),
        "patient": ref("Patient", pid),
        "occurrenceDateTime": day.isoformat(),
        "primarySource": True,
        "lotNumber": f"L{rng.randint(10000, 99999)}",
        "performer": [{"actor": ref("Practitioner", performers[1 if rng.random() < 0.3 else 0])}],
        "protocolApplied": [{"doseNumberPositiveInt": dose}],
    }
