"""Events of the shared record, written to the outbox in the transaction of each fiche write.

Topic `document`: one event per new or changed DocumentReference version — created, replaced
(status superseded), deleted (PDSm isDeleted), visibility or confidentiality changed —
for the patient's notifications and secure messaging. The payload names the fiche and its
version, never the document's content.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hygie.access import labels
from hygie.services.records import documents as d
from hygie.store import Context, Stored

TOPIC = "document"


class DocumentEvents:
    resource_types = frozenset({"DocumentReference"})

    def __call__(self, ctx: Context, stored: Stored) -> Iterable[tuple[str, dict[str, Any]]]:
        payload: dict[str, Any] = {
            "reference": f"DocumentReference/{stored.id}",
            "version": stored.version,
            "actor": ctx.actor,
        }
        if stored.deleted or stored.content is None:
            payload["change"] = "removed"
            return [(TOPIC, payload)]
        doc = stored.resource()
        payload["change"] = "created" if stored.version == 1 else "updated"
        payload["status"] = doc.get("status")
        payload["deleted"] = d.is_deleted(doc)
        payload["patient"] = (doc.get("subject") or {}).get("reference")
        payload["visibility"] = sorted(
            c.get("code")
            for cc in doc.get("securityLabel") or []
            for c in d.codings(cc)
            if c.get("system") == labels.DMP_VISIBILITY_SYSTEM
        )
        types = d.codings(doc.get("type"))
        if types:
            payload["type"] = types[0].get("code")
        return [(TOPIC, payload)]
