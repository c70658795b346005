#!/usr/bin/env python3
"""The dev overlay as one podman host runs it (scripts/kube-play-test.sh; needs PyPI PyYAML,
which the project venv has).

  kube-play-render.py render RENDERED OUT SECRETS_DIR --suffix S --database-url URL
                             --version V --ports P1,P2,...  (one free port per containerPort)
      Reads the output of `kubectl kustomize k8s/overlays/dev` (RENDERED) and writes to OUT the
      trainer and predictor Deployments plus exactly the ConfigMaps they reference, and to
      SECRETS_DIR/<name>.json the data of each Secret they reference, changed ONLY where a
      single podman host needs it:
        1. the Secret's DATABASE_URL -> URL (a scratch database on the local PostgreSQL; the
           dev overlay's in-namespace `postgres` StatefulSet and Service are not played);
        2. hostNetwork: true, and every containerPort moved to a free host port: the probes'
           ports, the prometheus.io/port annotation, and every
           `host:port` value of the ConfigMaps and of the containers' env that names one of
           them (TRAINER_ADDR, PREDICTOR_ADDR, CONSOLE_ADDR, METRICS_ADDR, TRAINER_TARGET)
           -> 127.0.0.1:<free port>. 127.0.0.1, not 0.0.0.0: on the host network 0.0.0.0
           would expose the services to the whole network; TRAINER_TARGET named the trainer
           Service, which does not exist without Kubernetes. The containers' `ports` lists
           are dropped: podman 4.3.1 turns them into port mappings and then refuses the pod
           ("PortMappings can only be used with Bridge or slirp4netns networking"); on the
           host network they would only have been documentation;
        3. replicas: 1 (the predictor has no replicas in the manifests: its HPA owns them);
        4. imagePullPolicy: Never (no registry here: a missing local image fails at once
           instead of after a pull attempt); the images must already be
           localhost/lstm-forecast-{trainer,predictor}:V, as the images component names them;
        5. every name gets the suffix -S (Deployments, ConfigMaps, Secrets and the references
           to them) and every pod template the label lstm-forecast/kube-play-test=S: podman
           secrets and pod names are global to the host, so two runs (two clones) cannot
           collide, and a run's leftovers can be found by label;
        6. every pod volume is renamed <deployment>-<volume> (trainer-S-tmp): podman 4.3.1 turns
           an emptyDir into a volume named after the pod's volume, so the two `tmp` emptyDirs
           of the dev overlay became ONE volume shared by both pods (each saw the other's
           files in /tmp), not one per pod;
        7. each Secret is written as SECRETS_DIR/<name>.json, its `data` map as is (key ->
           base64 value), not into OUT: podman 4.3.1 accepts a Secret in a played file but
           stores the whole object, while its own secretKeyRef/secretRef lookup expects the
           podman secret to hold exactly that JSON map and fails ("secret ... is not valid
           JSON"), also when the Secret is played first from its own file. The caller creates
           the podman secret (`podman secret create <name> <name>.json`) before playing OUT.
      Everything else (env, envFrom, resources, security contexts, volumes, probes, lifecycle)
      is played as the dev overlay renders it; podman ignores what it does not support.

  kube-play-render.py probes FILE
      One line per Deployment and probe kind (readiness, liveness) with a gRPC probe:
      `<deployment> <container> <kind> <port> <service>` (service `-` for the empty name).

  kube-play-render.py secret FILE KEY
      Prints KEY of a Secret's data written by `render` (SECRETS_DIR/<name>.json), decoded.
"""
import argparse
import base64
import json
import os
import re
import sys

import yaml

KEEP = ("trainer", "predictor")


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def containers(dep):
    spec = dep["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec.get("containers", [])


def references(dep):
    """(ConfigMap names, Secret names) a Deployment's pod template refers to."""
    cms, secrets = set(), set()
    for c in containers(dep):
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                cms.add(src["configMapRef"]["name"])
            if "secretRef" in src:
                secrets.add(src["secretRef"]["name"])
        for e in c.get("env", []):
            vf = e.get("valueFrom", {})
            if "configMapKeyRef" in vf:
                cms.add(vf["configMapKeyRef"]["name"])
            if "secretKeyRef" in vf:
                secrets.add(vf["secretKeyRef"]["name"])
    for v in dep["spec"]["template"]["spec"].get("volumes", []):
        if "configMap" in v:
            cms.add(v["configMap"]["name"])
        if "secret" in v:
            secrets.add(v["secret"]["secretName"])
    return cms, secrets


def rename_refs(dep, names):
    for c in containers(dep):
        for src in c.get("envFrom", []):
            for key in ("configMapRef", "secretRef"):
                if key in src:
                    src[key]["name"] = names[src[key]["name"]]
        for e in c.get("env", []):
            vf = e.get("valueFrom", {})
            for key in ("configMapKeyRef", "secretKeyRef"):
                if key in vf:
                    vf[key]["name"] = names[vf[key]["name"]]
    for v in dep["spec"]["template"]["spec"].get("volumes", []):
        if "configMap" in v:
            v["configMap"]["name"] = names[v["configMap"]["name"]]
        if "secret" in v:
            v["secret"]["secretName"] = names[v["secret"]["secretName"]]


def rename_volumes(dep):
    """Pod volume `v` -> `<deployment>-v`, in the volumes and in every volumeMount."""
    prefix = dep["metadata"]["name"]
    spec = dep["spec"]["template"]["spec"]
    renamed = {v["name"]: f"{prefix}-{v['name']}" for v in spec.get("volumes", [])}
    for v in spec.get("volumes", []):
        v["name"] = renamed[v["name"]]
    for c in containers(dep):
        for m in c.get("volumeMounts", []):
            m["name"] = renamed[m["name"]]


ADDR = re.compile(r"^(?P<host>[A-Za-z0-9._-]*|\[[0-9a-fA-F:]*\]):(?P<port>[0-9]+)$")


def move_addr(value, ports):
    """`host:port` naming one of our container ports -> 127.0.0.1:<new port>; else unchanged."""
    m = ADDR.match(value) if isinstance(value, str) else None
    if m and int(m["port"]) in ports:
        return f"127.0.0.1:{ports[int(m['port'])]}"
    return value


def render(args):
    docs = load(args.rendered)
    deps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    missing = [n for n in KEEP if n not in deps]
    if missing:
        sys.exit(f"{args.rendered}: no Deployment {', '.join(missing)}")
    deps = [deps[n] for n in KEEP]

    cm_names, secret_names = set(), set()
    for dep in deps:
        cms, secrets = references(dep)
        cm_names |= cms
        secret_names |= secrets
    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] in cm_names]
    secrets = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] in secret_names]
    found = {d["metadata"]["name"] for d in cms + secrets}
    if found != cm_names | secret_names:
        sys.exit(f"{args.rendered}: referenced but not rendered: {sorted(cm_names | secret_names - found)}")
    names = {n: f"{n}-{args.suffix}" for n in cm_names | secret_names}

    # 2. one free host port per container port (distinct across both Deployments).
    old = [p["containerPort"] for dep in deps for c in containers(dep) for p in c.get("ports", [])]
    new = [int(p) for p in args.ports.split(",")]
    if len(set(old)) != len(old):
        sys.exit(f"container ports repeat across the Deployments ({old}): cannot map them to host ports")
    if len(new) != len(old):
        sys.exit(f"{len(old)} container ports {old}, but {len(new)} free ports given")
    ports = dict(zip(old, new))

    for d in cms + secrets:
        d["metadata"]["name"] = names[d["metadata"]["name"]]
        d["metadata"].pop("namespace", None)
    for cm in cms:
        cm["data"] = {k: move_addr(v, ports) for k, v in cm.get("data", {}).items()}
    # 1. the scratch database.
    with_db = [s for s in secrets if "DATABASE_URL" in s.get("data", {}) or "DATABASE_URL" in s.get("stringData", {})]
    if len(with_db) != 1:
        sys.exit(f"expected one referenced Secret with DATABASE_URL, found {len(with_db)}")
    s = with_db[0]
    s.get("stringData", {}).pop("DATABASE_URL", None)
    s.setdefault("data", {})["DATABASE_URL"] = base64.b64encode(args.database_url.encode()).decode()

    for dep in deps:
        name = dep["metadata"]["name"]
        dep["metadata"]["name"] = f"{name}-{args.suffix}"
        dep["metadata"].pop("namespace", None)
        dep["spec"]["replicas"] = 1  # 3.
        tpl = dep["spec"]["template"]
        tpl["metadata"].setdefault("labels", {})["lstm-forecast/kube-play-test"] = args.suffix
        ann = tpl["metadata"].get("annotations", {})
        if "prometheus.io/port" in ann:
            ann["prometheus.io/port"] = str(ports[int(ann["prometheus.io/port"])])
        spec = tpl["spec"]
        spec["hostNetwork"] = True  # 2.
        rename_refs(dep, names)  # 5.
        rename_volumes(dep)  # 6.
        for c in containers(dep):
            want = f"localhost/lstm-forecast-{name}:{args.version}"
            if c["image"] != want:
                sys.exit(f"Deployment {name}: image {c['image']}, expected {want} (k8s/components/images)")
            c["imagePullPolicy"] = "Never"  # 4.
            c.pop("ports", None)
            for e in c.get("env", []):
                if "value" in e:
                    e["value"] = move_addr(e["value"], ports)
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = c.get(kind, {})
                for handler in ("grpc", "httpGet", "tcpSocket"):
                    if handler in probe and isinstance(probe[handler].get("port"), int):
                        probe[handler]["port"] = ports[probe[handler]["port"]]

    # 7. the Secrets' data, for `podman secret create`.
    os.makedirs(args.secrets_dir, exist_ok=True)
    for s in secrets:
        data = dict(s.get("data", {}))
        for k, v in s.get("stringData", {}).items():
            data[k] = base64.b64encode(v.encode()).decode()
        path = os.path.join(args.secrets_dir, s["metadata"]["name"] + ".json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
    with open(args.out, "w") as f:
        f.write(f"# podman kube play variant of k8s/overlays/dev, written by scripts/kube-play-render.py\n"
                f"# (suffix {args.suffix}; see that script for every change). Secrets: podman secrets\n"
                f"# {', '.join(s['metadata']['name'] for s in secrets)}.\n")
        yaml.safe_dump_all(cms + deps, f, sort_keys=False)
    print(f"{args.out}: " + ", ".join(f"{d['kind']} {d['metadata']['name']}" for d in cms + deps)
          + "; podman secrets: " + ", ".join(os.path.join(args.secrets_dir, s["metadata"]["name"] + ".json") for s in secrets))
    print("ports: " + ", ".join(f"{o}->{n}" for o, n in ports.items()))


def probes(args):
    for dep in load(args.file):
        if dep["kind"] != "Deployment":
            continue
        for c in containers(dep):
            for kind in ("readinessProbe", "livenessProbe"):
                grpc = c.get(kind, {}).get("grpc")
                if grpc:
                    print(dep["metadata"]["name"], c["name"], kind.removesuffix("Probe"),
                          grpc["port"], grpc.get("service") or "-")


def secret(args):
    with open(args.file) as f:
        data = json.load(f)
    if args.key not in data:
        sys.exit(f"{args.file}: no {args.key}")
    print(base64.b64decode(data[args.key]).decode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("rendered")
    r.add_argument("out")
    r.add_argument("secrets_dir")
    r.add_argument("--suffix", required=True)
    r.add_argument("--database-url", required=True)
    r.add_argument("--version", required=True)
    r.add_argument("--ports", required=True)
    p = sub.add_parser("probes")
    p.add_argument("file")
    s = sub.add_parser("secret")
    s.add_argument("file")
    s.add_argument("key")
    args = ap.parse_args()
    {"render": render, "probes": probes, "secret": secret}[args.cmd](args)


if __name__ == "__main__":
    main()
