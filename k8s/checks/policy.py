#!/usr/bin/env python3
"""Deployment rules the Kubernetes schemas cannot express, checked on rendered manifests.

Run by scripts/validate-k8s.sh after schema validation:

    policy.py RENDERED.yaml [RENDERED.yaml ...]

Each file is the output of `kubectl kustomize` for one overlay (or the base). Prints one line per
file and every violation as `FILE: Kind/name: message`; exits 1 when there is any violation.

Rules:
* every pod (Deployment, StatefulSet, Job, CronJob) runs non-root (uid != 0, runAsNonRoot),
  with the RuntimeDefault seccomp profile, no service-account token, and every container
  (init/sidecar included) has readOnlyRootFilesystem, allowPrivilegeEscalation false, drops
  ALL capabilities and sets cpu+memory requests and limits; our own images run as uid 10001;
* images carry an explicit tag (no `latest`); our own images are exactly the ones
  scripts/images.sh builds (lstm-forecast-trainer, -trainer-cuda, -predictor), tagged with the
  workspace version (env WORKSPACE_VERSION, set by validate-k8s.sh from Cargo.toml), all under
  one registry prefix per render (k8s/components/images is the one place that sets it);
* gRPC probes and Service targetPorts point at ports the selected containers declare;
* every Service, PodDisruptionBudget and NetworkPolicy pod selector selects some pod template,
  and the HPA targets an existing Deployment whose replica count it owns;
* ConfigMaps and Secrets referenced by pods exist in the same render (keys too, when given);
* Indexed Jobs that shard TrainAll have SHARD_COUNT == completions;
* every pod template carries the labels the NetworkPolicies rely on.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Iterator

import yaml

APP_UID = 10001
OWN_IMAGE_PREFIX = "lstm-forecast-"  # lstm-forecast-trainer[-cuda], lstm-forecast-predictor
OWN_IMAGES = ("lstm-forecast-trainer", "lstm-forecast-trainer-cuda", "lstm-forecast-predictor")
WORKSPACE_VERSION = os.environ.get("WORKSPACE_VERSION", "")
PART_OF = ("app.kubernetes.io/part-of", "lstm-forecast")


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yields (pod template, owning spec) of a workload object."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield spec.get("template") or {}, spec
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        yield job.get("template") or {}, job


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """matchLabels / matchExpressions (In, NotIn, Exists, DoesNotExist) semantics."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Checker:
    """Collects violations for one rendered file."""

    def __init__(self, name: str, objects: list[dict[str, Any]]):
        self.name = name
        self.objects = objects
        self.errors: list[str] = []
        self.own_prefixes: set[str] = set()
        self.by_kind: dict[str, dict[str, dict[str, Any]]] = {}
        for obj in objects:
            self.by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
        # (owner, pod labels, all containers) of every pod template
        self.pods: list[tuple[str, dict[str, str], list[dict[str, Any]]]] = []
        for obj in objects:
            for template, _ in pod_templates(obj):
                tspec = template.get("spec") or {}
                containers = list(tspec.get("initContainers") or []) + list(tspec.get("containers") or [])
                labels = (template.get("metadata") or {}).get("labels") or {}
                self.pods.append((self.ref(obj), labels, containers))

    @staticmethod
    def ref(obj: dict[str, Any]) -> str:
        return f"{obj['kind']}/{obj['metadata']['name']}"

    def error(self, obj: dict[str, Any], message: str) -> None:
        self.errors.append(f"{self.name}: {self.ref(obj)}: {message}")

    def run(self) -> list[str]:
        for obj in self.objects:
            for template, job in pod_templates(obj):
                self.check_pod(obj, template)
                self.check_sharding(obj, template, job)
            kind = obj["kind"]
            if kind == "Service":
                self.check_service(obj)
            elif kind == "PodDisruptionBudget":
                self.check_selects_pods(obj, obj["spec"].get("selector"))
            elif kind == "NetworkPolicy":
                self.check_selects_pods(obj, obj["spec"].get("podSelector"))
            elif kind == "HorizontalPodAutoscaler":
                self.check_hpa(obj)
        if len(self.own_prefixes) > 1:
            prefixes = ", ".join(sorted(p or "(none)" for p in self.own_prefixes))
            self.errors.append(f"{self.name}: our images use several registry prefixes: {prefixes}")
        return self.errors

    # ---- pods -------------------------------------------------------------------------------
    def check_pod(self, obj: dict[str, Any], template: dict[str, Any]) -> None:
        spec = template.get("spec") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if labels.get(PART_OF[0]) != PART_OF[1]:
            self.error(obj, f"pod template lacks label {PART_OF[0]}={PART_OF[1]} (NetworkPolicies select on it)")
        if spec.get("automountServiceAccountToken") is not False:
            self.error(obj, "pod must set automountServiceAccountToken: false")
        psc = spec.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            self.error(obj, "pod securityContext.runAsNonRoot must be true")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            self.error(obj, "pod securityContext.seccompProfile.type must be RuntimeDefault")
        if psc.get("runAsUser") == 0:
            self.error(obj, "pod runs as uid 0")
        configmaps = self.by_kind.get("ConfigMap", {})
        secrets = self.by_kind.get("Secret", {})
        for volume in spec.get("volumes") or []:
            if "configMap" in volume and volume["configMap"]["name"] not in configmaps:
                self.error(obj, f"volume {volume['name']}: ConfigMap {volume['configMap']['name']} is not rendered")
            if "secret" in volume and volume["secret"]["secretName"] not in secrets:
                self.error(obj, f"volume {volume['name']}: Secret {volume['secret']['secretName']} is not rendered")
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            self.check_container(obj, psc, container, configmaps, secrets)

    def check_container(self, obj, psc, c, configmaps, secrets) -> None:
        where = f"container {c['name']}"
        image = c.get("image", "")
        last = image.rsplit("/", 1)[-1]
        if "@" not in image and (":" not in last or last.endswith(":latest")):
            self.error(obj, f"{where}: image {image!r} needs an explicit, non-latest tag")
        if last.startswith(OWN_IMAGE_PREFIX):
            name, _, tag = last.partition(":")
            if name not in OWN_IMAGES:
                self.error(obj, f"{where}: image {image!r} is none of {', '.join(OWN_IMAGES)}")
            if WORKSPACE_VERSION and tag != WORKSPACE_VERSION:
                self.error(obj, f"{where}: image {image!r} is not tagged with the workspace version "
                                f"{WORKSPACE_VERSION} (set newTag in k8s/components/images)")
            self.own_prefixes.add(image.rsplit("/", 1)[0] if "/" in image else "")
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            self.error(obj, f"{where}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            self.error(obj, f"{where}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            self.error(obj, f"{where}: must not be privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            self.error(obj, f"{where}: capabilities.drop must contain ALL")
        if (sc.get("capabilities") or {}).get("add"):
            self.error(obj, f"{where}: must not add capabilities")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid in (None, 0):
            self.error(obj, f"{where}: needs a non-root runAsUser")
        if last.startswith(OWN_IMAGE_PREFIX) and uid != APP_UID:
            self.error(obj, f"{where}: our images run as uid {APP_UID}, got {uid}")
        if sc.get("runAsNonRoot") is False:
            self.error(obj, f"{where}: runAsNonRoot must not be false")
        resources = c.get("resources") or {}
        for part in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in (resources.get(part) or {}):
                    self.error(obj, f"{where}: resources.{part}.{res} is not set")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            grpc = (c.get(probe_name) or {}).get("grpc")
            if grpc and grpc["port"] not in ports.values():
                self.error(obj, f"{where}: {probe_name} gRPC port {grpc['port']} is not a declared containerPort")
        for source in c.get("envFrom") or []:
            if "configMapRef" in source and source["configMapRef"]["name"] not in configmaps:
                self.error(obj, f"{where}: envFrom ConfigMap {source['configMapRef']['name']} is not rendered")
            if "secretRef" in source and source["secretRef"]["name"] not in secrets:
                self.error(obj, f"{where}: envFrom Secret {source['secretRef']['name']} is not rendered")
        for env in c.get("env") or []:
            ref = env.get("valueFrom") or {}
            for key, pool, data_keys in (
                ("configMapKeyRef", configmaps, ("data", "binaryData")),
                ("secretKeyRef", secrets, ("data", "stringData")),
            ):
                if key not in ref:
                    continue
                target = pool.get(ref[key]["name"])
                if target is None:
                    self.error(obj, f"{where}: env {env['name']}: {key} {ref[key]['name']} is not rendered")
                elif not any(ref[key]["key"] in (target.get(d) or {}) for d in data_keys):
                    self.error(obj, f"{where}: env {env['name']}: key {ref[key]['key']} missing in {ref[key]['name']}")

    def check_sharding(self, obj, template, job) -> None:
        if job.get("completionMode") != "Indexed":
            return
        for c in (template.get("spec") or {}).get("containers") or []:
            for env in c.get("env") or []:
                if env["name"] == "SHARD_COUNT" and str(env.get("value")) != str(job.get("completions")):
                    self.error(obj, f"SHARD_COUNT={env.get('value')} but completions={job.get('completions')}")

    # ---- selectors --------------------------------------------------------------------------
    def selected(self, selector) -> list[tuple[str, dict[str, str], list[dict[str, Any]]]]:
        return [pod for pod in self.pods if selector_matches(selector, pod[1])]

    def check_selects_pods(self, obj, selector) -> None:
        if selector == {}:
            return  # selects every pod of the namespace, by intent
        if not self.selected(selector):
            self.error(obj, f"selector {selector} matches no pod template")

    def check_service(self, obj) -> None:
        selector = obj["spec"].get("selector")
        if not selector:
            self.error(obj, "Service without a selector")
            return
        pods = self.selected({"matchLabels": selector})
        if not pods:
            self.error(obj, f"selector {selector} matches no pod template")
            return
        for owner, _, containers in pods:
            named = {p.get("name") for c in containers for p in c.get("ports") or []}
            numbers = {p["containerPort"] for c in containers for p in c.get("ports") or []}
            for port in obj["spec"].get("ports") or []:
                target = port.get("targetPort", port["port"])
                if target not in named and target not in numbers:
                    self.error(obj, f"port {port.get('name')}: targetPort {target!r} not declared by {owner}")

    def check_hpa(self, obj) -> None:
        target = obj["spec"]["scaleTargetRef"]
        workload = self.by_kind.get(target["kind"], {}).get(target["name"])
        if workload is None:
            self.error(obj, f"scaleTargetRef {target['kind']}/{target['name']} is not rendered")
        elif "replicas" in workload.get("spec", {}):
            self.error(obj, f"{target['kind']}/{target['name']} sets replicas; the HPA owns them (apply would reset)")


def main(paths: list[str]) -> int:
    failures = 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            objects = [doc for doc in yaml.safe_load_all(handle) if doc]
        errors = Checker(path, objects).run()
        for line in errors:
            print(f"POLICY ERROR {line}")
        failures += len(errors)
        pods = sum(1 for obj in objects for _ in pod_templates(obj))
        print(f"policy: {path}: {len(objects)} objects, {pods} pod templates, {len(errors)} violations")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: policy.py RENDERED.yaml [RENDERED.yaml ...]")
    sys.exit(main(sys.argv[1:]))
