"""The typed configuration schema.

Every section is a frozen pydantic model that rejects unknown keys, so a typo in
a YAML file or an environment variable fails at start-up instead of being
silently ignored. Secrets are ``SecretStr``: they never print and never come from
the packaged defaults (see ``loader``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

Port = Annotated[int, Field(ge=1, le=65535)]
PositiveInt = Annotated[int, Field(gt=0)]
Host = Annotated[str, Field(min_length=1)]

_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$|^auto$")
_BOOTSTRAP = re.compile(r"^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MongoSettings(Section):
    embedded: bool
    host: Host
    port: Port
    uri: str | None
    database: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")]
    username: SecretStr | None = None
    password: SecretStr | None = None
    #: Embedded server only: keep an oplog (a one-node replica set, for change
    #: streams). Off, SecantusDB runs standalone and skips the per-update oplog
    #: entry, whose diff walks the whole aux document in Python (BENCHMARKS.md).
    oplog: bool = False

    @field_validator("uri")
    @classmethod
    def _mongo_scheme(cls, uri: str | None) -> str | None:
        if uri is not None and not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return uri

    @model_validator(mode="after")
    def _external_needs_uri(self) -> MongoSettings:
        if not self.embedded and self.uri is None:
            raise ValueError("uri is required when embedded is false")
        return self

    @property
    def connection_uri(self) -> str:
        if self.uri is not None:
            return self.uri
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``pymongo.MongoClient`` (credentials kept out of the URI)."""
        options: dict[str, Any] = {}
        if self.username is not None:
            options["username"] = self.username.get_secret_value()
        if self.password is not None:
            options["password"] = self.password.get_secret_value()
        return options


#: librdkafka's ``fetch.wait.max.ms`` for the alert consumers (theirs is 500).
FETCH_WAIT_MAX_MS = 100


class KafkaSettings(Section):
    embedded: bool
    host: Host
    port: Port
    bootstrap_servers: str | None
    group_id: Annotated[str, Field(min_length=1)]
    session_timeout_ms: Annotated[int, Field(ge=1000)]
    auto_offset_reset: Literal["earliest", "latest"]
    #: librdkafka settings shared by consumers and producers (``security.protocol``,
    #: ``sasl.mechanisms``, ``ssl.ca.location``...).
    security: dict[str, str | int | float | bool]
    consumer: dict[str, str | int | float | bool]
    producer: dict[str, str | int | float | bool]
    #: SASL credentials (secrets: environment or file only).
    username: SecretStr | None = None
    password: SecretStr | None = None

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str | None) -> str | None:
        if value is not None and not _BOOTSTRAP.match(value):
            raise ValueError("must be a comma-separated list of host:port")
        return value

    @model_validator(mode="after")
    def _external_needs_bootstrap(self) -> KafkaSettings:
        if not self.embedded and self.bootstrap_servers is None:
            raise ValueError("bootstrap_servers is required when embedded is false")
        return self

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.port}"

    def consumer_config(self, group_id: str | None = None) -> dict[str, Any]:
        """librdkafka settings for a subscribe-based consumer that commits by hand."""
        return {
            "bootstrap.servers": self.bootstrap,
            "group.id": group_id or self.group_id,
            "session.timeout.ms": self.session_timeout_ms,
            "auto.offset.reset": self.auto_offset_reset,
            "enable.auto.commit": False,
            # How long the broker may hold a fetch that has no data yet: some brokers
            # (Tansu) answer only then even when data arrives meanwhile, which was
            # librdkafka's 500 ms added to an alert's latency.
            "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
            **self._shared(),
            **self.consumer,
        }

    def producer_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, **self._shared(), **self.producer}

    def _shared(self) -> dict[str, Any]:
        shared: dict[str, Any] = dict(self.security)
        if self.username is not None:
            shared["sasl.username"] = self.username.get_secret_value()
        if self.password is not None:
            shared["sasl.password"] = self.password.get_secret_value()
        return shared


class ValkeySettings(Section):
    embedded: bool
    host: Host
    port: Port
    url: str | None

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "valkey://", "unix://")):
            raise ValueError("must start with redis://, rediss://, valkey:// or unix://")
        return url

    @model_validator(mode="after")
    def _external_needs_url(self) -> ValkeySettings:
        if not self.embedded and self.url is None:
            raise ValueError("url is required when embedded is false")
        return self

    @property
    def connection_url(self) -> str:
        if self.url is None:
            return f"redis://{self.host}:{self.port}/0"
        # redis-py does not know the valkey:// scheme; it is the same protocol.
        return self.url.replace("valkey://", "redis://", 1)


class ServicesSettings(Section):
    state_dir: Path
    #: Seconds a batch waits (retrying) for Kafka or Valkey to come back.
    outage_wait_s: Annotated[float, Field(ge=0)]
    mongodb: MongoSettings
    kafka: KafkaSettings
    valkey: ValkeySettings

    @field_validator("state_dir")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        return path.expanduser()


#: Whether a worker runs Dask's statistical profiler.
PROFILE_KEY = "distributed.worker.profile.enabled"


class DaskSettings(Section):
    scheduler_address: str | None
    n_workers: PositiveInt
    threads_per_worker: PositiveInt
    memory_limit: str
    worker_profile: bool
    #: Dask config keys (``distributed.admin.tick.interval``...) for the cluster this
    #: process starts.
    config: dict[str, str | int | float | bool]
    dashboard_port: Annotated[int, Field(ge=0, le=65535)]

    def worker_config(self) -> dict[str, object]:
        """The dask config the scheduler and workers this process starts run with."""
        return {**self.config, PROFILE_KEY: self.worker_profile}

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("must be a size such as 4GiB or 2000MB, or 'auto'")
        return value


class BatchSettings(Section):
    max_alerts: PositiveInt
    max_ms: PositiveInt
    max_in_flight: PositiveInt
    #: Split each batch by object id, every object to the same worker (``pipeline.routing``).
    route_by_object: bool
    #: Packets over this many bytes are rejected without being decoded.
    max_packet_bytes: PositiveInt


class ZtfSettings(Section):
    enabled: bool
    topic_pattern: str
    programids: list[Literal[1, 2, 3]]


class LsstSettings(Section):
    enabled: bool
    topic_pattern: str
    schema_registry_url: str | None
    schema_dir: Path | None


class SurveysSettings(Section):
    ztf: ZtfSettings
    lsst: LsstSettings


class CatalogMatchSettings(Section):
    """One catalog a survey's new objects are matched against (BOOM's keys)."""

    catalog: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
    #: arcsec
    radius: Annotated[float, Field(gt=0)]
    use_distance: bool = False
    distance_key: str | None = None
    #: kpc
    distance_max: Annotated[float, Field(gt=0)] | None = None
    #: arcsec, used when z < 0.01
    distance_max_near: Annotated[float, Field(gt=0)] | None = None
    #: ``{column: 1}`` to include, ``{column: 0}`` to exclude; empty: every column.
    projection: dict[str, int] = Field(default_factory=dict)
    max_results: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _distance_needs_keys(self) -> CatalogMatchSettings:
        if self.use_distance and None in (self.distance_key, self.distance_max,
                                          self.distance_max_near):
            raise ValueError("use_distance needs distance_key, distance_max and "
                             "distance_max_near")
        return self


class CrossmatchSettings(Section):
    catalogs_dir: Path
    #: Rows per HEALPix partition at most when a catalog is ingested.
    partition_max_rows: PositiveInt
    #: Per survey, the catalogs the crossmatch stage uses (one not ingested is reported
    #: once at start-up and the pipeline runs without it).
    ztf: list[CatalogMatchSettings]
    lsst: list[CatalogMatchSettings]

    @field_validator("catalogs_dir")
    @classmethod
    def _expand_catalogs_dir(cls, path: Path) -> Path:
        return path.expanduser()


class ModelSpec(Section):
    """One classifier of a survey (``boom_flow.ml``): its file is relative to
    ``models.models_dir`` unless absolute."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
    kind: Literal["onnx", "xgboost"]
    file: Path
    version: str = ""
    #: onnx: graph input name -> "triplet", a named column set or a list of columns.
    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    #: onnx: the output holding the score (null: the first output).
    output: str | None = None

    @model_validator(mode="after")
    def _onnx_needs_inputs(self) -> ModelSpec:
        if self.kind == "onnx" and not self.inputs:
            raise ValueError("an onnx model needs its inputs spec")
        return self


class ModelsSettings(Section):
    models_dir: Path
    #: Models run by the classify stage, per survey (a missing file is reported once
    #: at start-up and the pipeline runs without that model).
    ztf: list[ModelSpec]
    lsst: list[ModelSpec]

    @field_validator("models_dir")
    @classmethod
    def _expand_models_dir(cls, path: Path) -> Path:
        return path.expanduser()


class ApiSettings(Section):
    host: Host
    port: Port
    token_expiry_days: Annotated[float, Field(gt=0)]
    admin_username: Annotated[str, Field(min_length=1)]
    #: Time budget of a query when the request names none, and the most it may ask for.
    default_max_time_ms: PositiveInt
    max_time_ms_limit: PositiveInt
    #: Most documents one query may return, and most bytes of one response.
    max_limit: PositiveInt
    max_response_bytes: PositiveInt
    #: Most positions in one cone search.
    max_cone_positions: PositiveInt
    #: Database-bound requests served at once per process; more are answered 429.
    max_concurrent_queries: PositiveInt
    #: Most bytes of a request body (413 beyond, before reading it).
    max_body_bytes: PositiveInt
    #: Failed logins per username / per client within ``login_window_s`` (429 beyond).
    login_failures_per_user: PositiveInt
    login_failures_per_client: PositiveInt
    login_window_s: Annotated[float, Field(gt=0)]
    #: bcrypt work factor for stored passwords (4..31; 12 takes ~0.25 s per check).
    password_hash_rounds: Annotated[int, Field(ge=4, le=31)]
    secret_key: SecretStr | None = None
    admin_password: SecretStr | None = None


class MetricsSettings(Section):
    """The ingest process's ``/metrics`` and ``/health`` endpoint."""

    #: null: not served.
    port: Port | None
    host: Host
    #: ``/health`` answers 503 when the consume loop has not polled for this long.
    stale_after_s: Annotated[float, Field(gt=0)]


class FiltersSettings(Section):
    #: Activating a filter (or a new version) is refused when it passes more than this
    #: share of a reference night's alerts; admins may override.
    max_match_rate: Annotated[float, Field(gt=0, le=1)]


class Settings(Section):
    """The whole boom_flow configuration."""

    services: ServicesSettings
    dask: DaskSettings
    batch: BatchSettings
    surveys: SurveysSettings
    crossmatch: CrossmatchSettings
    models: ModelsSettings
    api: ApiSettings
    filters: FiltersSettings
    metrics: MetricsSettings


#: Field names whose values are secrets: never accepted from the packaged defaults,
#: accepted from the environment (value or ``<NAME>_FILE`` path) or a user's file.
SECRET_FIELDS = frozenset({"username", "password", "secret_key", "admin_password"})
