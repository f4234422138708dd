"""The Kubernetes manifests: every overlay renders with kustomize and validates offline,
strictly, against three Kubernetes minor versions, and keeps the properties that make a
rollout safe (probes, pinned images, non-root, migration before serving)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ["single-node", "ha"]
VERSIONS = ["1.31.0", "1.33.0", "1.35.0"]
# Custom resources whose schemas ship with their operators, not with Kubernetes.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl is required (it carries kustomize)"
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def kinds(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d["kind"], d["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_validates_strictly(
    overlay: tuple[str, list[dict[str, Any]]], version: str
) -> None:
    """Strict schema validation (unknown fields are errors) of every rendered resource."""
    _, docs = overlay
    checked = 0
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, version, strict=True)
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 7


def test_a_typo_fails_strict_validation() -> None:
    """The validator really rejects an unknown field (so the test above can fail)."""
    docs = render("ha")
    dep = kinds(docs)["Deployment"]
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = (
        "/ready"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, VERSIONS[-1], strict=True)


def test_images_are_pinned(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """Every image has an explicit tag that is not `latest`."""
    _, docs = overlay
    images = [c["image"] for _, spec in pod_specs(docs) for c in containers(spec)]
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, image
        assert tag not in ("", "latest"), image


def test_pods_run_non_root_and_locked_down(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """Non-root, no privilege escalation, read-only root filesystem, no capabilities."""
    _, docs = overlay
    for _, spec in pod_specs(docs):
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True
        assert psc["runAsUser"] != 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"]["memory"]
            assert c["resources"]["limits"]["memory"]


def test_gateway_probes_and_drain(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """Liveness on /health, readiness on /ready, a start-up probe, and time to drain."""
    _, docs = overlay
    spec = kinds(docs)["Deployment"]["spec"]["template"]["spec"]
    gw = spec["containers"][0]
    assert gw["livenessProbe"]["httpGet"]["path"] == "/health"
    assert gw["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gw["startupProbe"]["httpGet"]["path"] == "/health"
    assert gw["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert spec["terminationGracePeriodSeconds"] > gw["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert gw["resources"]["requests"]["cpu"]


def test_config_and_secrets_are_wired(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """The config map the pod mounts exists (with its hash suffix); keys come from a
    Secret reference, never from a literal."""
    name, docs = overlay
    spec = kinds(docs)["Deployment"]["spec"]["template"]["spec"]
    cm_names = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    mounted = {v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
    assert mounted and mounted <= cm_names
    config = yaml.safe_load(kinds(docs)["ConfigMap"]["data"]["lockgate.yaml"])
    assert config["general_settings"]["master_key"] == "os.environ/LOCKGATE_MASTER_KEY"
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["LOCKGATE_MASTER_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "lockgate-secrets"
    assert not any(d["kind"] == "Secret" for d in docs), "secrets are created by the operator"
    if name == "ha":
        assert "LOCKGATE_REDIS_URL" in env
        assert config["general_settings"]["redis_url"] == "os.environ/LOCKGATE_REDIS_URL"


def test_ha_migrates_before_serving() -> None:
    """HA: a migration Job that fails loudly runs first, and the gateway's init container
    waits for the schema, with the same image, so no pod serves an old schema."""
    docs = render("ha")
    k = kinds(docs)
    job = k["Job"]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
    jspec = job["spec"]
    assert jspec["backoffLimit"] >= 1
    assert jspec["template"]["spec"]["restartPolicy"] == "Never"
    assert jspec["template"]["spec"]["containers"][0]["args"][:2] == ["db", "migrate"]
    dep = k["Deployment"]["spec"]["template"]["spec"]
    init = dep["initContainers"][0]
    assert init["args"][:2] == ["db", "wait"]
    assert init["image"] == jspec["template"]["spec"]["containers"][0]["image"]
    assert init["image"] == dep["containers"][0]["image"]
    # Resources apply in this order: the Job before the Deployment.
    order = [d["kind"] for d in docs]
    assert order.index("Job") < order.index("Deployment")


def test_ha_scales_and_survives_disruption() -> None:
    """HA: 3 replicas, HPA 3-20, at most one pod down at a time, spread over nodes,
    scraped by a ServiceMonitor on the Service's named port."""
    k = kinds(render("ha"))
    assert k["Deployment"]["spec"]["replicas"] == 3
    assert k["Deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert (
        k["HorizontalPodAutoscaler"]["spec"]["minReplicas"],
        k["HorizontalPodAutoscaler"]["spec"]["maxReplicas"],
    ) == (3, 20)
    assert k["PodDisruptionBudget"]["spec"]["minAvailable"] == 2
    sm = k["ServiceMonitor"]["spec"]
    svc = k["Service"]
    assert sm["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert sm["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert k["NetworkPolicy"]["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_single_node_keeps_sqlite_on_a_volume() -> None:
    """Single node: one replica, replaced not rolled, SQLite on a persistent volume, no
    Redis, no HPA, and no migration Job (the gateway migrates its own file)."""
    docs = render("single-node")
    k = kinds(docs)
    dep = k["Deployment"]["spec"]
    assert dep["replicas"] == 1 and dep["strategy"]["type"] == "Recreate"
    vols = {v["name"]: v for v in dep["template"]["spec"]["volumes"]}
    assert (
        vols["data"]["persistentVolumeClaim"]["claimName"]
        == k["PersistentVolumeClaim"]["metadata"]["name"]
    )
    config = yaml.safe_load(k["ConfigMap"]["data"]["lockgate.yaml"])
    assert config["general_settings"]["database_url"].startswith("sqlite:////var/lib/lockgate/")
    assert "redis_url" not in config["general_settings"]
    assert "Job" not in k and "HorizontalPodAutoscaler" not in k
    assert "initContainers" not in dep["template"]["spec"]
