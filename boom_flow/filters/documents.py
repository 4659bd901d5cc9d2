"""The document a filter sees for each alert, built from the batch in memory.

A filter is a MongoDB pipeline written against the archive: the alert document plus the
object's history joined from ``{S}_alerts_aux``. To run it on the batch before the write
without a database round trip, this module builds, for every alert, exactly the document
the server would build over the archive once the batch is stored, with this prefix
(``server_prefix``: the parity tests run it on the MongoDB-compatible server):

    $match {_id: {$in: ids}, candidate.programid: {$in: permitted}}
    $lookup the aux document of the object
    $project objectId, candidate, classifications, properties, coordinates, and each
             history array filtered to  jd <= candidate.jd,  candidate.jd - jd < 365,
             programid in permitted;  cross_matches, aliases of the object

"Exactly" includes which fields a history point has (absent and null differ in MongoDB):
the archive's stored points come from ``known.documents`` as read, and the batch's own
points are made into dicts and merged by the archive writer's own code
(``storage.history.incoming_points`` and its rule: an alert's candidate replaces a
stored point of the same ``jd`` with fewer fields; nothing else replaces anything).

No look-ahead: a point later than the alert is never visible, so a backtest over the
archive (``from_archive``) sees what the live run saw. Everything per object is computed
once per batch; ``documents(programids)`` then trims it for one permission set (cached:
25 filters with the same rights cost one trimming).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from boom_flow.core.batch import AlertBatch
from boom_flow.core.history import HISTORY_KINDS, NO_POINT_ID, point_id
from boom_flow.storage.documents import (
    clean_value,
    distinct_alerts,
    float_column,
    without_subfield,
)
from boom_flow.storage.points import CANDIDATE, KEY, batch_points

#: The trailing window of history a filter sees (days before the alert).
HISTORY_DAYS = 365.0
#: Surveys whose alerts carry ZTF-style data rights (``candidate.programid``).
PROGRAMID_SURVEYS = frozenset({"ZTF"})
#: Alert-document fields a filter sees (besides ``_id``), as the archive stores them.
ALERT_FIELDS = ("objectId", "candidate", "classifications", "properties", "coordinates")
OBJECT_FIELDS = ("cross_matches", "aliases")
Programids = tuple[int, ...] | None
#: The ZTF programids whose objects a filter's owner may see named in ``aliases.ZTF``
#: of another survey's object (None: every ZTF object).
AliasRights = frozenset[int] | None
ZTF_PROGRAMIDS = frozenset({1, 2, 3})


def permitted_programids(survey: str, permissions: Mapping[str, Iterable[int]] | None
                         ) -> Programids:
    """The programids a filter may see, or None where the survey has no data rights.

    >>> permitted_programids("ztf", {"ZTF": [2, 1]})
    (1, 2)
    >>> permitted_programids("LSST", {}) is None
    True
    """
    survey = survey.upper()
    if survey not in PROGRAMID_SURVEYS:
        return None
    return tuple(sorted({int(p) for p in (permissions or {}).get(survey, ())}))


def alias_rights(survey: str, permissions: Mapping[str, Iterable[int]] | None,
                 owner: Mapping[str, Any] | None = None) -> AliasRights:
    """Which ZTF objects a filter of ``survey`` may see named as aliases: those with a
    detection in a programid its owner may see (the API's view of the other survey's aux
    collection, ``api.rights``); the filter's own permissions when the owner is unknown.

    >>> alias_rights("LSST", {"ZTF": [1]}), alias_rights("ZTF", {"ZTF": [1]})
    (frozenset({1}), None)
    >>> alias_rights("LSST", {}, {"is_admin": True}) is None
    True
    """
    if survey.upper() in PROGRAMID_SURVEYS:
        return None  # its aliases name objects of surveys without data rights
    if owner is not None:
        if owner.get("is_admin"):
            return None
        permissions = owner.get("permissions")
    granted = frozenset(int(p) for p in (permissions or {}).get("ZTF", ()))
    return None if granted >= ZTF_PROGRAMIDS else granted


@dataclass
class FilterDocuments:
    """A batch's filter documents: alert parts and merged histories, trimmed per set of
    permissions on demand.

    ``rows`` are the batch rows the documents describe (one per distinct alert id);
    ``points`` indexes every history point (``array``, ``objectId``, ``jd``,
    ``programid``, ``ref`` into ``values``), sorted by object, array and ``jd``.
    """

    survey: str
    rows: np.ndarray
    alerts: list[dict[str, Any]]
    alert_jd: np.ndarray
    alert_programid: np.ndarray
    points: pd.DataFrame
    values: list[dict[str, Any]]
    objects: dict[Any, dict[str, Any]]
    #: The programids of each ZTF object named in ``aliases.ZTF`` (``alias_ids``), read
    #: once per batch when a filter's aliases must be trimmed; None: not read (then a
    #: filter with limited rights sees no ZTF alias).
    alias_programids: Mapping[Any, frozenset[int]] | None = None
    #: The alerts' positions (degrees), for watchlists.
    alert_ra: np.ndarray | None = None
    alert_dec: np.ndarray | None = None
    _watched: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[Programids, AliasRights], tuple[np.ndarray, list[dict[str, Any]]]] = \
        field(default_factory=dict, repr=False)

    @classmethod
    def from_batch(cls, batch: AlertBatch,
                   stored: Iterable[Mapping[str, Any]] | None = None) -> FilterDocuments:
        """Documents of ``batch`` as the archive will hold it once written.

        ``stored``: the aux documents before this batch (default ``batch.known``)."""
        distinct = distinct_alerts(batch)
        rows, candidates, places = distinct.rows, distinct.candidates, distinct.places
        ids, object_ids, jd = distinct.ids, distinct.object_ids, distinct.jd
        docs = []
        for i, alert_id in enumerate(ids):
            doc: dict[str, Any] = {"_id": alert_id, "objectId": object_ids[i],
                                   "candidate": candidates[i]}
            if places[i] is not None:
                doc["coordinates"] = places[i]
            for name in ("classifications", "properties"):
                if name in batch.enrichments:
                    value = clean_value(batch.enrichments[name].iloc[rows[i]])
                    if value is not None:
                        doc[name] = value
            docs.append(doc)
        if stored is None:
            stored = batch.known.documents if batch.known is not None else ()
        stored = list(stored)
        incoming = batch_points(batch)
        points, values = _merge(stored, incoming)
        objects = _objects(stored, batch, rows, object_ids, jd)
        return cls(survey=batch.survey.upper(), rows=rows, alerts=docs, alert_jd=jd,
                   alert_programid=float_column(distinct.table, "programid"), points=points,
                   values=values, objects=objects, alert_ra=float_column(distinct.table, "ra"),
                   alert_dec=float_column(distinct.table, "dec"))

    @classmethod
    def from_archive(cls, survey: str, alerts: Sequence[Mapping[str, Any]],
                     aux: Iterable[Mapping[str, Any]]) -> FilterDocuments:
        """Documents of stored alerts (``{S}_alerts`` documents) with their objects'
        stored aux documents: the backtest's view, trimmed by the same code."""
        docs = [{"_id": a["_id"], **{k: a[k] for k in ALERT_FIELDS if k in a}} for a in alerts]
        jd = np.array([_number(a.get("candidate", {}).get("jd")) for a in docs])
        programid = np.array([_number(a.get("candidate", {}).get("programid")) for a in docs])
        aux = list(aux)
        points, values = _stored_points(aux)
        objects = {d["_id"]: {k: d[k] for k in OBJECT_FIELDS if d.get(k) is not None}
                   for d in aux}
        return cls(survey=survey.upper(), rows=np.arange(len(docs)), alerts=docs, alert_jd=jd,
                   alert_programid=programid, points=points.sort_values(
                       ["objectId", "array", "jd"], kind="stable").reset_index(drop=True),
                   values=values, objects=objects,
                   alert_ra=np.array([_number(a.get("candidate", {}).get("ra")) for a in docs]),
                   alert_dec=np.array([_number(a.get("candidate", {}).get("dec"))
                                       for a in docs]))

    def __len__(self) -> int:
        return len(self.alerts)

    def aux_documents(self) -> list[dict[str, Any]]:
        """The objects' aux documents as the archive holds them after this batch (the
        ``stored`` of the next batch when replaying files without an archive)."""
        docs: dict[Any, dict[str, Any]] = {}
        for oid, extras in self.objects.items():
            docs[oid] = {"_id": oid, **{kind: [] for kind in HISTORY_KINDS}, **extras}
        for oid, kind, ref in zip(self.points["objectId"].tolist(),
                                  self.points["array"].tolist(),
                                  self.points["ref"].tolist(), strict=True):
            doc = docs.setdefault(oid, {"_id": oid, **{k: [] for k in HISTORY_KINDS}})
            doc[kind].append(self.values[ref])
        return list(docs.values())

    def alias_ids(self) -> list[Any]:
        """Every ZTF object named in the objects' ``aliases.ZTF``."""
        named: dict[Any, None] = {}
        for extras in self.objects.values():
            aliases = extras.get("aliases")
            if isinstance(aliases, Mapping) and isinstance(aliases.get("ZTF"), list):
                named.update(dict.fromkeys(aliases["ZTF"]))
        return list(named)

    def documents(self, programids: Programids, aliases: AliasRights = None
                  ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """(batch rows, documents) of the alerts a filter with these rights may see;
        ``aliases`` (``alias_rights``) keeps ``aliases.ZTF`` to the objects seen in
        those programids, as the API's view does.

        Documents share their history points (and alert parts) with the other
        permission sets' documents: evaluators must not modify their input."""
        if self.survey not in PROGRAMID_SURVEYS:
            programids = None
        else:
            aliases = None
        key = (programids, aliases)
        if key not in self._cache:
            rows, documents = self._trim(programids)
            if aliases is not None:
                documents = [self._visible_aliases(d, aliases) for d in documents]
            self._cache[key] = rows, documents
        return self._cache[key]

    def on_watchlist(self, rows: np.ndarray, documents: list[dict[str, Any]], watchlist: Any
                     ) -> tuple[np.ndarray, list[dict[str, Any]], list[list[dict[str, Any]]]]:
        """The ``documents`` (batch ``rows``) of alerts within a target of ``watchlist``
        (``filters.watchlists.Watchlist``), each a copy with ``watchlist`` (the targets,
        nearest first), and those matches. The batch is matched once per watchlist."""
        if watchlist.watchlist_id not in self._watched:
            ra = self.alert_ra if self.alert_ra is not None else np.full(len(self), np.nan)
            dec = self.alert_dec if self.alert_dec is not None else np.full(len(self), np.nan)
            self._watched[watchlist.watchlist_id] = watchlist.match(ra, dec)
        matches = self._watched[watchlist.watchlist_id]
        position = {int(row): i for i, row in enumerate(self.rows.tolist())}
        kept = [(row, {**doc, "watchlist": matches[position[int(row)]]})
                for row, doc in zip(rows.tolist(), documents, strict=True)
                if matches[position[int(row)]]]
        return (np.array([row for row, _ in kept], dtype=np.int64),
                [doc for _, doc in kept], [doc["watchlist"] for _, doc in kept])

    def _visible_aliases(self, document: dict[str, Any], rights: frozenset[int]
                         ) -> dict[str, Any]:
        named = (document.get("aliases") or {}).get("ZTF")
        if not isinstance(named, list):
            return document
        seen = self.alias_programids or {}
        kept = [oid for oid in named if seen.get(oid, frozenset()) & rights]
        if len(kept) == len(named):
            return document
        if not kept:
            return without_subfield(document, "aliases", "ZTF")
        return {**document, "aliases": {**document["aliases"], "ZTF": kept}}

    def _trim(self, programids: Programids) -> tuple[np.ndarray, list[dict[str, Any]]]:
        visible = np.ones(len(self.alerts), dtype=bool)
        if programids is not None:
            visible = np.isin(self.alert_programid, np.array(programids, dtype=np.float64))
        positions = np.flatnonzero(visible)
        keys = [self.alerts[i]["objectId"] for i in positions.tolist()]
        own = pd.DataFrame({"alert": positions, "objectId": pd.Series(keys, dtype=object),
                            "alert_jd": self.alert_jd[positions]})
        joined = own.merge(self.points, on="objectId", how="inner", sort=False)
        keep = ((joined["jd"] <= joined["alert_jd"])
                & ((joined["alert_jd"] - joined["jd"]) < HISTORY_DAYS))
        if programids is not None:
            keep &= joined["programid"].isin([float(p) for p in programids])
        joined = joined[keep.to_numpy()].sort_values(["alert", "array", "jd"], kind="stable")
        refs = joined["ref"].to_numpy()
        groups = pd.Series(np.arange(len(joined))).groupby(
            [joined["alert"].to_numpy(), joined["array"].to_numpy()], sort=False).indices
        documents = []
        for position in positions.tolist():
            doc = dict(self.alerts[position])
            for kind in HISTORY_KINDS:
                found = groups.get((position, kind))
                doc[kind] = ([] if found is None
                             else [self.values[r] for r in refs[found].tolist()])
            doc.update(self.objects.get(doc["objectId"], {}))
            documents.append(doc)
        return self.rows[positions], documents


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else np.nan


def _stored_points(aux: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, list[dict]]:
    """The index of stored aux points, in stored order."""
    values: list[dict[str, Any]] = []
    arrays: list[str] = []
    owners: list[Any] = []
    for doc in aux:
        for kind in HISTORY_KINDS:
            points = [p for p in doc.get(kind) or () if isinstance(p, dict)]
            values.extend(points)
            arrays.extend([kind] * len(points))
            owners.extend([doc["_id"]] * len(points))
    index = pd.DataFrame({
        "array": pd.Series(arrays, dtype=object), "objectId": pd.Series(owners, dtype=object),
        "jd": np.array([_number(p.get("jd")) for p in values], dtype=np.float64),
        "programid": np.array([_number(p.get("programid")) for p in values],
                              dtype=np.float64),
        "point": np.array([point_id(p) if kind == "prv_candidates" else NO_POINT_ID
                           for p, kind in zip(values, arrays, strict=True)], dtype=np.int64),
        "fields": np.array([len(p) for p in values], dtype=np.int64),
        "ref": np.arange(len(values)),
    })
    return index, values


def _merge(stored: Sequence[Mapping[str, Any]], incoming: Any
           ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Stored points plus the batch's, by the archive writer's rule (see module doc)."""
    index, values = _stored_points(stored)
    # One version per point is stored; the first is the one that counts.
    first = index.drop_duplicates(KEY)
    new = incoming.index.merge(first[[*KEY, "fields"]]
                               .rename(columns={"fields": "stored_fields"}),
                               on=KEY, how="left")
    stored_fields = new["stored_fields"].to_numpy(dtype=np.float64, na_value=np.nan)
    absent = np.isnan(stored_fields)
    richer = (~absent & (new["kind"].to_numpy() == CANDIDATE)
              & (new["fields"].to_numpy() > np.nan_to_num(stored_fields)))
    selected = new[absent | richer].reset_index(drop=True)
    if len(selected):
        replaced = selected.loc[richer[absent | richer], KEY]
        if len(replaced):
            hit = (index.merge(replaced.assign(_gone=True), on=KEY, how="left")["_gone"]
                   .fillna(False).to_numpy(dtype=bool))
            index = index[~hit]
        added = incoming.points(selected)
        extra = pd.DataFrame({
            "array": selected["array"].to_numpy(dtype=object),
            "objectId": selected["objectId"].to_numpy(dtype=object),
            "jd": selected["jd"].to_numpy(dtype=np.float64),
            "programid": np.array([_number(p.get("programid")) for p in added]),
            "point": selected["point"].to_numpy(dtype=np.int64),
            "fields": selected["fields"].to_numpy(dtype=np.int64),
            "ref": np.arange(len(values), len(values) + len(added)),
        })
        values = values + added
        index = pd.concat([index, extra], ignore_index=True)
    index = index.sort_values(["objectId", "array", "jd"], kind="stable").reset_index(drop=True)
    return index, values


def _objects(stored: Sequence[Mapping[str, Any]], batch: AlertBatch, rows: np.ndarray,
             object_ids: Sequence[Any], jd: np.ndarray) -> dict[Any, dict[str, Any]]:
    """``cross_matches`` and ``aliases`` per object: the stored ones, else (a new object)
    those of its earliest alert in the batch, which the writer stores at creation."""
    objects = {d["_id"]: {k: d[k] for k in OBJECT_FIELDS if d.get(k) is not None}
               for d in stored}
    names = [n for n in OBJECT_FIELDS if n in batch.enrichments]
    if not names:
        return objects
    frame = pd.DataFrame({"objectId": pd.Series(list(object_ids), dtype=object),
                          "jd": np.where(np.isfinite(jd), jd, np.inf)})
    frame = frame[frame["objectId"].notna()]
    if not len(frame):
        return objects
    for oid, position in frame.groupby("objectId", sort=False)["jd"].idxmin().items():
        if oid in objects:
            continue
        extras = {}
        for name in names:
            value = clean_value(batch.enrichments[name].iloc[rows[position]])
            if value is not None:
                extras[name] = value
        objects[oid] = extras
    return objects


def server_prefix(survey: str, ids: Sequence[Any], programids: Programids
                  ) -> list[dict[str, Any]]:
    """The stages that make the same documents on a MongoDB server from the archive
    (for parity tests and for running a pipeline on the server by hand)."""
    aux = f"{survey.upper()}_alerts_aux"
    match: dict[str, Any] = {"_id": {"$in": list(ids)}}
    rights = programids if survey.upper() in PROGRAMID_SURVEYS else None
    if rights is not None:
        match["candidate.programid"] = {"$in": list(rights)}

    def trimmed(kind: str) -> dict[str, Any]:
        cond: list[dict[str, Any]] = [
            {"$lte": ["$$p.jd", "$candidate.jd"]},
            {"$lt": [{"$subtract": ["$candidate.jd", "$$p.jd"]}, HISTORY_DAYS]},
        ]
        if rights is not None:
            cond.append({"$in": ["$$p.programid", list(rights)]})
        return {"$filter": {"input": {"$ifNull": [f"$aux.{kind}", []]}, "as": "p",
                            "cond": {"$and": cond}}}

    return [
        {"$match": match},
        {"$lookup": {"from": aux, "localField": "objectId", "foreignField": "_id",
                     "as": "aux"}},
        {"$set": {"aux": {"$arrayElemAt": ["$aux", 0]}}},
        {"$project": {**{name: 1 for name in ALERT_FIELDS},
                      **{kind: trimmed(kind) for kind in HISTORY_KINDS},
                      **{name: f"$aux.{name}" for name in OBJECT_FIELDS}}},
    ]
