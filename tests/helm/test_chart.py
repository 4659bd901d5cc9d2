"""The chart lints clean and renders every component with the default values and with
values-production.yaml; every manifest is valid against the Kubernetes schemas; the
values are checked by values.schema.json and every key is commented."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from boom_flow.config import load_settings
from tests.helm.chart import (
    CHART,
    NAMESPACE,
    PRODUCTION,
    by_kind,
    containers,
    helm,
    name,
    notes,
    render,
    values_file,
)

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="the helm extra is not installed (pip install -e '.[helm]')")

#: The Kubernetes version the manifests are checked against (the chart's kubeVersion
#: floor is 1.27; the schemas of a recent release are stricter, not looser).
KUBERNETES = "1.33.0"
#: Custom resources of the Prometheus Operator: not in the Kubernetes schemas.
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor"}
VALUES = {"default": {}, "production": values_file(PRODUCTION)}


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_lint_is_clean(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_default_values_render_every_component() -> None:
    manifests = render()
    deployments = by_kind(manifests, "Deployment")
    assert set(deployments) == {name("scheduler"), name("worker"), name("ingest-ztf"),
                                name("api")}
    assert set(by_kind(manifests, "Service")) == {name("scheduler"), name("api")}
    assert set(by_kind(manifests, "ConfigMap")) == {name("config")}
    assert set(by_kind(manifests, "Secret")) == {name("secrets")}
    assert not by_kind(manifests, "Ingress") and not by_kind(manifests, "ServiceMonitor")
    scheduler = by_kind(manifests, "Service")[name("scheduler")]
    assert {p["name"]: p["port"] for p in scheduler["spec"]["ports"]} == {
        "comm": 8786, "dashboard": 8787}
    worker = containers(deployments[name("worker")])[0]
    assert worker["command"] == ["dask", "worker"]
    assert worker["args"][0] == f"tcp://{name('scheduler')}:8786"
    assert worker["args"][worker["args"].index("--preload") + 1] == "boom_flow.pipeline.preload"
    assert deployments[name("worker")]["spec"]["replicas"] == 2


def test_production_values_render_every_option() -> None:
    manifests = render(VALUES["production"])
    deployments = by_kind(manifests, "Deployment")
    assert {name("ingest-ztf"), name("ingest-lsst")} <= set(deployments)
    assert deployments[name("ingest-lsst")]["spec"]["replicas"] == 3
    assert deployments[name("worker")]["spec"]["replicas"] == 8
    assert not by_kind(manifests, "Secret")  # existingSecret: the chart makes none
    secret_refs = {env["valueFrom"]["secretKeyRef"]["name"]
                   for d in deployments.values() for c in containers(d, init=True)
                   for env in c.get("env", []) if "valueFrom" in env}
    assert secret_refs == {"boom-flow-credentials"}
    ingress = by_kind(manifests, "Ingress")[name("api")]
    assert ingress["spec"]["tls"][0]["secretName"] == "boom-example-org-tls"
    assert set(by_kind(manifests, "ServiceMonitor")) == {name("scheduler"), name("api")}
    assert set(by_kind(manifests, "PodMonitor")) == {name("worker"), name("ingest")}
    job = by_kind(manifests, "Job")[name("catalogs-ingest")]
    steps = job["spec"]["template"]["spec"]["initContainers"]
    assert [s["args"][:3] for s in steps] == [
        ["/var/lib/boom-flow/catalogs/sources/gcvs.parquet", "--name", "GCVS"],
        ["/var/lib/boom-flow/catalogs/sources/ned.parquet", "--name", "NED"]]


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_every_manifest_is_valid_kubernetes(values: dict[str, Any]) -> None:
    manifests = render(values)
    checked = 0
    for manifest in manifests:
        if manifest["kind"] in OPERATOR_KINDS:
            assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
            endpoints = manifest["spec"].get("endpoints") or manifest["spec"][
                "podMetricsEndpoints"]
            assert all(e["path"] == "/metrics" and e["port"] for e in endpoints)
            continue
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        checked += 1
    assert checked >= 7


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_services_probes_and_monitors_point_at_real_ports(values: dict[str, Any]) -> None:
    manifests = render(values)
    pods = {n: d["spec"]["template"] for n, d in by_kind(manifests, "Deployment").items()}
    for pod_name, pod in pods.items():
        for container in containers({"spec": {"template": pod}}):
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] in ports, (pod_name, probe)
    for service in by_kind(manifests, "Service").values():
        selector = service["spec"]["selector"]
        matches = [p for p in pods.values()
                   if selector.items() <= p["metadata"]["labels"].items()]
        assert len(matches) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in matches[0]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for monitor in by_kind(manifests, "PodMonitor").values():
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [p for p in pods.values()
                   if selector.items() <= p["metadata"]["labels"].items()]
        assert matched, monitor["metadata"]["name"]
        port = monitor["spec"]["podMetricsEndpoints"][0]["port"]
        assert all(port in {p["name"] for p in m["spec"]["containers"][0]["ports"]}
                   for m in matched)


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_the_configmap_is_a_valid_boom_flow_configuration(values: dict[str, Any],
                                                          tmp_path: Any) -> None:
    manifests = render(values)
    config = tmp_path / "config.yaml"
    config.write_text(by_kind(manifests, "ConfigMap")[name("config")]["data"]["config.yaml"])
    settings = load_settings(config, environ={})
    assert settings.dask.scheduler_address == f"tcp://{name('scheduler')}:8786"
    mongo, kafka, valkey = (settings.services.mongodb, settings.services.kafka,
                            settings.services.valkey)
    assert not (mongo.embedded or kafka.embedded or valkey.embedded)
    chart_values = {**values_file(CHART / "values.yaml")}
    expected_uri = (values.get("mongodb") or chart_values["mongodb"])["uri"]
    assert mongo.uri == expected_uri
    assert settings.metrics.port == 9090 and settings.metrics.host == "0.0.0.0"
    assert str(settings.models.models_dir) == "/var/lib/boom-flow/models"


def test_the_production_kafka_security_reaches_the_clients(tmp_path: Any) -> None:
    manifests = render(VALUES["production"])
    config = tmp_path / "config.yaml"
    config.write_text(by_kind(manifests, "ConfigMap")[name("config")]["data"]["config.yaml"])
    settings = load_settings(config, environ={
        "BOOM_FLOW_SERVICES__KAFKA__USERNAME": "ada", "BOOM_FLOW_SERVICES__KAFKA__PASSWORD": "pw"})
    consumer = settings.services.kafka.consumer_config()
    producer = settings.services.kafka.producer_config()
    for client in (consumer, producer):
        assert client["security.protocol"] == "SASL_SSL"
        assert client["sasl.mechanisms"] == "SCRAM-SHA-512"
        assert (client["sasl.username"], client["sasl.password"]) == ("ada", "pw")
    assert producer["compression.type"] == "zstd" and "compression.type" not in consumer


@pytest.mark.parametrize("bad", [
    {"worker": {"replicas": "two"}},
    {"kafka": {"bootstrapServers": "kafka"}},
    {"mongodb": {"uri": "postgres://db"}},
    {"secrets": {"apiSecretKey": "short"}},
    {"workers": {"replicas": 3}},  # a typo of a top-level key
    {"config": {"bacth": {"max_alerts": 10}}},
])
def test_the_schema_refuses_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        render(bad)


def test_an_external_scheduler_replaces_the_chart_s_own() -> None:
    manifests = render({"scheduler": {"enabled": False,
                                      "externalAddress": "tcp://dask.example.org:8786"}})
    assert name("scheduler") not in by_kind(manifests, "Deployment")
    worker = containers(by_kind(manifests, "Deployment")[name("worker")])[0]
    assert worker["args"][0] == "tcp://dask.example.org:8786"
    config = yaml.safe_load(by_kind(manifests, "ConfigMap")[name("config")]["data"]
                            ["config.yaml"])
    assert config["dask"]["scheduler_address"] == "tcp://dask.example.org:8786"


@pytest.mark.parametrize(("values", "expected"), [({}, "False"), ({"profile": True}, "True")])
def test_the_workers_profiler_follows_the_values(values: dict[str, Any], expected: str) -> None:
    # Dask reads the variable as a Python literal: "false" would be a true string.
    worker = containers(by_kind(render({"worker": values}), "Deployment")[name("worker")])[0]
    env = {variable["name"]: variable.get("value") for variable in worker["env"]}
    assert env["DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"] == expected


def test_the_scheduler_and_workers_run_boom_flow_s_dask_config() -> None:
    deployments = by_kind(render({}), "Deployment")
    expected = {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
                for key, value in load_settings(environ={}).dask.config.items()}
    for component in ("scheduler", "worker"):
        env = {variable["name"]: variable.get("value")
               for variable in containers(deployments[name(component)])[0]["env"]}
        assert {key: env.get(key) for key in expected} == expected, component
    assert expected["DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL"] == "1s"


def test_notes_name_what_runs_and_where() -> None:
    text = notes()
    assert f"tcp://{name('scheduler')}:8786" in text
    assert "boom-flow run graphs/ztf.yaml" in text
    assert "worker.replicas" in text


def test_every_values_key_is_commented() -> None:
    for path in (CHART / "values.yaml",):
        previous = ""
        for number, line in enumerate(path.read_text().splitlines(), 1):
            key = re.match(r"^\s*([A-Za-z][A-Za-z0-9_.-]*):", line)
            if key and "#" not in line and not previous.strip().startswith("#"):
                raise AssertionError(f"{path.name}:{number}: {key.group(1)} has no comment")
            previous = line


def test_models_fetch_runs_before_the_stages_in_every_pod_that_needs_them() -> None:
    manifests = render({"models": {"fetch": {"enabled": True, "from": "https://mirror/models"}}})
    deployments = by_kind(manifests, "Deployment")
    for component in ("worker", "ingest-ztf"):
        spec = deployments[name(component)]["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        assert init["command"] == ["boom-flow", "models", "fetch"]
        assert init["args"] == ["--from", "https://mirror/models"]
        mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
        main = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        assert mounts["/var/lib/boom-flow/models"] == main["/var/lib/boom-flow/models"]
    assert "initContainers" not in deployments[name("api")]["spec"]["template"]["spec"]
