"""FHIR search: index extraction at write time and search execution over the index tables."""

from hygie.search.capabilities import NOT_SUPPORTED, supported_modifiers, supported_parameters
from hygie.search.custom import attach, parameter_written
from hygie.search.custom import refresh as refresh_custom
from hygie.search.execute import execute, matching_ids
from hygie.search.index import extract, with_own_id
from hygie.search.keys import param_key
from hygie.search.parse import parse
from hygie.search.registry import generation as custom_generation
from hygie.search.reindex import run as run_reindex
from hygie.search.reindex import run_contained as reindex_contained
from hygie.search.reindex import status_parameters as reindex_status
from hygie.search.schema import INDEX_TABLES, index_ddl

__all__ = [
    "INDEX_TABLES",
    "NOT_SUPPORTED",
    "attach",
    "custom_generation",
    "parameter_written",
    "refresh_custom",
    "reindex_contained",
    "reindex_status",
    "run_reindex",
    "execute",
    "extract",
    "index_ddl",
    "matching_ids",
    "param_key",
    "parse",
    "supported_modifiers",
    "supported_parameters",
    "with_own_id",
]
