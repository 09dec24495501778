"""Renders the kustomize features deploy/k8s uses, for machines without `kubectl` or `kustomize`.

Covered: ``resources`` (files and kustomization directories, recursively), ``namespace``, ``labels``
(``pairs`` with ``includeSelectors: false``: object metadata only), ``configMapGenerator`` (``files``,
``options.disableNameSuffixHash``; references from pod volumes and envFrom/env follow the generated
name), ``images`` (newName/newTag) and ``patches`` given by ``path`` as strategic-merge patches (maps
merged, lists of containers/env/volumes/... merged on their Kubernetes merge keys, other lists
replaced). Anything else raises, so a kustomization outgrowing this fails loudly. The suffix hash is
not kustomize's (same length, another digest): compare names with :func:`strip_hash`.
tests/deploy/test_k8s_rendered.py checks this against `kubectl kustomize` wherever kubectl exists.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator", "images", "patches"}
# Kubernetes' patchMergeKey of the lists the patches here touch.
MERGE_KEYS: dict[str, str | tuple[str, ...]] = {
    "containers": "name", "initContainers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath",
    "ports": "containerPort", "tolerations": "key", "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable")}
CLUSTER_SCOPED = {"Namespace", "PriorityClass", "StorageClass", "ClusterRole", "ClusterRoleBinding"}
HASH = re.compile(r"-[a-z0-9]{10}$")


def render(directory: Path) -> list[dict[str, Any]]:
    (k,) = [d for d in yaml.safe_load_all((directory / "kustomization.yaml").read_text()) if d]
    unknown = set(k) - SUPPORTED
    if unknown:
        raise NotImplementedError(f"{directory}: kustomize fields not rendered here: {sorted(unknown)}")
    objs: list[dict[str, Any]] = []
    for res in k.get("resources", []):
        path = directory / res
        objs += render(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    renamed: dict[str, str] = {}
    for gen in k.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in gen["files"]}
        name = gen["name"]
        if not (gen.get("options") or {}).get("disableNameSuffixHash"):
            digest = hashlib.sha256(json.dumps({"name": name, "data": data}, sort_keys=True).encode()).hexdigest()
            renamed[name] = f"{name}-{digest[:10]}"
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": renamed.get(name, name)},
                     "data": data})
    for patch_ref in k.get("patches", []):
        for patch in yaml.safe_load_all((directory / patch_ref["path"]).read_text()):
            target = _find(objs, patch["kind"], patch["metadata"]["name"])
            merged = _merge(target, patch)
            target.clear()
            target.update(merged)
    for obj in objs:
        _rename_config_maps(obj, renamed)
        if "namespace" in k and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = k["namespace"]
        for group in k.get("labels", []):
            if group.get("includeSelectors", False) or group.get("includeTemplates", False):
                raise NotImplementedError("labels into selectors or templates")
            obj["metadata"].setdefault("labels", {}).update(group["pairs"])
        for pod in _pod_specs(obj):
            for c in pod.get("initContainers", []) + pod.get("containers", []):
                for image in k.get("images", []):
                    if c["image"].split(":")[0] == image["name"]:
                        c["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return objs


def strip_hash(name: str) -> str:
    return HASH.sub("", name)


def _find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _merge(base: Any, patch: Any, key: str | None = None) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for k, v in patch.items():
            out[k] = _merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        # As kustomize orders a merged list: the patch's items (merged into their base item), then the
        # base items the patch did not name.
        fields = MERGE_KEYS[key]
        fields = (fields,) if isinstance(fields, str) else fields

        def mk(item: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(item.get(f) for f in fields)

        by_key = {mk(b): b for b in base}
        named = [_merge(by_key[mk(i)], i) if mk(i) in by_key else copy.deepcopy(i) for i in patch]
        return named + [copy.deepcopy(b) for b in base if mk(b) not in {mk(i) for i in patch}]
    return copy.deepcopy(patch)


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    template = obj.get("spec", {}).get("template") if isinstance(obj.get("spec"), dict) else None
    return [template["spec"]] if isinstance(template, dict) and "spec" in template else []


def _rename_config_maps(obj: dict[str, Any], renamed: dict[str, str]) -> None:
    for pod in _pod_specs(obj):
        for v in pod.get("volumes", []):
            if "configMap" in v:
                v["configMap"]["name"] = renamed.get(v["configMap"]["name"], v["configMap"]["name"])
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    src["configMapRef"]["name"] = renamed.get(src["configMapRef"]["name"], src["configMapRef"]["name"])
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref:
                    ref["name"] = renamed.get(ref["name"], ref["name"])
