"""Latency of the HTTP API's queries, and what data rights and batching cost.

Usage: ``python benchmarks/api.py [--copies 20] [--repeat 5] [--shared ../shared/data]``

Starts a throw-away SecantusDB (the embedded MongoDB-compatible server) on a free
port, stores the real ZTF packets of ``../shared/data/ztf/alerts`` with
``write_batch``, then ``--copies`` copies of their alert documents (new candids,
positions jittered by up to 1 degree; every third copy programid 2) so that the
archive has a few thousand alerts, starts ``boom-flow api`` and times each request
(median of ``--repeat``) as an admin (all programids) and as a public user
(programid 1: every query goes through the rights views).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pymongo

from boom_flow.api.users import UserStore
from boom_flow.config import load_settings, shared_data_dir
from boom_flow.core import RawPacket
from boom_flow.services import LocalStack
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.surveys import build_survey


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill(db: Any, shared: Path, copies: int) -> int:
    paths = sorted((shared / "ztf" / "alerts").rglob("*.avro"))
    ensure_indexes(db, "ztf")
    write_batch(db, build_survey("ztf").decode([RawPacket(p.read_bytes(), str(p)) for p in paths]))
    originals = list(db.ZTF_alerts.find())
    rng = np.random.default_rng(1)
    for k in range(1, copies + 1):
        docs = []
        for doc in originals:
            copy = {**doc, "_id": doc["_id"] + k * 10**16, "objectId": f"{doc['objectId']}c{k}"}
            lon, lat = doc["coordinates"]["radec_geojson"]["coordinates"]
            lon = float(np.clip(lon + rng.uniform(-1, 1), -179.999, 179.999))
            lat = float(np.clip(lat + rng.uniform(-1, 1), -89.999, 89.999))
            copy["coordinates"] = {**doc["coordinates"],
                                   "radec_geojson": {"type": "Point", "coordinates": [lon, lat]}}
            copy["candidate"] = {**doc["candidate"], "ra": lon + 180, "dec": lat,
                                 "programid": 2 if k % 3 == 0 else 1}
            docs.append(copy)
        db.ZTF_alerts.insert_many(docs)
    return db.ZTF_alerts.estimated_document_count()


def median_ms(client: httpx.Client, repeat: int, method: str, route: str,
              body: dict[str, Any] | None = None) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.request(method, route, json=body)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{route}: {response.status_code} {response.text[:200]}")
    return statistics.median(times) * 1000


def requests(db: Any) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    sample = list(db.ZTF_alerts.find({}, {"coordinates": 1, "objectId": 1}).limit(1000))
    positions = {str(i): [d["coordinates"]["radec_geojson"]["coordinates"][0] + 180,
                          d["coordinates"]["radec_geojson"]["coordinates"][1]]
                 for i, d in enumerate(sample)}
    few = dict(list(positions.items())[:1])
    hundred = dict(list(positions.items())[:100])
    cone = {"catalog_name": "ZTF_alerts", "radius": 5, "unit": "Arcseconds",
            "projection": {"objectId": 1}}
    return [
        ("find by objectId", "POST", "/queries/find",
         {"catalog_name": "ZTF_alerts", "filter": {"objectId": "ZTF21abiuvdk"}}),
        ("count (all)", "POST", "/queries/count", {"catalog_name": "ZTF_alerts"}),
        ("cone search, 1 position", "POST", "/queries/cone_search",
         {**cone, "object_coordinates": few}),
        ("cone search, 100 positions", "POST", "/queries/cone_search",
         {**cone, "object_coordinates": hundred}),
        ("cone search, 100 positions, one by one", "POST", "/queries/cone_search",
         {**cone, "object_coordinates": hundred, "sort": {"_id": 1}}),
        ("pipeline $lookup into aux (20 alerts)", "POST", "/queries/pipeline",
         {"catalog_name": "ZTF_alerts", "pipeline": [
             {"$limit": 20}, {"$lookup": {"from": "ZTF_alerts_aux", "localField": "objectId",
                                          "foreignField": "_id", "as": "aux"}},
             {"$project": {"aux.prv_candidates.jd": 1}}]}),
        ("object view", "GET", "/surveys/ztf/objects/ZTF21abiuvdk", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shared", type=Path,
                        default=shared_data_dir())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        environment = {
            "BOOM_FLOW_SERVICES__STATE_DIR": state,
            "BOOM_FLOW_SERVICES__MONGODB__PORT": str(free_port()),
            "BOOM_FLOW_SERVICES__MONGODB__DATABASE": f"bench_{uuid.uuid4().hex[:8]}",
            "BOOM_FLOW_SERVICES__KAFKA__EMBEDDED": "false",
            "BOOM_FLOW_SERVICES__KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "BOOM_FLOW_SERVICES__VALKEY__EMBEDDED": "false",
            "BOOM_FLOW_SERVICES__VALKEY__URL": "redis://127.0.0.1:1",
            "BOOM_FLOW_API__SECRET_KEY": uuid.uuid4().hex,
            "BOOM_FLOW_API__ADMIN_PASSWORD": "bench-admin",
            "BOOM_FLOW_API__PASSWORD_HASH_ROUNDS": "4",
            "BOOM_FLOW_API__MAX_LIMIT": "100000",
        }
        settings = load_settings(environ=environment)
        stack = LocalStack(settings)
        stack.up()
        api = None
        try:
            mongo = settings.services.mongodb
            db = pymongo.MongoClient(mongo.connection_uri)[mongo.database]
            total = fill(db, args.shared, args.copies)
            UserStore(db, rounds=4).create(username="public", password="pw",
                                           permissions={"ZTF": [1]})
            port = free_port()
            api = subprocess.Popen(
                [sys.executable, "-m", "boom_flow", "api", "--port", str(port),
                 "--log-level", "warning"], env={**os.environ, **environment})
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(url + "/")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            tokens = {user: httpx.post(url + "/auth", data={"username": user, "password": pw})
                      .json()["access_token"] for user, pw in
                      [("admin", "bench-admin"), ("public", "pw")]}
            print(f"{total} ZTF alerts; median of {args.repeat} requests, ms")
            print(f"{'request':40s} {'admin':>9s} {'public':>9s}")
            for name, method, route, body in requests(db):
                row = []
                for user in ("admin", "public"):
                    with httpx.Client(base_url=url, timeout=120, headers={
                            "Authorization": f"Bearer {tokens[user]}"}) as client:
                        row.append(median_ms(client, args.repeat, method, route, body))
                print(f"{name:40s} {row[0]:9.1f} {row[1]:9.1f}", flush=True)
        finally:
            if api is not None:
                api.terminate()
                api.wait(10)
            stack.down()


if __name__ == "__main__":
    main()
