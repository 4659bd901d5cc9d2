"""Run what the chart renders as local processes: each container's command, args and
environment (ConfigMap and Secret values resolved), its volumes as folders.

Only what differs between a cluster and one machine is substituted, and every
substitution must find its cluster value (so a change of the chart cannot make the
wiring test run something else silently).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helm.chart import by_kind, containers


@dataclass
class LocalPod:
    """One container of a rendered Deployment, made runnable here."""

    name: str
    command: list[str]
    env: dict[str, str]
    #: mountPath in the pod -> folder here
    mounts: dict[str, Path] = field(default_factory=dict)


def secret_data(manifests: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}
            for name, s in by_kind(manifests, "Secret").items()}


def configmap_data(manifests: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: dict(c["data"]) for name, c in by_kind(manifests, "ConfigMap").items()}


def _resolve(env: dict[str, Any], secrets: dict[str, dict[str, str]],
             configmaps: dict[str, dict[str, str]]) -> str | None:
    if "value" in env:
        return str(env["value"])
    source = env["valueFrom"]
    ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
    store = secrets if "secretKeyRef" in source else configmaps
    value = store.get(ref["name"], {}).get(ref["key"])
    if value is None and not ref.get("optional", False):
        raise AssertionError(f"{env['name']}: {ref['name']}/{ref['key']} is not rendered")
    return value


def replace_all(text: str, substitutions: Mapping[str, str], where: str) -> str:
    for cluster, local in substitutions.items():
        if cluster not in text:
            raise AssertionError(f"{where}: expected {cluster!r} in {text!r}")
        text = text.replace(cluster, local)
    return text


def local_pod(manifests: list[dict[str, Any]], deployment: str, root: Path,
              args: Mapping[str, str] | None = None,
              files: Mapping[str, Mapping[str, str]] | None = None) -> LocalPod:
    """The main container of ``deployment``: ``args`` substitutes whole arguments
    (ports, addresses); each volume is a folder under ``root``, its mount path replaced
    by that folder wherever it appears; ``files`` substitutes text inside the files of
    ConfigMap volumes (by file name)."""
    secrets, configmaps = secret_data(manifests), configmap_data(manifests)
    rendered = by_kind(manifests, "Deployment")[deployment]
    container = containers(rendered)[0]
    volumes = {v["name"]: v for v in rendered["spec"]["template"]["spec"].get("volumes", [])}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        folder = root / deployment / mount["name"]
        folder.mkdir(parents=True, exist_ok=True)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            for name, text in configmaps[volume["configMap"]["name"]].items():
                for cluster, local in (files or {}).get(name, {}).items():
                    text = replace_all(text, {cluster: local}, f"{deployment}:{name}")
                (folder / name).write_text(text)
        mounts[mount["mountPath"]] = folder
    paths = {m: str(f) for m, f in sorted(mounts.items(), key=lambda i: -len(i[0]))}
    command = [*container["command"], *container.get("args", [])]
    for cluster, local in (args or {}).items():
        assert cluster in command, f"{deployment}: {cluster!r} is not an argument of {command}"
        command = [local if word == cluster else word for word in command]
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        value = _resolve(entry, secrets, configmaps)
        if value is not None:
            for mount_path, folder in paths.items():
                value = value.replace(mount_path, folder)
            env[entry["name"]] = value
    return LocalPod(deployment, command, env, mounts)
