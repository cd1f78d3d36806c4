"""The five services' manifests of deploy/kubernetes/services/ against docker-compose.yml (as
`docker-compose config` renders it) and contracts.catalog: a Deployment and a Service of compose's name on
the catalog's port, probed on /ready and /health; every variable compose sets, secrets from the service-keys
Secret; compose's memory limit and the data root on the shared ReadWriteMany claim; workflow-audio scaling on
CPU, workflow-ml-training one pod, no Secret in git. Each check is shown to find a broken copy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from contracts.catalog import AUDIO, SERVICES, TRAINING, ServiceSpec
from deploy.kubernetes.tests.helpers import (
    PLACEHOLDER,
    SERVICE_KEYS_SECRET,
    container,
    container_port,
    data_root_problems,
    docker_bytes,
    environment,
    k8s_bytes,
)

# ---- the checks of the five services: each returns the problems it finds ---------------------------------


def service_problems(
    spec: ServiceSpec, manifests: dict[tuple[str, str], dict[str, Any]], compose: dict[str, Any]
) -> list[str]:
    """Deployment and Service named as in compose and the catalog, on the catalog's port, probed on /ready."""
    problems = []
    if spec.name not in compose["services"]:
        problems.append(f"{spec.name}: no compose service of that name")
    deployment = manifests.get(("Deployment", spec.name))
    service = manifests.get(("Service", spec.name))
    if deployment is None or service is None:
        return [*problems, f"{spec.name}: Deployment {deployment is not None}, Service {service is not None}"]
    ports = [entry["containerPort"] for entry in container(deployment).get("ports", [])]
    if ports != [spec.port]:
        problems.append(f"{spec.name}: containerPorts {ports}, the catalog's port is {spec.port}")
    for entry in service["spec"]["ports"]:
        if entry["port"] != spec.port:
            problems.append(f"{spec.name}: the Service listens on {entry['port']}, the catalog says {spec.port}")
        if container_port(deployment, entry.get("targetPort", entry["port"])) != spec.port:
            problems.append(f"{spec.name}: the Service's targetPort {entry.get('targetPort')} is not {spec.port}")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"].get("selector", {})
    if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append(f"{spec.name}: the Service selects {selector}, the pods are labelled {pod_labels}")
    for kind, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        http_get = (container(deployment).get(kind) or {}).get("httpGet") or {}
        if http_get.get("path") != path or container_port(deployment, http_get.get("port", "")) != spec.port:
            problems.append(f"{spec.name}: {kind} is {http_get or 'missing'}, expected GET {path} on {spec.port}")
    return problems


def service_env_problems(
    spec: ServiceSpec, manifests: dict[tuple[str, str], dict[str, Any]], compose: dict[str, Any]
) -> list[str]:
    """Every variable compose sets for the service is set in the Deployment: a secret (compose's value is a
    placeholder) from the service-keys Secret, never written down; any other with compose's value."""
    problems = []
    wanted = environment(compose["services"][spec.name])
    got = {entry["name"]: entry for entry in container(manifests[("Deployment", spec.name)]).get("env", [])}
    for name, value in sorted(wanted.items()):
        entry = got.get(name)
        if entry is None:
            problems.append(f"{spec.name}: compose sets {name}, the Deployment does not")
        elif PLACEHOLDER in value:
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef") or {}
            if "value" in entry or ref.get("name") != SERVICE_KEYS_SECRET or ref.get("key") != name:
                problems.append(f"{spec.name}: {name} must come from Secret {SERVICE_KEYS_SECRET} key {name}: {entry}")
        elif entry.get("value") != value:
            problems.append(f"{spec.name}: {name}={entry.get('value')!r}, compose sets {value!r}")
    if got.get("SERVICE_APP", {}).get("value") != spec.app:
        problems.append(f"{spec.name}: SERVICE_APP is not the catalog's app {spec.app}")
    return problems


def service_resource_problems(
    spec: ServiceSpec, manifests: dict[tuple[str, str], dict[str, Any]], compose: dict[str, Any]
) -> list[str]:
    """Memory limit = compose's mem_limit; the data root is the shared ReadWriteMany claim, where compose has it."""
    problems = []
    deployment = manifests[("Deployment", spec.name)]
    limit = (container(deployment).get("resources") or {}).get("limits", {}).get("memory")
    compose_limit = compose["services"][spec.name].get("mem_limit")
    if limit is None or compose_limit is None or k8s_bytes(limit) != docker_bytes(compose_limit):
        problems.append(f"{spec.name}: memory limit {limit}, compose's mem_limit is {compose_limit}")
    data_root = environment(compose["services"][spec.name])["HSS_DATA_ROOT"]
    compose_targets = [
        volume["target"] if isinstance(volume, dict) else str(volume).split(":")[1]
        for volume in compose["services"][spec.name].get("volumes", [])
    ]
    if data_root not in compose_targets:
        problems.append(f"{spec.name}: compose mounts nothing at {data_root} (its volumes: {compose_targets})")
    pod = deployment["spec"]["template"]["spec"]
    problems += data_root_problems(
        spec.name, pod.get("volumes", []), container(deployment).get("volumeMounts", []), data_root, manifests
    )
    return problems


def scaling_problems(manifests: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """workflow-audio scales on CPU (autoscaling/v2); workflow-ml-training is one pod, replaced by Recreate;
    no Secret object (with values) is kept in git."""
    problems = []
    hpa = manifests.get(("HorizontalPodAutoscaler", AUDIO.name))
    if hpa is None or hpa["apiVersion"] != "autoscaling/v2":
        problems.append(f"{AUDIO.name}: no autoscaling/v2 HorizontalPodAutoscaler")
    else:
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) != ("Deployment", AUDIO.name):
            problems.append(f"{AUDIO.name}: the HorizontalPodAutoscaler scales {target}")
        cpu = [m for m in hpa["spec"].get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
        if not cpu or cpu[0]["resource"]["target"]["type"] != "Utilization":
            problems.append(f"{AUDIO.name}: the HorizontalPodAutoscaler does not target CPU utilization")
        requests = (container(manifests[("Deployment", AUDIO.name)]).get("resources") or {}).get("requests", {})
        if "cpu" not in requests:
            problems.append(f"{AUDIO.name}: no CPU request, so no CPU utilization to scale on")
    others = [name for kind, name in manifests if kind == "HorizontalPodAutoscaler" and name != AUDIO.name]
    if others:
        problems.append(f"HorizontalPodAutoscalers beyond {AUDIO.name}: {others}")
    training = manifests.get(("Deployment", TRAINING.name), {}).get("spec", {})
    if training.get("replicas") != 1 or training.get("strategy", {}).get("type") != "Recreate":
        problems.append(f"{TRAINING.name}: replicas {training.get('replicas')}, strategy {training.get('strategy')}")
    secrets = [name for kind, name in manifests if kind == "Secret"]
    if secrets:
        problems.append(f"Secret objects in git: {secrets} (docs/KUBERNETES.md creates them with kubectl)")
    return problems


# ---- tests: agreement with compose and the catalog -------------------------------------------------------


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_each_service_has_a_deployment_and_service_on_the_catalogs_port(
    spec: ServiceSpec, manifests: dict, compose: dict
) -> None:
    assert service_problems(spec, manifests, compose) == []


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_each_deployment_sets_what_compose_sets(spec: ServiceSpec, manifests: dict, compose: dict) -> None:
    assert service_env_problems(spec, manifests, compose) == []


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_each_deployment_has_composes_memory_and_the_shared_data_root(
    spec: ServiceSpec, manifests: dict, compose: dict
) -> None:
    assert service_resource_problems(spec, manifests, compose) == []


def test_audio_scales_on_cpu_training_stays_one_pod_and_no_secret_is_in_git(manifests: dict) -> None:
    assert scaling_problems(manifests) == []


# ---- the checks find what they are meant to find ---------------------------------------------------------


def broken_manifests(manifests: dict, change: Callable[[dict], Any]) -> dict:
    broken = copy.deepcopy(manifests)
    change(broken)
    return broken


def audio_container(manifests: dict) -> dict:
    return container(manifests[("Deployment", AUDIO.name)])


def audio_env(manifests: dict, name: str) -> dict:
    return next(entry for entry in audio_container(manifests)["env"] if entry["name"] == name)


def write_down_api_key(manifests: dict) -> None:
    entry = audio_env(manifests, "HSS_API_KEY")
    entry.pop("valueFrom")
    entry["value"] = "s3cret-but-in-git"


SERVICE_BREAKAGES: dict[str, tuple[Callable[..., list[str]], Callable[[dict], Any], str]] = {
    "Service port": (
        service_problems,
        lambda m: m[("Service", AUDIO.name)]["spec"]["ports"][0].update(port=8101),
        "listens",
    ),
    "container port": (
        service_problems,
        lambda m: audio_container(m)["ports"][0].update(containerPort=8101),
        "containerPorts",
    ),
    "no Service": (service_problems, lambda m: m.pop(("Service", AUDIO.name)), "Service False"),
    "selector": (
        service_problems,
        lambda m: m[("Service", AUDIO.name)]["spec"]["selector"].update({"app.kubernetes.io/name": "x"}),
        "selects",
    ),
    "readiness path": (
        service_problems,
        lambda m: audio_container(m)["readinessProbe"]["httpGet"].update(path="/health"),
        "readinessProbe",
    ),
    "env missing": (
        service_env_problems,
        lambda m: audio_container(m).update(env=[e for e in audio_container(m)["env"] if e["name"] != "PORT"]),
        "compose sets PORT",
    ),
    "env value": (
        service_env_problems,
        lambda m: audio_env(m, "HSS_AUDIO_MAX_QUEUE").update(value="80"),
        "HSS_AUDIO_MAX_QUEUE",
    ),
    "literal secret": (service_env_problems, lambda m: write_down_api_key(m), "must come from Secret"),
    "memory": (
        service_resource_problems,
        lambda m: audio_container(m)["resources"]["limits"].update(memory="1Gi"),
        "memory limit",
    ),
    "data root claim": (
        service_resource_problems,
        lambda m: m[("PersistentVolumeClaim", "hss-data")]["spec"].update(accessModes=["ReadWriteOnce"]),
        "not ReadWriteMany",
    ),
}


@pytest.mark.parametrize("breakage", sorted(SERVICE_BREAKAGES))
def test_the_service_checks_find_a_broken_manifest(breakage: str, manifests: dict, compose: dict) -> None:
    check, change, expected = SERVICE_BREAKAGES[breakage]
    assert check(AUDIO, manifests, compose) == []
    found = check(AUDIO, broken_manifests(manifests, change), compose)
    assert any(expected in problem for problem in found), found


def test_the_scaling_check_finds_a_second_training_pod_a_missing_hpa_and_a_secret(manifests: dict) -> None:
    def change(m: dict) -> None:
        m[("Deployment", TRAINING.name)]["spec"]["replicas"] = 2
        m.pop(("HorizontalPodAutoscaler", AUDIO.name))
        m[("Secret", SERVICE_KEYS_SECRET)] = {"kind": "Secret", "metadata": {"name": SERVICE_KEYS_SECRET}}

    found = scaling_problems(broken_manifests(manifests, change))
    assert len(found) == 3, found
