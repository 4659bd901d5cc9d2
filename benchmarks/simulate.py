"""Night simulator throughput: how fast ``boom_flow.simulate`` makes packets.

    python benchmarks/simulate.py [--alerts 29140] [--prior-nights 10] [--rounds 3]
                                  [--lsst-alerts 5000] [--galaxies 1870000]

Times, in one process, the median of ``--rounds`` runs of:

- a ZTF night of ``--alerts`` packets (default: the BOOM paper's 29,140), drawn and
  serialised in memory (``simulate_night``; files and Kafka not included), reported
  in alerts/s and MB/s with the mean packet size; and the same night written as a
  nightly ``.tar.gz`` to a temporary folder (``write_night``);
- an LSST night (Rubin wire format, schema 7.1 from ``{data}/lsst/schema``);
- the NED-like galaxy catalog of ``--galaxies`` rows.

Stamp compression runs on up to 4 threads (zlib releases the GIL); everything else is
one thread. The machine's load matters: quote medians and the core count; the CPU time
(all threads) per alert is the figure least affected by other processes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from boom_flow.config import shared_data_dir
from boom_flow.simulate import NightSpec, simulate_galaxy_catalog, simulate_night, write_night

DEFAULT_DATA = shared_data_dir()


def median_seconds(run: Callable[[], object], rounds: int) -> tuple[float, float, object]:
    """Median wall time, median CPU time (all threads of the process) and the result."""
    wall, cpu, result = [], [], None
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def night_bytes(spec: NightSpec) -> tuple[int, int]:
    count = size = 0
    for alert in simulate_night(spec):
        count += 1
        size += len(alert.packet)
    return count, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=29_140)
    parser.add_argument("--prior-nights", type=int, default=10)
    parser.add_argument("--lsst-alerts", type=int, default=5000)
    parser.add_argument("--galaxies", type=int, default=1_870_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, "
          f"median of {args.rounds} rounds")

    spec = NightSpec(n_alerts=args.alerts, seed=0, prior_nights=args.prior_nights)
    seconds, cpu, (count, size) = median_seconds(lambda: night_bytes(spec), args.rounds)
    print(f"ZTF night in memory: {count} alerts in {seconds:.1f} s = {count / seconds:.0f} "
          f"alerts/s, {size / seconds / 1e6:.1f} MB/s, mean packet {size / count / 1e3:.1f} kB; "
          f"{cpu:.1f} CPU-s = {count / cpu:.0f} alerts per CPU-second")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "night.tar.gz"
        seconds, _, _ = median_seconds(lambda: write_night(spec, out, "tarball"), 1)
        print(f"ZTF night as .tar.gz: {count / seconds:.0f} alerts/s "
              f"({out.stat().st_size / 1e6:.0f} MB)")

    schemas = args.data / "lsst" / "schema"
    if schemas.is_dir() and args.lsst_alerts:
        lsst = NightSpec(survey="lsst", n_alerts=args.lsst_alerts, prior_nights=args.prior_nights,
                         lsst_schema_dir=schemas, lsst_schema_version="7.1")
        seconds, _, (count, size) = median_seconds(lambda: night_bytes(lsst), args.rounds)
        print(f"LSST night in memory: {count / seconds:.0f} alerts/s, "
              f"mean packet {size / count / 1e3:.1f} kB")

    seconds, _, _ = median_seconds(lambda: simulate_galaxy_catalog(args.galaxies), args.rounds)
    print(f"galaxy catalog: {args.galaxies} rows in {seconds:.1f} s "
          f"= {args.galaxies / seconds / 1e6:.2f} M rows/s")


if __name__ == "__main__":
    main()
