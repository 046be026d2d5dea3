"""The access settings: one list of the types that need a second factor, from the
environment (HYGIE_MFA_REQUIRED) or the access JSON file, the latter winning."""

from __future__ import annotations

import orjson

from hygie.access.config import AccessConfig
from hygie.config import DEFAULT_MFA_REQUIRED


def test_sensitive_types_default_env_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("HYGIE_MFA_REQUIRED", raising=False)
    monkeypatch.delenv("HYGIE_ACCESS_CONFIG", raising=False)
    assert AccessConfig.load().sensitive == DEFAULT_MFA_REQUIRED
    monkeypatch.setenv("HYGIE_MFA_REQUIRED", "DocumentReference, Observation")
    assert AccessConfig.load().sensitive == {"DocumentReference", "Observation"}
    monkeypatch.setenv("HYGIE_MFA_REQUIRED", "")
    assert AccessConfig.load().sensitive == frozenset()
    path = tmp_path / "access.json"
    path.write_bytes(orjson.dumps({"sensitive": ["Binary"]}))
    assert AccessConfig.load(path).sensitive == {"Binary"}
