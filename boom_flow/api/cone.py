"""Cone search: the documents within a radius of each position, nearest first.

Each position is one ``$geoWithin``/``$centerSphere`` query on
``coordinates.radec_geojson`` (longitude ``ra - 180``, the form a 2dsphere index
wants), ANDed with the user's filter and run through the user's view of the catalog.
Distances are great-circle distances (``crossmatch.sky.separation_arcsec``, stable
at every separation) computed from each document's stored position; ``distance_arcsec`` is added to
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
from boom_flow.crossmatch.sky import ARCSEC_PER_RADIAN, separation_arcsec
from boom_flow.storage.documents import stored_positions, without_subfield

GEO_FIELD = "coordinates.radec_geojson"
#: Factor from each accepted unit to radians.
UNITS = {
    "degrees": math.pi / 180,
    "radians": 1.0,
    "arcminutes": math.pi / (180 * 60),
    "arcseconds": math.pi / (180 * 3600),
}
#: Positions searched with one query.
CHUNK = 100


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


def with_position(projection: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """A projection that keeps the stored position (needed for distances), and whether
    it was added (then it is removed from the answer)."""
    if not projection:
        return projection, False
    others = [value for key, value in projection.items() if key != "_id"]
    # MongoDB: an inclusion projection includes some field; {_id: 1} alone includes _id.
    inclusive = (any(value not in (0, False) for value in others) if others
                 else projection.get("_id") not in (0, False))
    if inclusive:
        if projection.get(GEO_FIELD) or projection.get("coordinates"):
            return projection, False
        return {**projection, GEO_FIELD: 1}, True
    excluded = {"coordinates", GEO_FIELD} & set(projection)
    if not excluded:
        return projection, False
    kept = {key: value for key, value in projection.items() if key not in excluded}
    return kept or None, True


def cone_search(db: Database, collection: str, rights: Rights, query: ConeRequest, *,
                limit: int, max_matches: int) -> dict[str, list[dict[str, Any]]]:
    """``{position name: [documents with distance_arcsec]}``, nearest first unless the
    request names a ``sort`` (then the database sorts, skips and limits each cone)."""
    radians = radius_radians(query.radius, query.unit)
    projection, added = with_position(query.projection)
    sort = archive.normalise_sort(query.sort)
    positions = {name: check_position(name, xy) for name, xy in query.object_coordinates.items()}
    names = list(positions)
    results: dict[str, list[dict[str, Any]]] = {}
    if sort:
        for name in names:
            condition = restrict_filter(query.filter, _cone(positions[name], radians))
            found = list(archive.find(db, collection, rights, condition, projection=projection,
                                      sort=sort, skip=query.skip, limit=limit))
            distances = _distances(found, [positions[name]])
            results[name] = _with_distances(found, distances, [[True] * len(found)],
                                            added, by_distance=False)[0]
        return results
    for start in range(0, len(names), CHUNK):
        chunk = names[start:start + CHUNK]
        for name, docs in zip(chunk, _nearest(db, collection, rights, query, projection,
                                              [positions[n] for n in chunk], radians,
                                              max_matches, added), strict=True):
            results[name] = docs[query.skip:query.skip + limit]
    return results


def _cone(position: tuple[float, float], radians: float) -> dict[str, Any]:
    ra, dec = position
    return {GEO_FIELD: {"$geoWithin": {"$centerSphere": [[ra - 180.0, dec], radians]}}}


def _nearest(db: Database, collection: str, rights: Rights, query: ConeRequest,
             projection: dict[str, Any] | None, positions: list[tuple[float, float]],
             radians: float, max_matches: int, added: bool) -> list[list[dict[str, Any]]]:
    """Every match of each position, nearest first: one query for the whole chunk (an
    ``$or`` of the cones), each document then given to the cones that hold it.

    Every match must be read to order them by distance: more than ``max_matches`` is
    refused (413) rather than truncated at random.
    """
    cones = [_cone(position, radians) for position in positions]
    condition = cones[0] if len(cones) == 1 else {"$or": cones}
    found = list(archive.find(db, collection, rights, restrict_filter(query.filter, condition),
                              projection=projection, limit=max_matches + 1))
    if len(found) > max_matches:
        raise too_large(f"more than {max_matches} documents lie within the radius of these "
                        "positions; use a smaller radius, fewer positions or a filter")
    distances = _distances(found, positions)
    radius_arcsec = radians * ARCSEC_PER_RADIAN
    # One cone: the database decided; several: the document is in this one if its
    # distance says so (a relative 1e-9 absorbs the two formulas' rounding).
    inside = [(cone <= radius_arcsec * (1 + 1e-9)).tolist() if len(cones) > 1
              else [True] * len(found) for cone in distances]
    return _with_distances(found, distances, inside, added, by_distance=True)


def _distances(found: list[dict[str, Any]], positions: list[tuple[float, float]]
               ) -> list[np.ndarray]:
    """Per position, the distance (arcsec) of every document of ``found`` from it."""
    ras, decs = stored_positions(found)
    return [separation_arcsec(ra, dec, ras, decs) for ra, dec in positions]


def _with_distances(found: list[dict[str, Any]], distances: list[np.ndarray],
                    inside: list[list[bool]], added: bool, *,
                    by_distance: bool) -> list[list[dict[str, Any]]]:
    """Per position, its documents (``inside[j][i]``: document ``i`` lies in cone ``j``)
    with ``distance_arcsec`` (``distances[j][i]``), nearest first when ``by_distance``;
    a document in several cones is copied, since its distance differs in each."""
    copy = len(distances) > 1
    results = []
    for cone, members in zip(distances, inside, strict=True):
        order = (np.argsort(np.nan_to_num(cone, nan=np.inf), kind="stable")
                 if by_distance else np.arange(len(found)))
        docs = []
        for i in order.tolist():
            if not members[i]:
                continue
            doc = dict(found[i]) if copy else found[i]
            distance = float(cone[i])
            doc["distance_arcsec"] = distance if math.isfinite(distance) else None
            docs.append(without_subfield(doc, "coordinates", "radec_geojson") if added else doc)
        results.append(docs)
    return results
