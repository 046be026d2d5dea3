"""Hygie: France's digital-health services on HL7 FHIR R4."""

__version__ = "0.1.0"
