"""The shared record's rules for one DocumentReference (PDSm comprehensive fiche, DMP rules).

Each rule yields an `Issue` with the element it is about; the MHD bundle check and the
DocumentReference write hook both use them, so a fiche is held to the same rules however it
arrives. References are resolved by a `Resolver`: the bundle being published, the resources
contained in the fiche, then the server (through the Repository, with the caller's Context).

Rules (PDSm `PDSm_ComprehensiveDocumentReference`, IHE MHD Comprehensive DocumentReference):
status `current` on publication; a `masterIdentifier` (uniqueId); class (`category`) and type
from the vendored value sets (`terminology.py`); exactly one confidentiality code (N, R or V)
and DMP visibility codes only from their system; `date`; one `content` with an attachment
carrying contentType, url, size, SHA-1 hash and title, and a format code; facility type and
practice setting from their code systems; `context.period.start`; an author who is a health
professional with an RPPS number (IDNPS starting with 8), or the patient; the subject a
Patient of the server whose identity is qualified (QUAL) and carries an INS; related
ImagingStudy references that resolve and carry an endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from hygie.access import labels
from hygie.fhir.outcome import Issue
from hygie.services.identity import profile, status
from hygie.services.identity.rules import ins_identifiers
from hygie.services.records import terminology as t
from hygie.services.records.config import RecordsSettings

IDNPS_SYSTEM = (
    "urn:oid:1.2.250.1.71.4.2.1"  # national professional identifiers (RPPS: "8" + 11 digits)
)
IS_DELETED_URL = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-deleted"
)
IS_ARCHIVED_URL = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
)

Resource = dict[str, Any]
Resolver = Callable[[str], Resource | None]


def codings(cc: Any) -> list[dict[str, Any]]:
    if not isinstance(cc, dict):
        return []
    return [c for c in cc.get("coding") or [] if isinstance(c, dict)]


def extension_value(res: Resource, url: str) -> Any:
    for ext in res.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def is_deleted(doc: Resource) -> bool:
    return extension_value(doc, IS_DELETED_URL) is True


def rpps_of(practitioner: Resource) -> str | None:
    for ident in practitioner.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == IDNPS_SYSTEM:
            value = str(ident.get("value") or "")
            if len(value) == 12 and value.startswith("8") and value.isdigit():
                return value[1:]
    return None


def authors_rpps(doc: Resource, resolve: Resolver) -> set[str]:
    """The RPPS numbers of the fiche's authors (Practitioner, or PractitionerRole.practitioner)."""
    found = set()
    for author in doc.get("author") or []:
        res = resolve_in(doc, (author or {}).get("reference"), resolve)
        if res and res.get("resourceType") == "PractitionerRole":
            res = resolve_in(doc, (res.get("practitioner") or {}).get("reference"), resolve)
        if res and res.get("resourceType") == "Practitioner" and (rpps := rpps_of(res)):
            found.add(rpps)
    return found


def resolve_in(doc: Resource, ref: Any, resolve: Resolver) -> Resource | None:
    if not isinstance(ref, str):
        return None
    if ref.startswith("#"):
        for res in doc.get("contained") or []:
            if isinstance(res, dict) and res.get("id") == ref[1:]:
                return res
        return None
    return resolve(ref)


def _coded(cc: Any, systems: frozenset[str] | set[str], where: str, what: str) -> Iterator[Issue]:
    found = codings(cc)
    if not found:
        yield Issue("required", f"{what} is required", expression=where)
        return
    if not any(c.get("system") in systems and c.get("code") for c in found):
        got = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in found)
        yield Issue(
            "code-invalid", f"{what} {got} is not from the expected code systems", expression=where
        )


def metadata_issues(
    doc: Resource, settings: RecordsSettings, where: str = "DocumentReference"
) -> list[Issue]:
    """The rules that need nothing but the fiche itself."""
    issues: list[Issue] = []
    if doc.get("status") != "current":
        issues.append(
            Issue(
                "business-rule",
                f"a published fiche has status 'current', not '{doc.get('status')}'",
                expression=f"{where}.status",
            )
        )
    if not (doc.get("masterIdentifier") or {}).get("value"):
        issues.append(
            Issue(
                "required",
                "masterIdentifier (the document's uniqueId) is required",
                expression=f"{where}.masterIdentifier",
            )
        )
    if not doc.get("date"):
        issues.append(Issue("required", "date is required (PDSm)", expression=f"{where}.date"))
    issues += _class_and_type(doc, settings, where)
    issues += _security(doc, where)
    issues += _content(doc, settings, where)
    ctx = doc.get("context") or {}
    issues += _coded(
        ctx.get("facilityType"), t.FACILITY_SYSTEMS, f"{where}.context.facilityType", "facilityType"
    )
    issues += _coded(
        ctx.get("practiceSetting"),
        t.PRACTICE_SYSTEMS,
        f"{where}.context.practiceSetting",
        "practiceSetting",
    )
    if not (ctx.get("period") or {}).get("start"):
        issues.append(
            Issue(
                "required",
                "context.period.start (date of the act) is required (PDSm)",
                expression=f"{where}.context.period.start",
            )
        )
    if not doc.get("author"):
        issues.append(
            Issue("required", "at least one author is required", expression=f"{where}.author")
        )
    return issues


def _class_and_type(doc: Resource, settings: RecordsSettings, where: str) -> list[Issue]:
    issues = []
    classes = [c for cc in doc.get("category") or [] for c in codings(cc)]
    if not any(c.get("system") == t.CLASS_SYSTEM and c.get("code") in t.CLASSES for c in classes):
        got = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in classes) or "none"
        issues.append(
            Issue(
                "code-invalid",
                f"the document class (category) must be a TRE_A03-ClasseDocument code of JDV_J06 ({got})",
                expression=f"{where}.category",
            )
        )
    types = codings(doc.get("type"))
    loinc = set(t.LOINC_TYPES) | set(settings.extra_type_codes)
    ok = any(
        (c.get("system") == t.LOINC and c.get("code") in loinc)
        or (c.get("system") == t.TYPE_COMPLEMENT_SYSTEM and c.get("code") in t.COMPLEMENT_TYPES)
        for c in types
    )
    if not ok:
        got = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in types) or "none"
        issues.append(
            Issue(
                "code-invalid",
                f"the document type must be a LOINC or TRE_A05 code of JDV_J07 ({got})",
                expression=f"{where}.type",
            )
        )
    return issues


def _security(doc: Resource, where: str) -> list[Issue]:
    issues = []
    conf = 0
    for i, cc in enumerate(doc.get("securityLabel") or []):
        for c in codings(cc):
            system, code = c.get("system"), c.get("code")
            if system == labels.CONFIDENTIALITY_SYSTEM:
                conf += 1
                if code not in t.CONFIDENTIALITY_CODES:
                    issues.append(
                        Issue(
                            "code-invalid",
                            f"confidentiality '{code}' is not N, R or V",
                            expression=f"{where}.securityLabel[{i}]",
                        )
                    )
            elif system == labels.DMP_VISIBILITY_SYSTEM:
                if code not in (
                    labels.MASQUE_PS,
                    labels.INVISIBLE_PATIENT,
                    labels.INVISIBLE_REP_LEGAUX,
                ):
                    issues.append(
                        Issue(
                            "code-invalid",
                            f"unknown DMP visibility code '{code}'",
                            expression=f"{where}.securityLabel[{i}]",
                        )
                    )
    if conf != 1:
        issues.append(
            Issue(
                "required",
                f"exactly one confidentiality code (v3-Confidentiality N, R or V) is required, found {conf}",
                expression=f"{where}.securityLabel",
            )
        )
    return issues


def _content(doc: Resource, settings: RecordsSettings, where: str) -> list[Issue]:
    contents = doc.get("content") or []
    if len(contents) != 1:
        return [
            Issue("structure", "a fiche has exactly one content", expression=f"{where}.content")
        ]
    att = contents[0].get("attachment") or {}
    w = f"{where}.content[0].attachment"
    issues = []
    for key in ("contentType", "url", "size", "hash", "title"):
        if att.get(key) in (None, ""):
            issues.append(
                Issue("required", f"attachment.{key} is required (PDSm)", expression=f"{w}.{key}")
            )
    media = str(att.get("contentType") or "").split(";")[0].strip().lower()
    if media and not settings.accepts(media):
        issues.append(
            Issue(
                "not-supported",
                f"documents of type '{media}' are not accepted",
                expression=f"{w}.contentType",
            )
        )
    fmt = codings({"coding": [contents[0].get("format")]} if contents[0].get("format") else None)
    if not fmt:
        issues.append(
            Issue(
                "required",
                "content.format (the document's format code) is required",
                expression=f"{where}.content[0].format",
            )
        )
    else:
        c = fmt[0]
        system, code = c.get("system"), str(c.get("code") or "")
        good = (system in t.FORMAT_SYSTEMS and code.startswith("urn:")) or (
            system == t.DICOM_UID_SYSTEM and code.replace(".", "").isdigit()
        )
        if not good:
            issues.append(
                Issue(
                    "code-invalid",
                    f"format {system}|{code} is not a JDV_J10 format code",
                    expression=f"{where}.content[0].format",
                )
            )
    return issues


def patient_issues(patient: Resource | None, ref: str, where: str) -> list[Issue]:
    """Only a qualified identity (QUAL) with its INS may feed the shared record (RNIV, INS guide)."""
    if patient is None or patient.get("resourceType") != "Patient":
        return [
            Issue(
                "not-found",
                f"the subject {ref} is not a Patient of this server",
                expression=f"{where}.subject",
            )
        ]
    code = profile.status(patient) or status.PROV
    if code != status.QUAL:
        return [
            Issue(
                "business-rule",
                f"the identity of {ref} is {status.LABELS.get(code, code)} ({code}); only a qualified identity (QUAL) may feed the shared record",
                expression=f"{where}.subject",
            )
        ]
    if not ins_identifiers(patient):
        return [
            Issue(
                "business-rule", f"{ref} carries no INS identifier", expression=f"{where}.subject"
            )
        ]
    return []


def author_issues(doc: Resource, subject: str, resolve: Resolver, where: str) -> list[Issue]:
    if authors_rpps(doc, resolve):
        return []
    for author in doc.get("author") or []:
        if (
            resolve_in(doc, (author or {}).get("reference"), resolve) is not None
            and (author or {}).get("reference") == subject
        ):
            return []  # the patient publishes their own document
    return [
        Issue(
            "business-rule",
            "an author must be a health professional identified by an RPPS number (identifier system urn:oid:1.2.250.1.71.4.2.1, value 8 + RPPS), or the patient",
            expression=f"{where}.author",
        )
    ]


def related_issues(doc: Resource, resolve: Resolver, where: str) -> list[Issue]:
    """Imaging reports may link their image study (context.related → ImagingStudy + endpoint)."""
    issues = []
    for i, rel in enumerate((doc.get("context") or {}).get("related") or []):
        ref = (rel or {}).get("reference")
        if not isinstance(ref, str) or not ref.split("/")[0] == "ImagingStudy":
            continue
        study = resolve_in(doc, ref, resolve)
        w = f"{where}.context.related[{i}]"
        if study is None:
            issues.append(Issue("not-found", f"{ref} does not exist", expression=w))
        elif not study.get("endpoint"):
            issues.append(
                Issue("business-rule", f"{ref} has no endpoint to open the images", expression=w)
            )
    return issues


def attachment_issues(doc: Resource, blob: Any, binary: Resource | None, where: str) -> list[Issue]:
    """Size and SHA-1 hash of the attachment against the stored bytes; same content type."""
    att = ((doc.get("content") or [{}])[0] or {}).get("attachment") or {}
    w = f"{where}.content[0].attachment"
    if binary is None or blob is None:
        return [
            Issue(
                "not-found",
                f"attachment.url '{att.get('url')}' is not a Binary of the bundle or of this server",
                expression=f"{w}.url",
            )
        ]
    issues = []
    if att.get("size") != blob.size:
        issues.append(
            Issue(
                "value",
                f"attachment.size {att.get('size')} does not match the document ({blob.size} bytes)",
                expression=f"{w}.size",
            )
        )
    if att.get("hash") != blob.sha1_b64:
        issues.append(
            Issue(
                "value",
                f"attachment.hash does not match the SHA-1 of the document ({blob.sha1_b64})",
                expression=f"{w}.hash",
            )
        )
    a_media = str(att.get("contentType") or "").split(";")[0].strip().lower()
    b_media = str(binary.get("contentType") or "").split(";")[0].strip().lower()
    if a_media != b_media:
        issues.append(
            Issue(
                "value",
                f"attachment.contentType '{a_media}' differs from the Binary's '{b_media}'",
                expression=f"{w}.contentType",
            )
        )
    return issues
