"""`near` on Location (search.html#special, location.html#positional):
`near=latitude|longitude|distance|units`.

Positions are indexed in `idx_near` (param, lat, lon). A search selects a bounding box through
the (param, lat, lon) index, then keeps points within the distance by the equirectangular
approximation (exact to well under 1% below a few hundred kilometres; longitudes do not wrap
at ±180°). Without a distance, "near" means within DEFAULT_KM; units are UCUM (km, m, [mi_i]).
"""

from __future__ import annotations

import math
from typing import Any

from hygie.search.values import Rows

EARTH_KM = 6371.0088
DEFAULT_KM = 10.0
UNITS_KM = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344, "mi": 1.609344}
_KM_PER_DEGREE = EARTH_KM * math.pi / 180


def near_rows(rows: Rows, key: int, value: Any, _ftype: str | None) -> None:
    if not isinstance(value, dict):
        return
    lat, lon = value.get("latitude"), value.get("longitude")
    if isinstance(lat, int | float) and isinstance(lon, int | float) and not isinstance(lat, bool):
        rows["idx_near"].append((key, float(lat), float(lon)))


def parse_near(raw: str) -> tuple[float, float, float]:
    """(latitude, longitude, distance in km); raises ValueError when malformed."""
    parts = raw.split("|")
    if len(parts) < 2 or len(parts) > 4:
        raise ValueError("expected latitude|longitude[|distance[|units]]")
    lat, lon = float(parts[0]), float(parts[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude or longitude out of range")
    km = DEFAULT_KM
    if len(parts) >= 3 and parts[2]:
        dist = parts[2]
        if dist[:2].isalpha():  # a prefix is meaningless here; `le` is the only sensible one
            dist = dist[2:]
        unit = parts[3] if len(parts) == 4 and parts[3] else "km"
        if unit not in UNITS_KM:
            raise ValueError(f"unknown distance unit '{unit}' (km, m or [mi_i])")
        km = float(dist) * UNITS_KM[unit]
        if not math.isfinite(km) or km < 0:
            raise ValueError("invalid distance")
    return lat, lon, km


def near_sql(value: tuple[float, float, float]) -> tuple[str, list[Any]]:
    lat, lon, km = value
    dlat = km / _KM_PER_DEGREE
    scale = max(math.cos(math.radians(lat)), 1e-6)
    dlon = dlat / scale
    # squared distance in degrees of latitude: dy² + (dx·cos φ)²
    sql = (
        "lat >= ? AND lat <= ? AND lon >= ? AND lon <= ?"
        " AND (lat - ?) * (lat - ?) + (lon - ?) * (lon - ?) * ? <= ?"
    )
    args = [lat - dlat, lat + dlat, lon - dlon, lon + dlon, lat, lat, lon, lon, scale * scale]
    return sql, [*args, dlat * dlat]
