"""Cone search: the documents within a radius of each position, nearest first.

Each position is one ``$geoWithin``/``$centerSphere`` query on
``coordinates.radec_geojson`` (longitude ``ra - 180``, the form a 2dsphere index
wants), ANDed with the user's filter and run through the user's view of the catalog.
Distances are great-circle distances (haversine, stable at small separations)
computed from each document's stored position; ``distance_arcsec`` is added to
every document.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from pymongo.database import Database

from boom_flow.api import archive
from boom_flow.api.errors import bad_request, too_large
from boom_flow.api.rights import Rights, restrict_filter

GEO_FIELD = "coordinates.radec_geojson"
#: Factor from each accepted unit to radians.
UNITS = {
    "degrees": math.pi / 180,
    "radians": 1.0,
    "arcminutes": math.pi / (180 * 60),
    "arcseconds": math.pi / (180 * 3600),
}
ARCSEC_PER_RADIAN = 180 * 3600 / math.pi


class ConeRequest(Protocol):
    object_coordinates: dict[str, list[float]]
    radius: float
    unit: str
    filter: dict[str, Any]
    projection: dict[str, Any] | None
    skip: int
    sort: Any


def radius_radians(radius: float, unit: str) -> float:
    factor = UNITS.get(unit.lower())
    if factor is None:
        raise bad_request(f"unit {unit!r} is not one of Degrees, Radians, Arcseconds, Arcminutes")
    radians = radius * factor
    if not 0 < radians <= math.pi:
        raise bad_request("radius must be positive and at most 180 degrees")
    return radians


def check_position(name: str, position: list[float]) -> tuple[float, float]:
    ra, dec = float(position[0]), float(position[1])
    if not (math.isfinite(ra) and math.isfinite(dec) and 0 <= ra <= 360 and -90 <= dec <= 90):
        raise bad_request(f"object_coordinates.{name}: expected [ra, dec] with 0 <= ra <= 360 "
                          "and -90 <= dec <= 90 (degrees)")
    return ra, dec


def angular_distance_arcsec(ra: float, dec: float, ras: np.ndarray, decs: np.ndarray
                            ) -> np.ndarray:
    """Great-circle distance (arcsec) from (ra, dec) to each (ras, decs), in degrees."""
    ra1, dec1 = math.radians(ra), math.radians(dec)
    ra2, dec2 = np.radians(ras), np.radians(decs)
    half = (np.sin((dec2 - dec1) / 2) ** 2
            + math.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2)
    return 2 * np.arcsin(np.sqrt(np.clip(half, 0, 1))) * ARCSEC_PER_RADIAN


def with_position(projection: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """A projection that keeps the stored position (needed for distances), and whether
    it was added (then it is removed from the answer)."""
    if not projection:
        return projection, False
    inclusive = any(value not in (0, False) for key, value in projection.items() if key != "_id")
    if inclusive:
        if projection.get(GEO_FIELD) or projection.get("coordinates"):
            return projection, False
        return {**projection, GEO_FIELD: 1}, True
    excluded = {"coordinates", GEO_FIELD} & set(projection)
    if not excluded:
        return projection, False
    kept = {key: value for key, value in projection.items() if key not in excluded}
    return kept or None, True


def _position_of(document: dict[str, Any]) -> tuple[float, float]:
    point = (document.get("coordinates") or {}).get("radec_geojson") or {}
    lon, lat = (point.get("coordinates") or (math.nan, math.nan))[:2]
    return float(lon) + 180.0, float(lat)


def _strip_position(document: dict[str, Any]) -> None:
    coordinates = document.get("coordinates")
    if isinstance(coordinates, dict):
        coordinates.pop("radec_geojson", None)
        if not coordinates:
            del document["coordinates"]


def cone_search(db: Database, collection: str, rights: Rights, query: ConeRequest, *,
                limit: int, max_matches: int) -> dict[str, list[dict[str, Any]]]:
    """``{position name: [documents nearest first, with distance_arcsec]}``.

    Without a ``sort``, every match of a position is read to order them by distance:
    more than ``max_matches`` of them is refused (413) rather than truncated at random.
    """
    radians = radius_radians(query.radius, query.unit)
    projection, added = with_position(query.projection)
    sort = archive.normalise_sort(query.sort)
    positions = {name: check_position(name, xy) for name, xy in query.object_coordinates.items()}
    results: dict[str, list[dict[str, Any]]] = {}
    for name, (ra, dec) in positions.items():
        cone = {GEO_FIELD: {"$geoWithin": {"$centerSphere": [[ra - 180.0, dec], radians]}}}
        found = list(archive.find(
            db, collection, rights, restrict_filter(query.filter, cone), projection=projection,
            sort=sort, skip=query.skip if sort else 0, limit=limit if sort else max_matches + 1))
        if not sort and len(found) > max_matches:
            raise too_large(f"more than {max_matches} documents lie within the radius of "
                            f"{name!r}; use a smaller radius or a filter")
        places = np.array([_position_of(doc) for doc in found], dtype=float).reshape(-1, 2)
        distances = angular_distance_arcsec(ra, dec, places[:, 0], places[:, 1])
        for doc, distance in zip(found, distances.tolist(), strict=True):
            doc["distance_arcsec"] = distance if math.isfinite(distance) else None
            if added:
                _strip_position(doc)
        if not sort:
            order = np.argsort(np.nan_to_num(distances, nan=np.inf), kind="stable")
            found = [found[i] for i in order[query.skip:query.skip + limit].tolist()]
        results[name] = found
    return results
