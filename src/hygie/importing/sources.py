"""Which files to import, and NDJSON read as batches of raw lines (parsed later, where stored)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

NDJSON = "ndjson"
BUNDLE = "bundle"
_KINDS = ((".ndjson", NDJSON), (".ndjson.gz", NDJSON), (".json", BUNDLE), (".json.gz", BUNDLE))


def kind_of(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, kind in _KINDS:
        if name.endswith(suffix):
            return kind
    return None


def discover(paths: Sequence[Path]) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(file, kind) to import, in argument order (a directory's files sorted by path), and
    (path, message) for each argument that cannot be imported."""
    found: list[tuple[Path, str]] = []
    refused: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            inside = [(f, k) for f in sorted(path.rglob("*")) if f.is_file() and (k := kind_of(f))]
            if not inside:
                refused.append(
                    (path, "no .json, .json.gz, .ndjson or .ndjson.gz file in directory")
                )
            found.extend(inside)
        elif path.is_file():
            kind = kind_of(path)
            if kind is None:
                refused.append(
                    (path, "unsupported file type: expected .json, .json.gz, .ndjson or .ndjson.gz")
                )
            else:
                found.append((path, kind))
        else:
            refused.append((path, "no such file or directory"))
    return found, refused


@dataclass(slots=True)
class LineBatch:
    """Raw NDJSON lines with their 1-based line numbers, and the file bytes they span."""

    lines: list[tuple[int, bytes]]
    nbytes: int


def ndjson_batches(path: Path, size: int) -> Iterator[LineBatch]:
    """Non-blank lines in batches of `size`; progress counted in bytes of the file on disk
    (compressed bytes for .gz)."""
    with path.open("rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
        done = 0
        lines: list[tuple[int, bytes]] = []
        append = lines.append
        for number, line in enumerate(stream, 1):
            if line.isspace():
                continue
            append((number, line))
            if len(lines) >= size:
                pos = raw.tell()
                yield LineBatch(lines, pos - done)
                done = pos
                lines = []
                append = lines.append
        end = raw.seek(0, 2)
        if lines or end > done:
            yield LineBatch(lines, end - done)
