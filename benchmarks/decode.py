"""ZTF decode throughput on one core: cached writer schema vs ``fastavro.reader``.

    python benchmarks/decode.py [--data ../shared/data] [--repeat 20] [--rounds 5]

The shared ZTF packets (every set plus both tarballs) are repeated ``--repeat`` times
and decoded in one process; the best of ``--rounds`` timings is reported, in alerts
per second, for:

- ``fastavro.reader`` per packet: what a naive decoder does (parses the header's
  JSON schema and compiles it for every packet);
- cached schemaless: ``boom_flow.surveys.container.read_container`` (header read by
  hand, schema parsed once per distinct header, ``fastavro.schemaless_reader``);
- the whole ZTF decoder: cached decode, stamp CRC checks, the batch tables and all
  conversions, in batches of ``--batch`` packets (what a worker's decode step costs),
  and the same without the stamp checks.

For comparison it also times the whole LSST decoder on the Rubin wire-format packets
(schemas from ``{data}/lsst/schema``).
"""

from __future__ import annotations

import argparse
import io
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import fastavro

from boom_flow.config import shared_data_dir
from boom_flow.core.batch import RawPacket
from boom_flow.surveys.container import SchemaCache, read_container
from boom_flow.surveys.lsst import lsst_survey
from boom_flow.surveys.ztf import ZtfDecoder, describe_schema

DEFAULT_DATA = shared_data_dir()


def ztf_packets(data: Path) -> list[bytes]:
    packets = [p.read_bytes() for p in sorted((data / "ztf" / "alerts").glob("*/*.avro"))]
    for archive in sorted((data / "ztf" / "tarballs").glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            packets += [tar.extractfile(m).read() for m in tar.getmembers()  # type: ignore[union-attr]
                        if m.isfile()]
    return packets


def best_rate(run: Callable[[], int], rounds: int) -> float:
    """Alerts per second of the fastest of ``rounds`` runs."""
    best = float("inf")
    alerts = 0
    for _ in range(rounds):
        started = time.perf_counter()
        alerts = run()
        best = min(best, time.perf_counter() - started)
    return alerts / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    options = parser.parse_args()

    packets = ztf_packets(options.data) * options.repeat
    megabytes = sum(map(len, packets)) / 1e6
    print(f"{len(packets)} ZTF packets ({megabytes:.0f} MB), best of {options.rounds} rounds")

    def uncached() -> int:
        return sum(len(list(fastavro.reader(io.BytesIO(data)))) for data in packets)

    cache = SchemaCache(describe_schema)

    def cached() -> int:
        return sum(len(read_container(data, cache).records) for data in packets)

    decoder = ZtfDecoder()
    unverified = ZtfDecoder(verify_cutouts=False)
    raw = [RawPacket(data, "bench") for data in packets]

    def whole() -> int:
        return sum(len(decoder(raw[i:i + options.batch]))
                   for i in range(0, len(raw), options.batch))

    def whole_unverified() -> int:
        return sum(len(unverified(raw[i:i + options.batch]))
                   for i in range(0, len(raw), options.batch))

    rates = {
        "fastavro.reader per packet (schema parsed each time)": best_rate(uncached, options.rounds),
        "cached writer schema + schemaless_reader": best_rate(cached, options.rounds),
        f"ZTF decoder to AlertBatch (batches of {options.batch})": best_rate(whole,
                                                                             options.rounds),
        "  same, stamps' gzip CRC not verified": best_rate(whole_unverified, options.rounds),
    }
    for label, rate in rates.items():
        print(f"{label:<60} {rate:>9,.0f} alerts/s")
    print(f"schemas parsed by the cached decoder: {cache.parse_count} "
          f"(distinct writer schemas in the data)")
    speedup = list(rates.values())
    print(f"cached / uncached: {speedup[1] / speedup[0]:.1f}x")

    lsst_files = sorted([*(options.data / "lsst").glob("wire_format/*.avro"),
                         *(options.data / "lsst").glob("or4_comcamsim_v7_1/30*.avro")])
    lsst_raw = [RawPacket(p.read_bytes(), str(p)) for p in lsst_files] * options.repeat
    lsst = lsst_survey(schema_dir=options.data / "lsst" / "schema", use_package=False)

    def lsst_whole() -> int:
        return sum(len(lsst.decode(lsst_raw[i:i + options.batch]))
                   for i in range(0, len(lsst_raw), options.batch))

    rate = best_rate(lsst_whole, options.rounds)
    label = f"LSST decoder to AlertBatch ({len(lsst_raw)} wire-format packets)"
    print(f"{label:<60} {rate:>9,.0f} alerts/s")


if __name__ == "__main__":
    main()
