"""Static checks of deploy/.

Nothing under deploy/ can run here (no GPU, no Docker engine, no cluster), so these tests parse every
file and cross-check them against each other and against what the proxy documents: the proxy's
port and health endpoints, the policy files' replica URLs against the Services / compose services
that must answer them, the Kubernetes SGLang command lines against the launch scripts, the SGLang
flags against the ones verified in SGLang's documentation.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_BASE = K8S / "base"  # the resources; deploy/k8s/kustomization.yaml and overlays/* build on it
DOCKER = DEPLOY / "docker"
SGLANG = DEPLOY / "sglang"
REDIS_CONF = DEPLOY / "redis" / "redis.conf"

# The proxy's contract, as documented in README.md and router/serve_cli.py.
PROXY_PORT = 8000
LIVENESS_PATH = "/health"
READINESS_PATH = "/ready"
METRICS_PATH = "/metrics"
POLICY_PATH = "/etc/tierroute/policies.yaml"
PROXY_CMD = ["serve", "--policy", POLICY_PATH, "--host", "0.0.0.0", "--port", str(PROXY_PORT)]

# SGLang (lmsysorg/sglang:v0.5.4.post3): /health and /health_generate are one handler that runs a
# one-token generation and waits up to SGLANG_HEALTH_CHECK_TIMEOUT (20 s) for the scheduler.
SGLANG_IMAGE = "lmsysorg/sglang:v0.5.4.post3"
SGLANG_HEALTH_PATHS = {"/health", "/health_generate"}
SGLANG_HEALTH_TIMEOUT_S = 20
# Every flag the deploy files pass, each checked against SGLang's
# docs/advanced_features/server_arguments.md and speculative_decoding.md: a typo here would only
# surface as a crash-looping GPU pod.
KNOWN_SGLANG_FLAGS = {
    "--model-path", "--served-model-name", "--host", "--port", "--tp-size", "--context-length",
    "--mem-fraction-static", "--max-running-requests", "--chunked-prefill-size", "--cuda-graph-max-bs",
    "--log-level", "--enable-metrics", "--enable-cache-report", "--quantization", "--tool-call-parser",
    "--speculative-algorithm", "--speculative-draft-model-path", "--speculative-num-steps",
    "--speculative-eagle-topk", "--speculative-num-draft-tokens",
}
SGLANG_BOOL_FLAGS = {"--enable-metrics", "--enable-cache-report"}
SPECULATIVE_ALGORITHMS = {"EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM"}
# SGLang accepts the three tree parameters all set or all unset (auto-tuned).
SPECULATIVE_TREE_FLAGS = ("--speculative-num-steps", "--speculative-eagle-topk", "--speculative-num-draft-tokens")

SCRIPTS = {"small": SGLANG / "small.sh", "large": SGLANG / "large.sh"}
K8S_SGLANG = {"small": "sglang-small", "large": "sglang-large"}


# ---------------------------------------------------------------------------------------------------
# helpers


def load_docs(path: Path) -> list[Any]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def dry_run(script: Path, **env: str) -> list[str]:
    """The command line a launch script would exec, with only ``env`` (plus PATH) set."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DRY_RUN": "1", **env}
    out = subprocess.run(["bash", str(script)], env=clean, capture_output=True, text=True, timeout=10,
                         check=True)
    return out.stdout.splitlines()


def flags(argv: list[str]) -> dict[str, str | None]:
    """``--flag value`` pairs of a command line; boolean flags map to None."""
    out: dict[str, str | None] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            out[arg] = None if nxt is None or nxt.startswith("--") else nxt
    return out


def sglang_flags(argv: list[str]) -> dict[str, str | None]:
    assert argv[:3] == ["python3", "-m", "sglang.launch_server"], argv
    return flags(argv[3:])


_INTERP = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose variable interpolation with every variable unset (defaults apply; `$$` -> `$`)."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        op, arg = m.group(2), m.group(3)
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            return "<required>"
        return ""
    return _INTERP.sub(sub, value)


def parse_size(text: str) -> int:
    """'16gb', '512m', '8Gi', '256mb', '2Gi' -> bytes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?", str(text).strip().lower())
    assert m, f"not a size: {text!r}"
    num, unit, binary = float(m.group(1)), m.group(2), m.group(3)
    power = " kmgt".index(unit) if unit else 0
    return int(num * ((1024 if binary or unit else 1000) ** power))


def k8s_quantity(text: str | int) -> int:
    s = str(text)
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", s)
    assert m, f"unsupported quantity {s!r}"
    mult = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6,
            "G": 10**9, "T": 10**12}[m.group(2)]
    return int(m.group(1)) * mult


def redis_directives(path: Path = REDIS_CONF) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out[key.lower()] = value.strip()
    return out


@functools.cache
def kustomization() -> dict[str, Any]:
    (doc,) = load_docs(K8S_BASE / "kustomization.yaml")
    return doc


@functools.cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    objs: list[dict[str, Any]] = []
    for res in kustomization()["resources"]:
        objs.extend(load_docs(K8S_BASE / res))
    return tuple(objs)


def k8s_get(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def workloads() -> list[dict[str, Any]]:
    return [o for o in k8s_objects() if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]


def all_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def container_port(container: dict[str, Any], port: str | int) -> int:
    """A probe's or Service's port (name or number) as the number the container listens on."""
    ports = container.get("ports", [])
    if isinstance(port, int):
        assert any(p["containerPort"] == port for p in ports), f"{container['name']} does not expose {port}"
        return port
    matches = [p["containerPort"] for p in ports if p.get("name") == port]
    assert matches, f"{container['name']} has no port named {port!r}"
    return matches[0]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def sglang_container(name: str) -> dict[str, Any]:
    (c,) = k8s_get("StatefulSet", name)["spec"]["template"]["spec"]["containers"]
    return c


def generator(name: str) -> dict[str, Any]:
    (g,) = [g for g in kustomization().get("configMapGenerator", []) if g["name"] == name]
    return g


@functools.cache
def compose() -> dict[str, Any]:
    (doc,) = load_docs(DOCKER / "compose.yaml")
    return doc


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


def compose_volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) pairs of a service's short-syntax volumes."""
    out = []
    for v in service.get("volumes", []):
        parts = interpolate(v).split(":")
        out.append((parts[0], parts[1]))
    return out


def compose_launch_script(service: dict[str, Any]) -> Path | None:
    """The deploy/sglang script a compose service runs, found through its bind mount."""
    entry = service.get("entrypoint") or []
    if len(entry) != 2 or entry[0] != "bash":
        return None
    target = PurePosixPath(entry[1])
    for source, mount in compose_volumes(service):
        if target.parent == PurePosixPath(mount) and source.startswith("."):
            return (DOCKER / source / target.name).resolve()
    raise AssertionError(f"{entry[1]} is not inside any bind mount of the service")


def compose_sglang_services() -> dict[str, Path]:
    out = {}
    for name, svc in compose()["services"].items():
        script = compose_launch_script(svc)
        if script is not None:
            out[name] = script
    return out


def compose_sglang_argv(name: str) -> list[str]:
    svc = compose()["services"][name]
    script = compose_sglang_services()[name]
    env = {k: v for k, v in compose_env(svc).items() if v}
    return dry_run(script, **env)


def compose_proxies() -> dict[str, dict[str, Any]]:
    out = {}
    for name, svc in compose()["services"].items():
        build = svc.get("build")
        if isinstance(build, dict) and build.get("dockerfile") == "deploy/docker/Dockerfile":
            out[name] = svc
    return out


def gpu_device_ids(service: dict[str, Any]) -> list[str]:
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    ids: list[str] = []
    for d in devices:
        assert d["driver"] == "nvidia"
        assert "gpu" in d["capabilities"]
        assert "device_ids" in d, "explicit device_ids, or two services may share a GPU"
        ids.extend(interpolate(str(i)) for i in d["device_ids"])
    return ids


POLICIES = {"k8s": K8S_BASE / "policies.yaml", "docker": DOCKER / "policies.yaml"}


def policy(which: str) -> dict[str, Any]:
    (doc,) = load_docs(POLICIES[which])
    return doc


def sglang_backends(pol: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for t in pol["tiers"] for b in t["backends"] if b["kind"] == "sglang"]


# ---------------------------------------------------------------------------------------------------
# every file


ALL_YAML = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_deploy_tree_has_the_expected_files() -> None:
    for name in ["README.md", "sglang/small.sh", "sglang/large.sh", "redis/redis.conf",
                 "docker/Dockerfile", "docker/Dockerfile.dockerignore", "docker/compose.yaml",
                 "docker/policies.yaml", "k8s/kustomization.yaml", "k8s/base/kustomization.yaml",
                 "k8s/base/policies.yaml", "k8s/secret.example.yaml", "k8s/overlays/dev/kustomization.yaml",
                 "k8s/overlays/production/kustomization.yaml"]:
        assert (DEPLOY / name).is_file(), name
    assert len(ALL_YAML) >= 10


@pytest.mark.parametrize("path", ALL_YAML, ids=[rel(p) for p in ALL_YAML])
def test_yaml_parses_to_mappings(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{rel(path)} is empty"
    assert all(isinstance(d, dict) for d in docs)


# ---------------------------------------------------------------------------------------------------
# kustomize


def test_kustomization_resources_exist_and_leave_secrets_out() -> None:
    k = kustomization()
    assert k["kind"] == "Kustomization"
    for res in k["resources"]:
        assert (K8S_BASE / res).is_file(), f"kustomization lists missing {res}"
    for gen in k.get("configMapGenerator", []):
        for f in gen["files"]:
            assert (K8S_BASE / f.split("=")[-1]).is_file(), f"configMapGenerator {gen['name']}: missing {f}"
    assert "secret.example.yaml" not in k["resources"]
    assert not [o for o in k8s_objects() if o["kind"] == "Secret"], "Secrets are created out of band"


def test_every_k8s_manifest_is_applied() -> None:
    not_resources = {"kustomization.yaml", "policies.yaml"}
    manifests = {p.name for p in K8S_BASE.glob("*.yaml")} - not_resources
    assert manifests == set(kustomization()["resources"])
    (root,) = load_docs(K8S / "kustomization.yaml")
    assert root["resources"] == ["base"]
    assert {p.name for p in K8S.glob("*.yaml")} == {"kustomization.yaml", "secret.example.yaml"}


def test_k8s_objects_are_well_formed() -> None:
    ns = kustomization()["namespace"]
    assert k8s_get("Namespace", ns)
    seen = set()
    for o in k8s_objects():
        assert o.get("apiVersion") and o.get("kind") and o["metadata"].get("name"), o
        key = (o["kind"], o["metadata"]["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        assert o["metadata"].get("namespace", ns) == ns, f"{key} pins another namespace"


def test_workload_selectors_match_their_pods() -> None:
    for w in workloads():
        selector = w["spec"]["selector"]["matchLabels"]
        assert labels_match(selector, w["spec"]["template"]["metadata"]["labels"]), w["metadata"]["name"]


WORKLOAD_CONTAINERS = [(w["metadata"]["name"], c["name"]) for w in workloads() for c in all_containers(w)]


@pytest.mark.parametrize(("workload", "container"), WORKLOAD_CONTAINERS)
def test_every_container_has_resources_and_probes(workload: str, container: str) -> None:
    (w,) = [w for w in workloads() if w["metadata"]["name"] == workload]
    (c,) = [c for c in all_containers(w) if c["name"] == container]
    res = c.get("resources", {})
    assert {"cpu", "memory"} <= set(res.get("requests", {})), "requests cpu and memory (scheduling, HPA)"
    assert "memory" in res.get("limits", {}), "a memory limit"
    assert k8s_quantity(res["limits"]["memory"]) >= k8s_quantity(res["requests"]["memory"])
    init = c in w["spec"]["template"]["spec"].get("initContainers", [])
    assert init or ("readinessProbe" in c and "livenessProbe" in c), "probes (init containers take none)"
    gpus = res.get("limits", {}).get("nvidia.com/gpu")
    if gpus:
        assert "startupProbe" in c, "model loading takes minutes: liveness must wait for a startupProbe"
        assert res["requests"].get("nvidia.com/gpu", gpus) == gpus
    # A memory-backed emptyDir is charged to the container's memory limit.
    spec = w["spec"]["template"]["spec"]
    for v in spec.get("volumes", []):
        ed = v.get("emptyDir") or {}
        if ed.get("medium") == "Memory":
            assert "sizeLimit" in ed
            assert k8s_quantity(ed["sizeLimit"]) < k8s_quantity(res["limits"]["memory"])


def test_services_select_pods_and_target_container_ports() -> None:
    for svc in [o for o in k8s_objects() if o["kind"] == "Service"]:
        selector = svc["spec"]["selector"]
        targets = [w for w in workloads() if labels_match(selector, w["spec"]["template"]["metadata"]["labels"])]
        assert len(targets) == 1, f"Service {svc['metadata']['name']} selects {len(targets)} workloads"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert any(_has_port(c, target) for c in all_containers(targets[0])), (svc["metadata"]["name"], port)


def _has_port(container: dict[str, Any], port: str | int) -> bool:
    try:
        container_port(container, port)
    except AssertionError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------
# the proxy on Kubernetes


def proxy() -> tuple[dict[str, Any], dict[str, Any]]:
    dep = k8s_get("Deployment", "tierroute")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return dep, c


def test_proxy_ports_and_probes_match_the_documented_endpoints() -> None:
    dep, c = proxy()
    assert dep["spec"]["replicas"] == 3
    assert c["args"] == PROXY_CMD
    assert container_port(c, "http") == PROXY_PORT
    for probe, path in [("readinessProbe", READINESS_PATH), ("livenessProbe", LIVENESS_PATH),
                        ("startupProbe", LIVENESS_PATH)]:
        get = c[probe]["httpGet"]
        assert get["path"] == path, probe
        assert container_port(c, get["port"]) == PROXY_PORT, probe
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(PROXY_PORT)
    assert annotations["prometheus.io/path"] == METRICS_PATH
    svc = k8s_get("Service", "tierroute")
    (port,) = svc["spec"]["ports"]
    assert container_port(c, port["targetPort"]) == PROXY_PORT


def test_proxy_runs_non_root_on_a_read_only_root() -> None:
    dep, c = proxy()
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # The one writable place the image points caches at (XDG_CACHE_HOME, HF_HOME under /tmp).
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in vols[mounts["/tmp"]]
    assert pod["automountServiceAccountToken"] is False


def test_proxy_gets_keys_from_a_secret_and_redis_from_the_service() -> None:
    _, c = proxy()
    assert {"secretRef": {"name": "tierroute-secrets"}} in c["envFrom"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    url = urlsplit(env["TIERROUTE_REDIS_URL"])
    assert url.scheme == "redis"
    redis_svc = k8s_get("Service", url.hostname)
    assert url.port in [p["port"] for p in redis_svc["spec"]["ports"]]
    secret_keys = _example_secret("tierroute-secrets")
    assert {"TIERROUTE_ADMIN_KEY", "TIERROUTE_API_KEYS", "ANTHROPIC_API_KEY"} <= secret_keys


def _example_secret(name: str) -> set[str]:
    docs = load_docs(K8S / "secret.example.yaml")
    (s,) = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == name]
    return set(s.get("stringData", {})) | set(s.get("data", {}))


def test_policy_configmap_is_mounted_for_hot_reload() -> None:
    gen = generator("tierroute-policies")
    # A hash-suffixed name would change on every policy edit and roll the Deployment instead.
    assert gen["options"]["disableNameSuffixHash"] is True
    assert gen["files"] == [PurePosixPath(POLICY_PATH).name]
    dep, c = proxy()
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in c["volumeMounts"] if vols[m["name"]].get("configMap", {}).get("name") == gen["name"]]
    # A directory mount: kubelet updates it by swapping the ..data symlink; subPath mounts never update.
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert mount["mountPath"] == str(PurePosixPath(POLICY_PATH).parent)
    assert "items" not in vols[mount["name"]]["configMap"]


def test_pdb_and_hpa_cover_the_proxy() -> None:
    dep, _ = proxy()
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    pdb = k8s_get("PodDisruptionBudget", "tierroute")
    assert labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert "maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"]
    hpa = k8s_get("HorizontalPodAutoscaler", "tierroute")
    assert hpa["apiVersion"] == "autoscaling/v2"
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", "tierroute")
    assert hpa["spec"]["minReplicas"] <= dep["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_proxy_image_is_set_by_kustomize() -> None:
    _, c = proxy()
    names = [i["name"] for i in kustomization()["images"]]
    assert c["image"] in names


# ---------------------------------------------------------------------------------------------------
# Redis


def test_redis_conf_is_cache_only_and_never_evicts_leases() -> None:
    d = redis_directives()
    assert d["save"] == '""', "no RDB snapshots"
    assert d["appendonly"] == "no", "no AOF"
    assert parse_size(d["maxmemory"]) > 0
    # Leases must live until their TTL: volatile-ttl evicts the shortest-lived keys (the leases)
    # first, allkeys-* evict anything. See the comment in redis.conf.
    assert d["maxmemory-policy"] == "noeviction"
    assert d["protected-mode"] == "no" and "bind" in d, "proxies connect over the network"


def test_k8s_redis_conf_is_a_copy_of_the_deploy_one() -> None:
    assert (K8S_BASE / "redis.conf").read_bytes() == REDIS_CONF.read_bytes()


def _haproxy_cfg() -> str:
    return (K8S_BASE / "redis" / "haproxy.cfg").read_text()


def test_k8s_redis_runs_with_sentinel_not_as_one_pod() -> None:
    sts = k8s_get("StatefulSet", "redis")
    n = sts["spec"]["replicas"]
    assert n >= 3 and n % 2 == 1, "an odd number of Sentinels, three at least"
    pod = sts["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"redis", "sentinel"}
    (init,) = pod["initContainers"]
    gen = generator("redis-config")
    assert gen["files"] == ["redis.conf", "redis/sentinel.conf", "redis/init.sh", "redis/haproxy.cfg"]
    vols = {v["name"]: v for v in pod["volumes"]}
    (cfg,) = [m for m in init["volumeMounts"] if vols[m["name"]].get("configMap", {}).get("name") == gen["name"]]
    script = (K8S_BASE / "redis" / "init.sh").read_text()
    assert init["command"] == ["sh", f"{cfg['mountPath']}/init.sh"]
    assert f"cp {cfg['mountPath']}/redis.conf" in script and f"{cfg['mountPath']}/sentinel.conf" in script
    # init.sh writes both configs into the data volume the two servers read them from.
    (data,) = [m for m in init["volumeMounts"] if "emptyDir" in vols[m["name"]]]
    out = re.search(r"^OUT=(\S+)$", script, re.M)
    assert out and out.group(1).startswith(data["mountPath"])
    assert containers["redis"]["command"] == ["redis-server", f"{out.group(1)}/redis.conf"]
    assert containers["sentinel"]["command"] == ["redis-sentinel", f"{out.group(1)}/sentinel.conf"]
    for c in containers.values():
        assert data["mountPath"] in [m["mountPath"] for m in c["volumeMounts"]]
    env = {e["name"]: e for e in init["env"]}
    assert env["REDIS_REPLICAS"]["value"] == str(n)
    assert env["HEADLESS_SERVICE"]["value"] == sts["spec"]["serviceName"]
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    headless = k8s_get("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True, "a replica must find its primary before it is ready"
    d = redis_directives()
    assert container_port(containers["redis"], "redis") == int(d["port"])
    assert k8s_quantity(containers["redis"]["resources"]["limits"]["memory"]) >= 1.5 * parse_size(d["maxmemory"])
    sentinel = redis_directives(K8S_BASE / "redis" / "sentinel.conf")
    assert container_port(containers["sentinel"], "sentinel") == int(sentinel["port"])
    monitor = [ln.split() for ln in (K8S_BASE / "redis" / "sentinel.conf").read_text().splitlines()
               if ln.startswith("sentinel monitor ")]
    ((_, _, master, primary, port, quorum),) = monitor
    assert primary == "@PRIMARY@" and int(port) == int(d["port"])
    assert n // 2 < int(quorum) <= n, "a majority of the Sentinels must agree"
    assert f'MASTER_NAME="${{SENTINEL_MASTER:-{master}}}"' in script
    assert pod["securityContext"]["runAsNonRoot"] is True
    pdb = k8s_get("PodDisruptionBudget", "redis")
    assert pdb["spec"]["maxUnavailable"] == n - int(quorum), "node drains keep the quorum"


def test_k8s_proxies_reach_the_primary_through_haproxy() -> None:
    sts = k8s_get("StatefulSet", "redis")
    ns = kustomization()["namespace"]
    port = int(redis_directives()["port"])
    cfg = _haproxy_cfg()
    servers = re.findall(r"^\s*server (\S+) (\S+)$", cfg, re.M)
    assert servers == [(f"redis-{i}", f"redis-{i}.{sts['spec']['serviceName']}.{ns}.svc.cluster.local:{port}")
                       for i in range(sts["spec"]["replicas"])], "one HAProxy server per Redis pod"
    assert "tcp-check expect string role:master" in cfg
    dep = k8s_get("Deployment", "redis-haproxy")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    svc = k8s_get("Service", "redis")  # what TIERROUTE_REDIS_URL names
    assert labels_match(svc["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
    (sp,) = svc["spec"]["ports"]
    assert f"bind :{container_port(c, sp['targetPort'])}" in cfg
    probe = c["readinessProbe"]["httpGet"]
    assert f"bind :{container_port(c, probe['port'])}" in cfg and f"monitor-uri {probe['path']}" in cfg
    mount = c["volumeMounts"][0]
    assert c["args"] == ["-f", f"{mount['mountPath']}/haproxy.cfg"]
    assert dep["spec"]["replicas"] >= 2


def test_k8s_redis_network_policies_admit_only_the_proxies_and_each_other() -> None:
    proxy_labels = proxy()[0]["spec"]["template"]["metadata"]["labels"]
    redis_labels = k8s_get("StatefulSet", "redis")["spec"]["template"]["metadata"]["labels"]
    haproxy_labels = k8s_get("Deployment", "redis-haproxy")["spec"]["template"]["metadata"]["labels"]
    np = k8s_get("NetworkPolicy", "redis")
    assert labels_match(np["spec"]["podSelector"]["matchLabels"], redis_labels)
    (rule,) = np["spec"]["ingress"]
    peers = [p["podSelector"]["matchLabels"] for p in rule["from"]]
    for labels in (proxy_labels, redis_labels, haproxy_labels):
        assert any(labels_match(p, labels) for p in peers)
    np = k8s_get("NetworkPolicy", "redis-haproxy")
    assert labels_match(np["spec"]["podSelector"]["matchLabels"], haproxy_labels)
    peers = [p["podSelector"]["matchLabels"] for r in np["spec"]["ingress"] for p in r.get("from", [])]
    assert len(peers) == 1 and labels_match(peers[0], proxy_labels)


# ---------------------------------------------------------------------------------------------------
# SGLang launch scripts


SHELL_SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=[rel(p) for p in SHELL_SCRIPTS])
def test_shell_scripts_parse_and_are_strict(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True, capture_output=True, timeout=10)
    text = script.read_text()
    if text.startswith("#!/bin/sh\n"):  # runs in an alpine image: POSIX sh, no bash, no pipefail
        assert "\nset -eu\n" in text
        subprocess.run(["bash", "--posix", "-n", str(script)], check=True, capture_output=True, timeout=10)
        return
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text


@pytest.mark.parametrize("tier", sorted(SCRIPTS))
def test_launch_scripts_use_only_verified_sglang_flags(tier: str) -> None:
    argv = dry_run(SCRIPTS[tier])
    f = sglang_flags(argv)
    assert set(f) <= KNOWN_SGLANG_FLAGS, set(f) - KNOWN_SGLANG_FLAGS
    for flag in SGLANG_BOOL_FLAGS & set(f):
        assert f[flag] is None, f"{flag} takes no value"
    for flag in set(f) - SGLANG_BOOL_FLAGS:
        assert f[flag], f"{flag} needs a value"
    assert f["--host"] == "0.0.0.0"
    assert f["--port"] == "30000"
    assert f["--served-model-name"] == f["--model-path"]
    assert "--enable-metrics" in f
    assert 0 < float(f["--mem-fraction-static"]) < 1
    assert int(f["--max-running-requests"]) > 0


def test_small_script_serves_the_quantized_model() -> None:
    f = sglang_flags(dry_run(SCRIPTS["small"]))
    assert f["--model-path"] == "Qwen/Qwen2.5-7B-Instruct-AWQ"
    assert f["--quantization"] == "awq_marlin"
    assert f["--tp-size"] == "1"
    assert not any(k.startswith("--speculative") for k in f)


def test_large_script_serves_with_eagle_speculative_decoding() -> None:
    f = sglang_flags(dry_run(SCRIPTS["large"]))
    assert f["--model-path"] == "meta-llama/Llama-3.3-70B-Instruct"
    assert f["--tp-size"] == "4"
    assert f["--speculative-algorithm"] in SPECULATIVE_ALGORITHMS
    assert f["--speculative-algorithm"].startswith("EAGLE")
    # The EAGLE-3 head for exactly this target (an EAGLE head reads the target's hidden states).
    assert f["--speculative-draft-model-path"] == "lmsys/sglang-EAGLE3-LLaMA3.3-Instruct-70B"
    assert all(f.get(k) for k in SPECULATIVE_TREE_FLAGS), "set all three tree parameters or none"
    steps, topk = int(f["--speculative-num-steps"]), int(f["--speculative-eagle-topk"])
    assert int(f["--speculative-num-draft-tokens"]) <= 1 + steps * topk, "more draft tokens than the tree has"
    assert int(f["--cuda-graph-max-bs"]) >= 1
    text = SCRIPTS["large"].read_text()
    assert 'export SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN="${SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN:-1}"' in text


def test_launch_scripts_honour_environment_overrides() -> None:
    f = sglang_flags(dry_run(SCRIPTS["small"], PORT="31000", MODEL_PATH="org/other", QUANTIZATION="",
                             EXTRA_ARGS="--enable-torch-compile --random-seed 7"))
    assert f["--port"] == "31000"
    assert f["--model-path"] == f["--served-model-name"] == "org/other"
    assert "--quantization" not in f
    assert f["--enable-torch-compile"] is None and f["--random-seed"] == "7"
    f = sglang_flags(dry_run(SCRIPTS["large"], SPECULATIVE_ALGORITHM="", TP_SIZE="8", SERVED_MODEL_NAME="llama"))
    assert not any(k.startswith("--speculative") for k in f)
    assert f["--tp-size"] == "8" and f["--served-model-name"] == "llama"


# ---------------------------------------------------------------------------------------------------
# SGLang on Kubernetes


@pytest.mark.parametrize("tier", sorted(K8S_SGLANG))
def test_k8s_sglang_command_is_the_launch_script_default(tier: str) -> None:
    c = sglang_container(K8S_SGLANG[tier])
    assert c["command"] + c["args"] == dry_run(SCRIPTS[tier])


@pytest.mark.parametrize("tier", sorted(K8S_SGLANG))
def test_k8s_sglang_statefulset(tier: str) -> None:
    name = K8S_SGLANG[tier]
    sts = k8s_get("StatefulSet", name)
    pod = sts["spec"]["template"]["spec"]
    c = sglang_container(name)
    f = sglang_flags(c["command"] + c["args"])
    assert c["image"] == SGLANG_IMAGE
    # Stable per-replica DNS names come from a headless Service named by serviceName.
    svc = k8s_get("Service", sts["spec"]["serviceName"])
    assert svc["spec"]["clusterIP"] == "None"
    assert labels_match(svc["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
    # One tensor-parallel rank per GPU.
    assert int(c["resources"]["limits"]["nvidia.com/gpu"]) == int(f["--tp-size"])
    # /dev/shm: memory-backed and mounted.
    vols = {v["name"]: v for v in pod["volumes"]}
    (shm,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    assert vols[shm["name"]]["emptyDir"]["medium"] == "Memory"
    port = int(f["--port"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = c[probe]
        assert p["httpGet"]["path"] in SGLANG_HEALTH_PATHS, probe
        assert container_port(c, p["httpGet"]["port"]) == port, probe
        assert p["timeoutSeconds"] > SGLANG_HEALTH_TIMEOUT_S, f"{probe}: /health may take {SGLANG_HEALTH_TIMEOUT_S}s"
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 20 * 60, "model download + load"
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == METRICS_PATH
    assert "--enable-metrics" in f


def test_k8s_large_tier_allows_the_draft_context_override_and_gets_the_hf_token() -> None:
    env = {e["name"]: e for e in sglang_container("sglang-large")["env"]}
    assert env["SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"]["value"] == "1"
    ref = env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert "HF_TOKEN" in _example_secret(ref["name"]) and ref["key"] == "HF_TOKEN"


# ---------------------------------------------------------------------------------------------------
# policies: replica URLs resolve inside the same deployment


def _tier_context(pol: dict[str, Any], backend: dict[str, Any]) -> int:
    (tier,) = [t for t in pol["tiers"] if backend in t["backends"]]
    return int(tier["context_tokens"])


def _check_backend_against_argv(pol: dict[str, Any], backend: dict[str, Any], argv: list[str]) -> None:
    f = sglang_flags(argv)
    assert f["--served-model-name"] == backend["model"], "the proxy sends the policy's model name"
    assert bool(backend.get("speculative")) == ("--speculative-algorithm" in f)
    assert int(f["--context-length"]) == _tier_context(pol, backend), "tier context_tokens = --context-length"


def _discovered_service(name: str) -> dict[str, Any]:
    """The headless Service a `discover.dns` name resolves to from the proxy's namespace."""
    ns = kustomization()["namespace"]
    labels = name.rstrip(".").split(".")
    assert labels[1:] in ([], [ns, "svc", "cluster", "local"], [ns, "svc"], [ns]), f"{name}: not this namespace"
    svc = k8s_get("Service", labels[0])
    assert svc["spec"].get("clusterIP") == "None", f"{name}: one address per pod needs a headless Service"
    # Only ready pods in the answer: a replica is published once SGLang's /health passes.
    assert not svc["spec"].get("publishNotReadyAddresses"), name
    return svc


def test_k8s_policy_discovers_every_sglang_statefulset() -> None:
    pol = policy("k8s")
    reached: set[str] = set()
    for b in sglang_backends(pol):
        assert not b.get("replicas"), "replicas are discovered, not listed (a listed pod would be a stale copy)"
        d = b["discover"]
        svc = _discovered_service(d["dns"])
        (sp,) = [p for p in svc["spec"]["ports"] if p["port"] == d["port"]]
        stss = [s for s in workloads() if s["kind"] == "StatefulSet"
                and labels_match(svc["spec"]["selector"], s["spec"]["template"]["metadata"]["labels"])]
        assert len(stss) == 1, d
        assert stss[0]["spec"]["serviceName"] == svc["metadata"]["name"]
        (c,) = stss[0]["spec"]["template"]["spec"]["containers"]
        argv = c["command"] + c["args"]
        # Discovered replicas are reached at pod IP : discover.port, i.e. the container port itself.
        assert container_port(c, sp.get("targetPort", sp["port"])) == int(sglang_flags(argv)["--port"]) == d["port"]
        _check_backend_against_argv(pol, b, argv)
        assert 0 < d["interval_s"] <= 30
        reached.add(stss[0]["metadata"]["name"])
    # Every GPU workload is used: one missing from the policy would burn GPUs for nothing.
    assert reached == {s["metadata"]["name"] for s in workloads() if s["kind"] == "StatefulSet"
                       and "nvidia.com/gpu" in s["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]}


def test_compose_policy_replicas_resolve_to_compose_services() -> None:
    pol = policy("docker")
    services = compose()["services"]
    reached = set()
    for b in sglang_backends(pol):
        for url in b["replicas"]:
            u = urlsplit(url)
            assert u.scheme == "http" and u.hostname in services, f"{url}: no such compose service"
            argv = compose_sglang_argv(u.hostname)
            assert int(sglang_flags(argv)["--port"]) == u.port, url
            _check_backend_against_argv(pol, b, argv)
            reached.add(u.hostname)
    assert reached == set(compose_sglang_services())


@pytest.mark.parametrize("which", sorted(POLICIES))
def test_policy_structure(which: str) -> None:
    pol = policy(which)
    assert pol["version"] == 1
    names = [t["name"] for t in pol["tiers"]]
    assert len(set(names)) == len(names)
    assert [r["tier"] for r in pol["routing"]["auto"]] == names
    for b in sglang_backends(pol):
        assert b.get("replicas") or b.get("discover")
        assert len(set(b.get("replicas", []))) == len(b.get("replicas", []))
    kinds = {b["kind"] for t in pol["tiers"] for b in t["backends"]}
    assert kinds == {"sglang", "litellm"}


def test_both_policies_describe_the_same_tiers() -> None:
    def strip(pol: dict[str, Any]) -> dict[str, Any]:
        pol = yaml.safe_load(yaml.safe_dump(pol))
        for b in sglang_backends(pol):  # where replicas come from differs: listed (compose), discovered (k8s)
            b.pop("replicas", None)
            b.pop("discover", None)
        return pol
    assert strip(policy("k8s")) == strip(policy("docker"))


def _key_envs(pol: dict[str, Any]) -> set[str]:
    envs = {pol.get("auth", {}).get("admin_key_env", "TIERROUTE_ADMIN_KEY")}
    envs |= {k["key_env"] for k in pol.get("auth", {}).get("client_keys", []) if k.get("key_env")}
    envs |= {b["api_key_env"] for t in pol["tiers"] for b in t["backends"] if b.get("api_key_env")}
    return envs


def test_every_key_the_policies_name_is_provided() -> None:
    assert _key_envs(policy("k8s")) <= _example_secret("tierroute-secrets")
    for name, svc in compose_proxies().items():
        assert _key_envs(policy("docker")) <= set(compose_env(svc)), name


@pytest.mark.parametrize("which", sorted(POLICIES))
def test_deploy_policies_load_with_the_proxy_loader(which: str) -> None:
    loader = pytest.importorskip("router.policy.loader")
    if not hasattr(loader, "load_policy"):
        pytest.skip("router.policy.loader has no load_policy yet")
    loaded = loader.load_policy(POLICIES[which])
    pol = getattr(loaded, "policy", loaded)
    assert [t.name for t in pol.tiers] == [t["name"] for t in policy(which)["tiers"]]


# ---------------------------------------------------------------------------------------------------
# compose


def test_compose_services_all_have_healthchecks() -> None:
    for name, svc in compose()["services"].items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_compose_gpu_services() -> None:
    services = compose()["services"]
    sglang = compose_sglang_services()
    assert {s.name for s in sglang.values()} == {"small.sh", "large.sh"}
    assert sum(1 for s in sglang.values() if s.name == "small.sh") == 2, "two small-tier replicas"
    used: list[str] = []
    for name in sglang:
        svc = services[name]
        f = sglang_flags(compose_sglang_argv(name))
        ids = gpu_device_ids(svc)
        assert len(ids) == int(f["--tp-size"]), f"{name}: one GPU per tensor-parallel rank"
        used.extend(ids)
        assert parse_size(svc["shm_size"]) >= 8 * 2**30, f"{name}: SGLang needs a large /dev/shm"
        hf_home = compose_env(svc)["HF_HOME"]
        assert hf_home in [t for _, t in compose_volumes(svc)], f"{name}: weights cache is not a volume"
        assert interpolate(svc["image"]) == SGLANG_IMAGE
        test = interpolate(" ".join(svc["healthcheck"]["test"]))
        m = re.search(r"http://127\.0\.0\.1:\$\{PORT:-(\d+)\}(/\w+)", test)
        assert m and m.group(1) == f["--port"] and m.group(2) in SGLANG_HEALTH_PATHS, test
        assert _seconds(svc["healthcheck"]["timeout"]) > SGLANG_HEALTH_TIMEOUT_S
    assert len(used) == len(set(used)), f"GPUs shared between services: {used}"


def _seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])", text)
    assert m, text
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def test_compose_proxies() -> None:
    proxies = compose_proxies()
    assert len(proxies) >= 2, "several proxies: the reason affinity lives in Redis"
    host_ports = []
    redis_port = int(redis_directives()["port"])
    for svc in proxies.values():
        build = svc["build"]
        assert (DOCKER / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).is_file()
        (mapping,) = svc["ports"]
        host, container = str(mapping).split(":")
        assert int(container) == PROXY_PORT
        host_ports.append(host)
        env = compose_env(svc)
        url = urlsplit(env["TIERROUTE_REDIS_URL"])
        assert url.hostname in compose()["services"] and url.port == redis_port
        assert svc["depends_on"][url.hostname]["condition"] == "service_healthy"
        mounts = dict((t, s) for s, t in compose_volumes(svc))
        assert (DOCKER / mounts[POLICY_PATH]).resolve() == POLICIES["docker"]
        test = " ".join(svc["healthcheck"]["test"])
        assert f"127.0.0.1:{PROXY_PORT}{LIVENESS_PATH}" in test
        assert svc.get("read_only") is True
    assert len(set(host_ports)) == len(host_ports)


def test_compose_redis_uses_the_deploy_config() -> None:
    svc = compose()["services"]["redis"]
    mounts = dict((t, s) for s, t in compose_volumes(svc))
    (target,) = [t for t, s in mounts.items() if (DOCKER / s).resolve() == REDIS_CONF]
    assert svc["command"] == ["redis-server", target]
    assert parse_size(svc["mem_limit"]) >= 1.5 * parse_size(redis_directives()["maxmemory"])


# ---------------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue  # a comment, also between continuation lines (Docker drops those too)
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            instr, _, args = buf.strip().partition(" ")
            out.append((instr.upper(), args.strip()))
        buf = ""
    return out


def test_dockerfile() -> None:
    ins = dockerfile_instructions()
    args = dict(a.split("=", 1) for i, a in ins if i == "ARG" and "=" in a)
    froms = [a.split()[0] for i, a in ins if i == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    for image in froms:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert resolved == "python:3.11-slim"
    runs = [a for i, a in ins if i == "RUN"]
    assert not any("torch" in r and "find_spec" not in r for r in runs), "the serving image installs no torch"
    install_runs = [n for n, r in enumerate(runs) if re.search(r"pip install (-c \S+ )?\.( |$)", r)]
    assert install_runs and not re.search(r"pip install[^&]*\.\[", runs[install_runs[0]]), "no extras"
    assert "'torch', 'sentence_transformers', 'sklearn'" in runs[install_runs[0]], "the build proves none slipped in"
    last_from = max(n for n, (i, _) in enumerate(ins) if i == "FROM")
    final = ins[last_from:]
    users = [a for i, a in final if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert users[-1].split(":")[0].isdigit(), "numeric uid, so runAsNonRoot can verify it"
    env_text = " ".join(a for i, a in final if i == "ENV")
    for pair in ("HF_HUB_OFFLINE=1", "LITELLM_LOCAL_MODEL_COST_MAP=True"):
        assert pair in env_text
    (health,) = [a for i, a in final if i == "HEALTHCHECK"]
    assert LIVENESS_PATH in health and str(PROXY_PORT) in health
    assert ("ENTRYPOINT", '["tierroute"]') in final
    (cmd,) = [a for i, a in final if i == "CMD"]
    assert yaml.safe_load(cmd) == PROXY_CMD
    assert ("EXPOSE", str(PROXY_PORT)) in final


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def dockerignored(path: str, rules: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a folder covers its contents."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for rule in rules:
        negate = rule.startswith("!")
        pat = rule[1:] if negate else rule
        rx = _dockerignore_regex(pat.strip("/"))
        if any(rx.fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_sits_next_to_the_dockerfile_and_allowlists_the_package() -> None:
    path = DOCKER / "Dockerfile.dockerignore"
    rules = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for sent in ["pyproject.toml", "README.md", "router/__init__.py", "router/policy/loader.py",
                 "classifiers/__init__.py"]:
        assert not dockerignored(sent, rules), sent
    for kept_out in [".git/HEAD", ".venv/bin/python", "tests/test_auth.py", ".env", "deploy/k8s/secret.yaml",
                     "bench/.work/x", "router/__pycache__/cli.cpython-311.pyc", "docs/classifier.md",
                     "fleet/__init__.py", "fleet/sim/worker.py"]:
        assert dockerignored(kept_out, rules), kept_out
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "router").is_dir()


# ---------------------------------------------------------------------------------------------------
# one SGLang version everywhere, and the README


def test_one_sglang_version_everywhere() -> None:
    for script in SCRIPTS.values():
        assert f"Target image: {SGLANG_IMAGE}" in script.read_text()
    assert interpolate(compose()["services"]["sglang-large"]["image"]) == SGLANG_IMAGE
    images = {c["image"] for w in workloads() for c in all_containers(w) if "sglang" in c["image"]}
    assert images == {SGLANG_IMAGE}
    assert SGLANG_IMAGE in (DEPLOY / "README.md").read_text()


def test_readme_covers_running_and_sizing() -> None:
    text = (DEPLOY / "README.md").read_text()
    for needle in ["docker build -f deploy/docker/Dockerfile .", "docker compose up", "kubectl apply -k deploy/k8s",
                   "max_total_num_tokens", "noeviction", "Redis", "subPath", "EAGLE", "--mem-fraction-static"]:
        assert needle in text, needle
