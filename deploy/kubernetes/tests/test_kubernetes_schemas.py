"""deploy/kubernetes against the Kubernetes schemas, no cluster needed: every document of services/ is
validated with kubernetes-validate (strict: an unknown field fails too) for one fixed Kubernetes version, and
so are the Kubernetes objects inside airflow-values.yaml (volumes, mounts, resources, the init container),
each wrapped in a Pod. The manifests are the expected kinds, and a broken copy (unknown field, wrong type,
missing field, unknown kind or apiVersion, a misnamed claim field in the values) is shown to fail.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from contracts.catalog import AUDIO, SERVICES
from deploy.kubernetes.tests.helpers import (
    AIRFLOW_COMPONENTS,
    documents,
    load_manifests,
    manifest_files,
    validate_k8s,
)


def values_k8s_objects(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects inside the values, each wrapped in a Pod for kubernetes-validate."""

    def pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}

    base = {"name": "base", "image": "image"}
    pods = [
        pod(
            "values-volumes",
            {
                "volumes": values.get("volumes", []),
                "containers": [{**base, "volumeMounts": values.get("volumeMounts", [])}],
            },
        ),
    ]
    for section in sorted(set(AIRFLOW_COMPONENTS.values())):
        part = values.get(section, {})
        pods.append(
            pod(
                f"values-{section.lower()}",
                {
                    "volumes": part.get("extraVolumes", []),
                    "initContainers": part.get("extraInitContainers", []),
                    "containers": [
                        {
                            **base,
                            "resources": part.get("resources", {}),
                            "volumeMounts": part.get("extraVolumeMounts", []),
                        }
                    ],
                },
            )
        )
    return pods


# ---- tests: the Kubernetes schemas -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "index"),
    [(path, i) for path in manifest_files() for i in range(len(documents(path)))],
    ids=lambda value: value.name if isinstance(value, Path) else str(value),
)
def test_each_manifest_document_is_valid_kubernetes(path: Path, index: int) -> None:
    validate_k8s(documents(path)[index])


def test_the_manifests_are_the_expected_set(manifests: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert len(manifest_files()) >= len(SERVICES) + 1
    kinds = {kind for kind, _ in manifests}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler", "PersistentVolumeClaim"}


BROKEN_MANIFESTS = {
    "unknown field": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readynessProbe={}),
    "wrong type": lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="http"),
    "missing required field": lambda d: d["spec"].pop("selector"),
    "unknown kind": lambda d: d.update(kind="Deploymnet"),
    "unknown apiVersion": lambda d: d.update(apiVersion="apps/v9"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_MANIFESTS))
def test_a_broken_manifest_fails_validation(breakage: str, tmp_path: Path) -> None:
    deployment = copy.deepcopy(load_manifests()[("Deployment", AUDIO.name)])
    BROKEN_MANIFESTS[breakage](deployment)
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(deployment))
    broken = load_manifests(tmp_path)
    with pytest.raises((kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError)):
        validate_k8s(next(iter(broken.values())))


def test_the_objects_inside_the_values_are_valid_kubernetes(values: dict[str, Any]) -> None:
    for pod in values_k8s_objects(values):
        validate_k8s(pod)


def test_a_broken_object_inside_the_values_fails_validation(values: dict[str, Any]) -> None:
    broken = copy.deepcopy(values)
    broken["volumes"][0]["persistentVolumeClaim"]["claim"] = broken["volumes"][0]["persistentVolumeClaim"].pop(
        "claimName"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(values_k8s_objects(broken)[0])
