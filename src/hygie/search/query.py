"""The parsed form of a search: a tree of conditions plus the result controls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hygie.search.registry import SearchParam

if TYPE_CHECKING:
    from hygie.store.context import Restriction


@dataclass(slots=True)
class Leaf:
    """One parameter test; `values` are OR'ed (comma), already parsed for the type.

    `params` holds one SearchParam per candidate resource type (several at system level).
    """

    params: list[SearchParam]
    modifier: str | None  # also "all": date values AND'ed on one value (see parse.merge_dates)
    values: list[Any]
    span: int | None = None  # dates: the longest [low, high) indexed for the parameter

    @property
    def type(self) -> str:
        return self.params[0].type

    @property
    def code(self) -> str:
        return self.params[0].code


@dataclass(slots=True)
class Chain:
    """`ref:Type.inner`: resources whose reference `params` points to a match of `inner`."""

    params: list[SearchParam]
    target_types: list[str]
    inner: Node


@dataclass(slots=True)
class Has:
    """`_has:Source:ref:inner`: resources referenced by `ref` of a Source matching `inner`."""

    source_type: str
    param: SearchParam
    inner: Node


@dataclass(slots=True)
class AnyOf:
    """OR of conditions (a composite parameter's comma-separated values)."""

    nodes: list[Node]


@dataclass(slots=True)
class InList:
    """`_list=id,...`: resources that are items of one of these List resources."""

    list_ids: list[str]


Node = Leaf | Chain | Has | AnyOf | InList


@dataclass(slots=True)
class Include:
    source_type: str
    param: SearchParam | None  # None for `*`
    target_type: str | None
    iterate: bool
    reverse: bool


@dataclass
class SearchQuery:
    rtype: str | None
    types: list[str]  # the resource types searched (one, or `_type` / all at system level)
    conditions: list[Node] = field(default_factory=list)  # AND'ed
    count: int = 20
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (code, descending)
    total: str | None = None  # none | estimate | accurate
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    cursor: str | None = None
    applied: list[tuple[str, str]] = field(default_factory=list)  # for the self link
    # the caller's row filter (access policy), applied to every resources alias the SQL reads
    restrict: Restriction | None = None
