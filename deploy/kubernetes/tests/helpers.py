"""What the deploy/kubernetes tests share: the paths, loading the manifests and the chart values, validating a
document against the Kubernetes schemas that kubernetes-validate ships (strict, for one fixed Kubernetes
version), and the small readers the checks use (a container, its ports, compose's environment, memory
quantities in both notations, the data root's claim). No test lives here; conftest.py holds the fixtures.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from stack.paths import REPO_ROOT

K8S_VERSION = "1.31.0"  # the oldest Kubernetes the manifests are written for; kubernetes-validate ships 1.25+
DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
SERVICES_DIR = DEPLOY / "services"
VALUES_FILE = DEPLOY / "airflow-values.yaml"
VALUES_SCHEMA = DEPLOY / "airflow-chart" / "values-subset.schema.json"
SERVICE_KEYS_SECRET = "hss-service-keys"
PLACEHOLDER = "change-me"  # every secret of .env.example starts with it: a compose value holding it is a secret
# compose service -> the chart's values section that renders it (its resources)
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": "apiServer",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dagProcessor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "workers",
    "flower": "flower",
}

# ---- loading -------------------------------------------------------------------------------------------


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(SERVICES_DIR.glob("*.yaml"))


def load_manifests(folder: Path = SERVICES_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> document, for every document of the folder's YAML files."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


def load_values(path: Path = VALUES_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def validate_k8s(doc: dict[str, Any]) -> None:
    """Raises unless the document is valid for K8S_VERSION: an unknown kind or apiVersion raises too
    (kubernetes-validate's command line only warns then)."""
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


# ---- small readers ---------------------------------------------------------------------------------------


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container expected"
    return containers[0]


def container_port(deployment: dict[str, Any], port: int | str) -> int | None:
    """A probe's or a Service's port (a number or a port name) as the container's port number."""
    for entry in container(deployment).get("ports", []):
        if port in (entry["containerPort"], entry.get("name")):
            return entry["containerPort"]
    return None


UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
DOCKER_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}  # docker's mem_limit units are binary


def k8s_bytes(quantity: str | int) -> int:
    number, unit = re.fullmatch(r"(\d+)([a-zA-Z]*)", str(quantity)).groups()
    return int(number) * UNITS[unit]


def docker_bytes(limit: str | int) -> int:
    number, unit = re.fullmatch(r"(\d+)([bkmg]?)", str(limit).lower()).groups()
    return int(number) * DOCKER_UNITS[unit or "b"]


def pvc_access_modes(manifests: dict[tuple[str, str], dict[str, Any]], claim: str) -> list[str] | None:
    pvc = manifests.get(("PersistentVolumeClaim", claim))
    return None if pvc is None else pvc["spec"].get("accessModes", [])


def data_root_problems(
    owner: str, volumes: list[dict], mounts: list[dict], data_root: str, manifests: dict[tuple[str, str], dict]
) -> list[str]:
    """The data root must be a mounted ReadWriteMany claim that storage.yaml defines."""
    mount = next((m for m in mounts if m["mountPath"] == data_root), None)
    if mount is None:
        return [f"{owner}: nothing mounted at the data root {data_root}"]
    volume = next((v for v in volumes if v["name"] == mount["name"]), {})
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if claim is None:
        return [f"{owner}: the data root is not a PersistentVolumeClaim: {volume}"]
    modes = pvc_access_modes(manifests, claim)
    if modes is None:
        return [f"{owner}: claim {claim!r} is defined in no manifest of {SERVICES_DIR.name}/"]
    if "ReadWriteMany" not in modes:
        return [f"{owner}: claim {claim!r} is {modes}, not ReadWriteMany: pods on several nodes share it"]
    return []
