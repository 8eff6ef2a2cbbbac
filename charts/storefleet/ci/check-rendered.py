#!/usr/bin/env python3
"""Assert the hardening and least-privilege rules over rendered Kubernetes manifests.

Input (a file argument or stdin) is either the multi-document YAML of `helm template`
(needs PyYAML) or JSON objects as printed by kubectl, e.g.

    helm template storefleet charts/storefleet -f values.yaml -f values-local.yaml \
      | python3 charts/storefleet/ci/check-rendered.py
    helm template ... | kubectl annotate --local -f - -o json x=y \
      | python3 charts/storefleet/ci/check-rendered.py        # without PyYAML

Rules, for every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
CronJob, Pod) and every container in it, init containers included:
  * runAsNonRoot, not uid 0, seccomp RuntimeDefault/Localhost (pod or container level);
  * readOnlyRootFilesystem, allowPrivilegeEscalation false, not privileged,
    capabilities drop ALL and add nothing;
  * cpu and memory requests and limits;
  * no hostNetwork/hostPID/hostIPC, no hostPath volumes;
  * automountServiceAccountToken set explicitly, and true only for a service account
    that some rendered binding names (a pod with no rights mounts no token).
For RBAC:
  * no `*` anywhere in a Role/ClusterRole rule, no aggregationRule;
  * no ClusterRoleBinding grants access to secrets (cluster-wide secret access is what
    per-namespace RoleBindings exist to avoid), and storefleet-store-admin is never
    bound cluster-wide.

With `--engine FILE` (repeatable: a rendering of an engine chart such as
charts/medusa), it also checks that storefleet-store-admin, from the platform input,
covers every kind that engine chart contains (get list watch create patch delete on its
resource) and that none of them is cluster-scoped. helm itself runs as the store
deployer, whose Role the orchestrator creates per store; RBAC's escalation check lets it
do so only for rights storefleet-store-admin holds, so the two cannot drift apart.

Exit status 0 when every rule holds, 1 otherwise (each failure is printed), 2 on bad
input. `--self-test` runs the rules over built-in bad manifests and checks that each
is caught.
"""

from __future__ import annotations

import argparse
import json
import sys

POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
RBAC_ROLE_KINDS = {"Role", "ClusterRole"}
STORE_ADMIN = "storefleet-store-admin"


def load_documents(text: str) -> list[dict]:
    """Objects from YAML (PyYAML) or a stream of JSON values; `List`s are flattened."""
    stripped = text.lstrip()
    docs: list = []
    if stripped.startswith("{") or stripped.startswith("["):
        decoder = json.JSONDecoder()
        pos = 0
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            value, pos = decoder.raw_decode(text, pos)
            docs.extend(value if isinstance(value, list) else [value])
    else:
        try:
            import yaml  # type: ignore
        except ImportError:
            sys.exit(
                "check-rendered: PyYAML is not installed; pipe the manifests through "
                "`kubectl annotate --local -f - -o json x=y` to feed JSON instead"
            )
        docs = [d for d in yaml.safe_load_all(text) if d]
    out: list[dict] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" or (doc.get("kind", "").endswith("List") and "items" in doc):
            out.extend(i for i in doc.get("items") or [] if isinstance(i, dict))
        else:
            out.append(doc)
    return out


def ident(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{(ns + '/') if ns else ''}{meta.get('name')}"


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    if kind in POD_KINDS:
        return (spec.get("template") or {}).get("spec")
    return None


class Checker:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.containers = 0
        self.pods = 0
        self.roles = 0
        self.rules = 0

    def fail(self, where: str, what: str) -> None:
        self.failures.append(f"{where}: {what}")

    # -- pods ----------------------------------------------------------------------
    def check_pod(self, obj: dict, spec: dict, bound_sas: set[tuple[str, str]]) -> None:
        self.pods += 1
        where = ident(obj)
        psc = spec.get("securityContext") or {}
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                self.fail(where, f"{flag} is true")
        for vol in spec.get("volumes") or []:
            if "hostPath" in vol:
                self.fail(where, f"volume {vol.get('name')} is a hostPath")

        automount = spec.get("automountServiceAccountToken")
        sa = spec.get("serviceAccountName") or "default"
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        if automount is None:
            self.fail(where, "automountServiceAccountToken is not set explicitly")
        elif automount and not any(name == sa and (not ns or not bns or bns == ns) for name, bns in bound_sas):
            self.fail(where, f"mounts a token for service account {sa!r}, which no rendered binding grants anything")

        all_containers = [("container", c) for c in spec.get("containers") or []]
        all_containers += [("initContainer", c) for c in spec.get("initContainers") or []]
        all_containers += [("ephemeralContainer", c) for c in spec.get("ephemeralContainers") or []]
        if not spec.get("containers"):
            self.fail(where, "pod template has no containers")
        for role, c in all_containers:
            self.containers += 1
            self.check_container(f"{where} {role} {c.get('name')}", c, psc)

    def check_container(self, where: str, c: dict, psc: dict) -> None:
        sc = c.get("securityContext") or {}

        def effective(key: str):
            return sc[key] if key in sc else psc.get(key)

        if effective("runAsNonRoot") is not True:
            self.fail(where, "runAsNonRoot is not true")
        if effective("runAsUser") == 0:
            self.fail(where, "runs as uid 0")
        seccomp = (effective("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            self.fail(where, f"seccompProfile is {seccomp!r}, want RuntimeDefault")
        if sc.get("readOnlyRootFilesystem") is not True:
            self.fail(where, "readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            self.fail(where, "allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            self.fail(where, "privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            self.fail(where, "capabilities.drop does not contain ALL")
        if caps.get("add"):
            self.fail(where, f"capabilities.add = {caps.get('add')}")
        res = c.get("resources") or {}
        for section in ("requests", "limits"):
            for key in ("cpu", "memory"):
                if not (res.get(section) or {}).get(key):
                    self.fail(where, f"no resources.{section}.{key}")

    # -- RBAC ----------------------------------------------------------------------
    def check_role(self, obj: dict) -> None:
        self.roles += 1
        where = ident(obj)
        if obj.get("aggregationRule"):
            self.fail(where, "uses aggregationRule (rights would come from elsewhere)")
        for n, rule in enumerate(obj.get("rules") or []):
            self.rules += 1
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                for value in rule.get(field) or []:
                    if "*" in str(value):
                        self.fail(where, f"rule {n} has {value!r} in {field}")

    def check_cluster_bindings(self, objs: list[dict]) -> None:
        cluster_roles = {(o.get("metadata") or {}).get("name"): o for o in objs if o.get("kind") == "ClusterRole"}
        for b in objs:
            if b.get("kind") != "ClusterRoleBinding":
                continue
            ref = b.get("roleRef") or {}
            name = ref.get("name")
            if name == STORE_ADMIN:
                self.fail(ident(b), f"binds {STORE_ADMIN} cluster-wide; it is for per-namespace RoleBindings only")
            role = cluster_roles.get(name)
            if role is None:
                continue
            for rule in role.get("rules") or []:
                if "" in (rule.get("apiGroups") or []) and "secrets" in (rule.get("resources") or []):
                    self.fail(ident(b), f"grants secrets cluster-wide through ClusterRole {name}")

    def run(self, objs: list[dict]) -> None:
        bound: set[tuple[str, str]] = set()
        for o in objs:
            if o.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
                for s in o.get("subjects") or []:
                    if s.get("kind") == "ServiceAccount":
                        bound.add((s.get("name"), s.get("namespace") or ""))
        for o in objs:
            spec = pod_spec(o)
            if spec is not None:
                self.check_pod(o, spec, bound)
            if o.get("kind") in RBAC_ROLE_KINDS:
                self.check_role(o)
        self.check_cluster_bindings(objs)


HELM_VERBS = {"get", "list", "watch", "create", "patch", "delete"}
CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "APIService",
}


def resource_of(kind: str) -> str:
    """Plural resource name of a kind (the regular English rules Kubernetes uses)."""
    low = kind.lower()
    if low in ("endpoints",):
        return low
    if low.endswith("s") or low.endswith("x"):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    return low + "s"


def engine_coverage(platform: list[dict], engine_name: str, engine: list[dict]) -> list[str]:
    roles = [o for o in platform if o.get("kind") == "ClusterRole" and (o.get("metadata") or {}).get("name") == STORE_ADMIN]
    if not roles:
        return [f"{engine_name}: the platform rendering has no ClusterRole {STORE_ADMIN}"]
    rules = roles[0].get("rules") or []
    problems = []
    seen = set()
    for o in engine:
        kind = o.get("kind")
        api_version = o.get("apiVersion") or ""
        if not kind or (kind, api_version) in seen:
            continue
        seen.add((kind, api_version))
        group = api_version.split("/")[0] if "/" in api_version else ""
        if kind in CLUSTER_SCOPED:
            problems.append(f"{engine_name}: {kind} is cluster-scoped; a per-namespace RoleBinding cannot allow it")
            continue
        resource = resource_of(kind)
        verbs = set()
        for r in rules:
            if group in (r.get("apiGroups") or []) and resource in (r.get("resources") or []) and not r.get("resourceNames"):
                verbs |= set(r.get("verbs") or [])
        missing = HELM_VERBS - verbs
        if missing:
            problems.append(
                f"{engine_name}: {STORE_ADMIN} lacks {' '.join(sorted(missing))} on "
                f"{group or 'core'}/{resource} ({kind} in the chart)"
            )
    return problems


def self_test() -> int:
    good_sc = {
        "runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }
    res = {"requests": {"cpu": "1m", "memory": "1Mi"}, "limits": {"cpu": "1m", "memory": "1Mi"}}

    def deploy(container: dict, **pod) -> dict:
        spec = {"automountServiceAccountToken": False, "containers": [container], **pod}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"template": {"spec": spec}}}

    cases = {
        "clean": ([deploy({"name": "c", "securityContext": good_sc, "resources": res})], 0),
        "writable root": ([deploy({"name": "c", "securityContext": {**good_sc, "readOnlyRootFilesystem": False}, "resources": res})], 1),
        "no limits": ([deploy({"name": "c", "securityContext": good_sc, "resources": {"requests": res["requests"]}})], 2),
        "caps kept": ([deploy({"name": "c", "securityContext": {**good_sc, "capabilities": {}}, "resources": res})], 1),
        "root": ([deploy({"name": "c", "securityContext": {**good_sc, "runAsNonRoot": False}, "resources": res})], 1),
        "token without rights": ([deploy({"name": "c", "securityContext": good_sc, "resources": res}, automountServiceAccountToken=True)], 1),
        "wildcard verb": ([{"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]}], 1),
        "wildcard resource": ([{"kind": "Role", "metadata": {"name": "r"}, "rules": [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}]}], 1),
        "cluster-wide secrets": ([
            {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
            {"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": []},
        ], 1),
    }
    admin = [{"kind": "ClusterRole", "metadata": {"name": STORE_ADMIN},
              "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": sorted(HELM_VERBS)}]}]
    coverage_cases = {
        "engine kind covered": ([{"apiVersion": "apps/v1", "kind": "Deployment"}], 0),
        "engine kind not covered": ([{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}], 1),
        "engine kind cluster-scoped": ([{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}], 1),
    }
    bad = 0
    for name, (engine, want) in coverage_cases.items():
        got = engine_coverage(admin, "engine", engine)
        ok = len(got) == want
        bad += not ok
        print(f"self-test {'ok  ' if ok else 'FAIL'} {name}: {len(got)} finding(s), want {want}")
    for name, (objs, want) in cases.items():
        c = Checker()
        c.run(objs)
        ok = len(c.failures) == want
        bad += not ok
        print(f"self-test {'ok  ' if ok else 'FAIL'} {name}: {len(c.failures)} finding(s), want {want}")
        if not ok:
            for f in c.failures:
                print(f"    {f}")
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", nargs="?", help="rendered manifests (default: stdin)")
    p.add_argument("--self-test", action="store_true", help="check that the rules catch known-bad manifests")
    p.add_argument("--engine", action="append", default=[], metavar="FILE",
                   help="rendered engine chart whose kinds storefleet-store-admin must cover")
    args = p.parse_args()
    if args.self_test:
        return self_test()
    text = open(args.file, encoding="utf-8").read() if args.file else sys.stdin.read()
    try:
        objs = load_documents(text)
    except (ValueError, Exception) as e:  # noqa: BLE001 - report any parse error
        print(f"check-rendered: cannot parse input: {e}", file=sys.stderr)
        return 2
    if not objs:
        print("check-rendered: no objects in input", file=sys.stderr)
        return 2
    c = Checker()
    c.run(objs)
    print(
        f"check-rendered: {len(objs)} objects, {c.pods} pod templates, {c.containers} containers, "
        f"{c.roles} roles ({c.rules} rules)"
    )
    for path in args.engine:
        try:
            engine = load_documents(open(path, encoding="utf-8").read())
        except (OSError, ValueError) as e:
            print(f"check-rendered: cannot read engine rendering {path}: {e}", file=sys.stderr)
            return 2
        kinds = sorted({o.get("kind") for o in engine if o.get("kind")})
        print(f"check-rendered: {STORE_ADMIN} vs {path}: {', '.join(kinds)}")
        c.failures.extend(engine_coverage(objs, path, engine))
    for f in c.failures:
        print(f"  FAIL {f}")
    if c.failures:
        print(f"check-rendered: {len(c.failures)} failure(s)")
        return 1
    print("check-rendered: all hardening and RBAC rules hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
