"""Security labels the shared record uses on `meta.security` / `DocumentReference.securityLabel`.

The DMP carries document visibility as confidentiality codes of the code system
1.2.250.1.213.1.1.4.13 (MetaDMPMSS, see the ANS "volet transmission de documents CDA" guide and
the XDS confidentialityCode of the DMP): masked from professionals, not visible to the patient,
not visible to the legal representatives. Confidentiality itself uses HL7 v3 Confidentiality.
Both the records service (which writes them) and the access policy (which enforces them) take
the codes from here.
"""

from __future__ import annotations

DMP_VISIBILITY_SYSTEM = "urn:oid:1.2.250.1.213.1.1.4.13"
MASQUE_PS = "MASQUE_PS"  # hidden from professionals (except the author)
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"  # held back from the patient until explained
INVISIBLE_REP_LEGAUX = "INVISIBLE_REP_LEGAUX"  # hidden from the legal representatives

CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

# The audit flag on break-the-glass accesses (HL7 v3 ActReason).
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
BREAK_THE_GLASS = "BTG"
