"""The patient in context of a SMART standalone launch (`launch/patient`): who may be chosen,
and how they are shown.

A representative chooses among the patients they act for (a minor, a protected adult). A
professional chooses among the patients they may see now: their care relationships minus the
patients' oppositions, plus unexpired break-the-glass grants (`AccessPolicy.treated`, the
same set the access policy enforces), found by name. The patient context only narrows what the
app's `patient/` scopes reach: the access policy still decides every access.
"""

from __future__ import annotations

from typing import Any

from hygie.auth.accounts import Account
from hygie.store import Context, Repository
from hygie.store.context import PRACTITIONER, REPRESENTATIVE

SHOWN = 20  # at most this many patients on the page: narrow by name
_CHUNK = 100  # ids per search


def candidates(repo: Repository, account: Account) -> list[str]:
    """Patient/… the account may put in context, sorted."""
    if account.kind == REPRESENTATIVE:
        return sorted(account.represented)
    if account.kind != PRACTITIONER or not account.fhir_user:
        return []
    policy = repo.enforcement.policy
    treated = getattr(policy, "treated", None)
    if treated is None:  # no access policy (an open server): no care relationship to offer
        return []
    ctx = Context(actor=account.fhir_user, kind=PRACTITIONER, scopes=frozenset())
    return sorted(f"Patient/{pid}" for pid in treated(ctx))


def may_choose(repo: Repository, account: Account, ref: str) -> bool:
    return ref in candidates(repo, account)


def shown(repo: Repository, account: Account, name: str = "") -> tuple[list[dict[str, str]], bool]:
    """The candidates to list (matching `name`, a FHIR `name` search: prefix of any part),
    as {"ref", "label"}, and whether more match than are shown."""
    refs = candidates(repo, account)
    out: list[dict[str, str]] = []
    system = Context.system()
    for i in range(0, len(refs), _CHUNK):
        ids = ",".join(r.split("/", 1)[1] for r in refs[i : i + _CHUNK])
        params = [("_id", ids), ("_count", str(_CHUNK))]
        if name.strip():
            params.append(("name", name.strip()))
        found = repo.search(system, "Patient", params, base="")
        seen = set()
        for entry in found.get("entry") or ():
            res = entry.get("resource") or {}
            seen.add(f"Patient/{res.get('id')}")
            out.append({"ref": f"Patient/{res.get('id')}", "label": label(res)})
        if not name.strip():  # an account may name a patient whose resource is elsewhere
            out += [{"ref": r, "label": r} for r in refs[i : i + _CHUNK] if r not in seen]
        if len(out) > SHOWN:
            break
    out.sort(key=lambda p: p["label"])
    return out[:SHOWN], len(out) > SHOWN


def label(patient: dict[str, Any]) -> str:
    """`DUPONT Camille — née le 1985-04-12` (official name first)."""
    names = patient.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = str(chosen.get("family") or "").upper()
    given = " ".join(chosen.get("given") or [])
    text = " ".join(x for x in (family, given) if x) or str(chosen.get("text") or "")
    text = text or f"Patient/{patient.get('id')}"
    birth = patient.get("birthDate")
    if birth:
        born = "née" if patient.get("gender") == "female" else "né"
        text += f" — {born} le {birth}"
    return text
