"""Value normalisation shared by indexing and querying: strings, dates, decimals.

Both sides must normalise identically, so this module is the only place that does it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

MIN_TIME = -(2**62)  # open lower bound of a date range (Period without start)
MAX_TIME = 2**62  # open upper bound

_SPACES = re.compile(r"\s+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, no combining marks, casefold, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def _micros(dt: datetime) -> int:
    return (dt - _EPOCH) // _US


@lru_cache(maxsize=65536)
def date_range(text: str) -> tuple[int, int]:
    """[low, high) in µs since the epoch for a FHIR date/dateTime/instant at its precision.

    A value without a timezone is taken as UTC. Raises ValueError when malformed.
    """
    m = _DATE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"invalid date {text!r}")
    year, month, day, hh, mi, ss, frac, tz = m.groups()
    y = int(year)
    if month is None:
        return _micros(datetime(y, 1, 1, tzinfo=UTC)), _micros(datetime(y + 1, 1, 1, tzinfo=UTC))
    mo = int(month)
    if day is None:
        start = datetime(y, mo, 1, tzinfo=UTC)
        end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=UTC)
        return _micros(start), _micros(end)
    if hh is None:
        start = datetime(y, mo, int(day), tzinfo=UTC)
        return _micros(start), _micros(start + timedelta(days=1))
    start = datetime(y, mo, int(day), int(hh), int(mi), int(ss or 0), tzinfo=UTC)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        start -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    low = _micros(start)
    if frac:
        digits = frac[:6]
        low += int(digits) * 10 ** (6 - len(digits))
        return low, low + 10 ** (6 - len(digits))
    return low, low + (1_000_000 if ss else 60_000_000)


def format_micros(us: int) -> str:
    """An instant string for a µs epoch value (used for meta.lastUpdated and cursors)."""
    dt = _EPOCH + timedelta(microseconds=us)
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")


def decimal_range(text: str) -> tuple[float, float, float]:
    """(value, low, high): the implicit range of a decimal at its stated precision.

    "100" -> [99.5, 100.5), "1.50" -> [1.495, 1.505), "1e2" -> [50, 150) (search.html#number).
    Raises ValueError when malformed.
    """
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"invalid number {text!r}") from None
    if not d.is_finite():
        raise ValueError(f"invalid number {text!r}")
    half = Decimal(5).scaleb(d.as_tuple().exponent - 1)
    return float(d), float(d - half), float(d + half)
