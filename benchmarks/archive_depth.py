"""What the database costs per alert as the archive grows: night 1, 2, ... N of the
same objects, written the way a worker writes them, with the server's CPU read per night.

    python benchmarks/archive_depth.py [--nights 6] [--alerts 3000] [--objects 1000]
                                       [--batch 500] [--profile-night K]
                                       [--read-stored] [--always-sort] [--oplog]

Each night is simulated (the same objects every night, ``boom_flow.simulate``),
decoded, given its known history (``load_known``), its features, and written
(``write_batch``) in batches, all in this process, against a SecantusDB started by
the project's launcher in a temporary folder on a free port. Per night it prints the
server's CPU seconds per alert (its process tree, psutil) and this process's, so the
growth of the database's cost with the archive's depth is visible without Dask,
Kafka or the models. ``--profile-night K`` runs py-spy (``PY_SPY`` or on PATH) on the
server during night K and writes ``depth-night-K.txt`` (raw collapsed stacks).

Variants, to compare what each costs the server: ``--read-stored`` plans the aux
updates from a read of the archive as before (not from the batch's known
documents); ``--always-sort`` adds ``$sort`` to every history ``$push``;
``--oplog``/``--no-oplog`` start SecantusDB as a replica set with an oplog or
standalone (default: as the launcher does).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pymongo

from boom_flow.bench.stack import temporary_environment
from boom_flow.config import load_settings
from boom_flow.core import RawPacket
from boom_flow.services import LocalStack
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.stages.features import features_stage
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.known import load_known
from boom_flow.surveys import build_survey

NIGHT_JD = 2460507.5


def tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run_night(db: pymongo.database.Database, night: int, args: argparse.Namespace) -> int:
    spec = NightSpec(survey="ztf", n_alerts=args.alerts, n_objects=args.objects,
                     seed=args.seed, night_jd=NIGHT_JD + night)
    packets = [RawPacket(a.packet, "depth") for a in simulate_night(spec)]
    survey = build_survey("ztf")
    for start in range(0, len(packets), args.batch):
        batch = survey.decode(packets[start:start + args.batch])
        batch = features_stage(load_known(db, batch))
        if args.read_stored:
            batch = replace(batch, known=None)
        write_batch(db, batch, always_sort=args.always_sort)
    return len(packets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=6)
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile-night", type=int, default=None)
    parser.add_argument("--read-stored", action="store_true")
    parser.add_argument("--always-sort", action="store_true")
    parser.add_argument("--oplog", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="boom-flow-depth-") as state:
        environ = {**os.environ, **temporary_environment(Path(state))}
        if args.oplog is not None:
            environ["BOOM_FLOW_SERVICES__MONGODB__OPLOG"] = str(args.oplog).lower()
        settings = load_settings(None, environ=environ)
        stack = LocalStack(settings)
        stack.up()
        try:
            server = psutil.Process(stack.managed()["mongodb"].pid)
            mongo = settings.services.mongodb
            with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
                db = client["depth"]
                ensure_indexes(db, "ZTF")
                me = psutil.Process()
                print("night  alerts  wall_s  server_ms/alert  client_ms/alert")
                for night in range(1, args.nights + 1):
                    spy = _profiler(server.pid, night) if night == args.profile_night else None
                    s0, c0, t0 = tree_cpu(server), tree_cpu(me), time.monotonic()
                    n = run_night(db, night, args)
                    s1, c1, t1 = tree_cpu(server), tree_cpu(me), time.monotonic()
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(30)
                    print(f"{night:5d}  {n:6d}  {t1 - t0:6.1f}  {(s1 - s0) / n * 1000:15.2f}"
                          f"  {(c1 - c0) / n * 1000:15.2f}", flush=True)
        finally:
            stack.down()


def _profiler(pid: int, night: int) -> subprocess.Popen[bytes] | None:
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if spy is None:
        print("py-spy not found (set PY_SPY): no profile")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw",
                             "--output", f"depth-night-{night}.txt", "--rate", "50"])


if __name__ == "__main__":
    main()
