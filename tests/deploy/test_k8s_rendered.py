"""The rendered Kubernetes manifests: deploy/k8s and its overlays, as `kubectl apply -k` would send them.

Each target is rendered with `kubectl kustomize` (or `kustomize build`) when one is installed, else with
tests/deploy/kustomize_lite.py (the features used here; checked against kubectl wherever it exists).
Every object is validated offline against the OpenAPI schemas of Kubernetes K8S_VERSION, strictly
(unknown fields are errors), with kubernetes-validate. Then the cross-references a schema cannot see:
selectors against pod labels, Service and probe ports against container ports, ConfigMap and Secret
names and keys, the StatefulSets' governing Services, the proxy's termination timeline; and the
proxy's probe paths are requested from a real proxy built from the rendered policy ConfigMap.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from classifiers.fake import ConstantClassifier
from router.app import create_app
from router.settings import Settings
from tests.deploy import kustomize_lite
from tests.support import ServerThread

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.32.0"  # the pinned schema version (kubernetes-validate ships the OpenAPI schemas)
TARGETS = {"base": K8S, "dev": K8S / "overlays" / "dev", "production": K8S / "overlays" / "production"}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _renderer() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@functools.cache
def rendered(target: str) -> tuple[dict[str, Any], ...]:
    cmd = _renderer()
    if cmd is None:
        return tuple(kustomize_lite.render(TARGETS[target]))
    out = subprocess.run([*cmd, str(TARGETS[target])], capture_output=True, text=True, timeout=120, check=True)
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def get(objs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def workloads(objs: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] in WORKLOAD_KINDS]


def pod(w: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = w["spec"]["template"]["spec"]
    return spec


def containers(w: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod(w).get("initContainers", [])) + list(pod(w)["containers"])


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected(objs: tuple[dict[str, Any], ...], selector: dict[str, str]) -> list[dict[str, Any]]:
    return [w for w in workloads(objs) if matches(selector, w["spec"]["template"]["metadata"]["labels"])]


def port_number(c: dict[str, Any], port: int | str) -> int | None:
    for p in c.get("ports", []):
        if port in (p["containerPort"], p.get("name")):
            return int(p["containerPort"])
    return None


def example_secrets() -> dict[str, set[str]]:
    docs = [d for d in yaml.safe_load_all((K8S / "secret.example.yaml").read_text()) if d]
    return {d["metadata"]["name"]: set(d.get("stringData", {})) | set(d.get("data", {})) for d in docs}


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


# ---------------------------------------------------------------------------------------------------
# schemas


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_rendered_object_is_valid_against_the_kubernetes_schemas(target: str) -> None:
    objs = rendered(target)
    assert len(objs) >= 15
    errors = []
    for o in objs:
        try:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{o['kind']}/{o['metadata']['name']}: {e.message} at {list(e.path)}")
    assert errors == []


def test_the_validator_rejects_what_the_cluster_would() -> None:
    dep = json.loads(json.dumps(get(rendered("base"), "Deployment", "tierroute")))
    dep["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/ready", "port": 8000}}
    with pytest.raises(kubernetes_validate.ValidationError):  # a misspelled field (strict)
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)
    dep = json.loads(json.dumps(get(rendered("base"), "Deployment", "tierroute")))
    dep["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


@pytest.mark.skipif(_renderer() is None, reason="no kubectl or kustomize to compare with")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_fallback_renderer_matches_kustomize(target: str) -> None:
    def canonical(objs: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> list[str]:
        text = [json.dumps(o, sort_keys=True) for o in objs]
        hashed = {o["metadata"]["name"] for o in objs if o["kind"] == "ConfigMap"
                  and kustomize_lite.HASH.search(o["metadata"]["name"])}
        for name in hashed:
            text = [t.replace(f'"{name}"', f'"{kustomize_lite.strip_hash(name)}"') for t in text]
        return sorted(text)

    assert canonical(kustomize_lite.render(TARGETS[target])) == canonical(rendered(target))


# ---------------------------------------------------------------------------------------------------
# cross-references


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_names_and_namespaces(target: str) -> None:
    objs = rendered(target)
    keys = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys))
    (ns,) = [o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"]
    assert {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"} == {ns}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_selectors_match_pod_labels(target: str) -> None:
    objs = rendered(target)
    for w in workloads(objs):
        assert matches(w["spec"]["selector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"])
    for o in objs:
        name = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Service":
            assert len(selected(objs, o["spec"]["selector"])) == 1, name
        elif o["kind"] == "PodDisruptionBudget":
            assert len(selected(objs, o["spec"]["selector"]["matchLabels"])) == 1, name
        elif o["kind"] == "NetworkPolicy":
            assert selected(objs, o["spec"]["podSelector"]["matchLabels"]), name
            for rule in o["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    assert selected(objs, peer["podSelector"]["matchLabels"]), f"{name}: a peer selects no pod"
        elif o["kind"] == "HorizontalPodAutoscaler":
            ref = o["spec"]["scaleTargetRef"]
            target_obj = get(objs, ref["kind"], ref["name"])
            assert target_obj["apiVersion"] == ref["apiVersion"]
            assert 1 <= o["spec"]["minReplicas"] <= o["spec"]["maxReplicas"]
            assert o["spec"]["minReplicas"] <= target_obj["spec"]["replicas"] <= o["spec"]["maxReplicas"], name


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_service_and_probe_ports_reach_container_ports(target: str) -> None:
    objs = rendered(target)
    for svc in [o for o in objs if o["kind"] == "Service"]:
        (w,) = selected(objs, svc["spec"]["selector"])
        for p in svc["spec"]["ports"]:
            target_port = p.get("targetPort", p["port"])
            assert any(port_number(c, target_port) for c in pod(w)["containers"]), (svc["metadata"]["name"], p)
    for w in workloads(objs):
        for c in pod(w)["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                action = c.get(probe, {}).get("httpGet") or c.get(probe, {}).get("tcpSocket")
                if action:
                    assert port_number(c, action["port"]), f"{w['metadata']['name']}/{c['name']} {probe}"
    for sts in [w for w in workloads(objs) if w["kind"] == "StatefulSet"]:
        svc = get(objs, "Service", sts["spec"]["serviceName"])
        assert svc["spec"]["clusterIP"] == "None", "a StatefulSet's governing Service is headless"
        assert selected(objs, svc["spec"]["selector"]) == [sts]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_config_maps_secrets_and_volumes_exist(target: str) -> None:
    objs = rendered(target)
    config_maps = {o["metadata"]["name"]: set(o.get("data", {})) for o in objs if o["kind"] == "ConfigMap"}
    secrets = example_secrets()
    for w in workloads(objs):
        volumes = {v["name"]: v for v in pod(w).get("volumes", [])}
        claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for v in volumes.values():
            if "configMap" in v:
                assert v["configMap"]["name"] in config_maps, v
                assert {i["key"] for i in v["configMap"].get("items", [])} <= config_maps[v["configMap"]["name"]]
            if "secret" in v:
                assert v["secret"]["secretName"] in secrets, v
        for c in containers(w):
            where = f"{w['metadata']['name']}/{c['name']}"
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes or m["name"] in claims, f"{where}: mounts unknown volume {m['name']}"
            for src in c.get("envFrom", []):
                if "secretRef" in src:
                    assert src["secretRef"]["name"] in secrets, where
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in config_maps, where
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets.get(ref["name"], set()), f"{where}: {ref}"
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in config_maps.get(ref["name"], set()), f"{where}: {ref}"


# ---------------------------------------------------------------------------------------------------
# the proxy: probes, disruption, scaling and a drain that drops nothing


def _proxy(objs: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    dep = get(objs, "Deployment", "tierroute")
    (c,) = pod(dep)["containers"]
    return dep, c


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_proxy_rolls_and_drains_without_dropping_a_request(target: str) -> None:
    objs = rendered(target)
    dep, c = _proxy(objs)
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdbs = [o for o in objs if o["kind"] == "PodDisruptionBudget"
            and matches(o["spec"]["selector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])]
    assert len(pdbs) == 1
    hpas = [o for o in objs
            if o["kind"] == "HorizontalPodAutoscaler" and o["spec"]["scaleTargetRef"]["name"] == "tierroute"]
    assert len(hpas) == 1
    # Termination: preStop pause, SIGTERM, the drain (/ready 503, still serving), then in-flight requests
    # finish -- all inside the grace period, or the kubelet SIGKILLs streams mid-answer.
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    env = env_of(c)
    drain, finish = float(env["TIERROUTE_DRAIN_S"]), float(env["TIERROUTE_SHUTDOWN_TIMEOUT_S"])
    assert drain > 0
    assert float(pre_stop[1]) + drain + finish < pod(dep)["terminationGracePeriodSeconds"]
    # A load balancer polling /ready sees the 503 before the drain ends.
    probe = c["readinessProbe"]
    assert probe["periodSeconds"] * probe.get("failureThreshold", 3) <= drain


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_redis_is_not_one_pod(target: str) -> None:
    objs = rendered(target)
    sts = get(objs, "StatefulSet", "redis")
    assert sts["spec"]["replicas"] >= 3
    assert {c["name"] for c in pod(sts)["containers"]} == {"redis", "sentinel"}
    _, c = _proxy(objs)
    url = env_of(c)["TIERROUTE_REDIS_URL"]
    host = re.match(r"redis://([^:/]+):(\d+)", url)
    assert host
    (front,) = selected(objs, get(objs, "Service", host.group(1))["spec"]["selector"])
    assert front["metadata"]["name"] == "redis-haproxy"  # follows the primary through a failover


class NoPods:
    """No SGLang pod answers here: the discovered tiers are empty, the frontier tier serves."""

    async def resolve(self, name: str) -> list[str]:
        return []


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_proxy_probes_hit_real_endpoints_of_a_proxy_built_from_the_rendered_policy(target: str,
                                                                                  tmp_path: Path) -> None:
    objs = rendered(target)
    dep, c = _proxy(objs)
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/tierroute"]
    (vol,) = [v for v in pod(dep)["volumes"] if v["name"] == mount["name"]]
    policy_file = c["args"][c["args"].index("--policy") + 1]
    assert Path(policy_file).parent == Path(mount["mountPath"])
    data = get(objs, "ConfigMap", vol["configMap"]["name"])["data"]
    path = tmp_path / Path(policy_file).name
    path.write_text(data[path.name])
    env = {k: f"test-{k.lower()}" for k in example_secrets()["tierroute-secrets"]}
    app = create_app(Settings(policy_path=str(path)), classifier=ConstantClassifier(0.1), env=env, resolver=NoPods())
    with ServerThread(app) as server:
        assert int(c["args"][c["args"].index("--port") + 1]) == port_number(c, c["readinessProbe"]["httpGet"]["port"])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            r = httpx.get(server.url + c[probe]["httpGet"]["path"], timeout=10)
            assert r.status_code == 200, (probe, r.text)
        assert httpx.get(server.url + "/ready", timeout=10).json()["draining"] is False
        assert httpx.get(server.url + "/no-such-probe", timeout=10).status_code == 404  # the check can fail
