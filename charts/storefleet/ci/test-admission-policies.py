#!/usr/bin/env python3
"""Evaluate the chart's ValidatingAdmissionPolicies against a matrix of requests.

Offline stand-in for the API server: the rendered policies' matchConditions and
validations are compiled with cel-python (PyPI `cel-python`) and run over admission
attributes (request, object, oldObject, namespaceObject) built here. It checks the
policy logic only; RBAC and the API server's own CEL environment are exercised by the
real-API-server tests. Skips (exit 0, with the reason) when cel-python is missing.

    helm template storefleet charts/storefleet -n storefleet | python3 ci/test-admission-policies.py
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

try:
    import celpy  # type: ignore
    from celpy import json_to_cel  # type: ignore
except ImportError:
    print("test-admission-policies: SKIPPED: cel-python is not installed (pip install cel-python)")
    sys.exit(0)

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("check_rendered", HERE / "check-rendered.py")
assert _spec and _spec.loader
check_rendered = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_rendered)

LABEL = {"app.kubernetes.io/managed-by": "storefleet"}
STORE_ADMIN = "storefleet-store-admin"


def ns(name: str, labels: dict | None = None) -> dict:
    meta: dict = {"name": name}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def rb(kind: str, name: str, subjects: list | None) -> dict:
    obj: dict = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}}
    if subjects is not None:
        obj["subjects"] = subjects
    return obj


def main() -> int:
    objs = check_rendered.load_documents(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())
    # The orchestrator's own fences. The store-isolation and store-pod-security policies
    # (everyone but the orchestrator, with variables and selectors this stand-in does not
    # model) are exercised on a real API server: crates/cluster/tests/platform_rbac.rs.
    policies = {o["metadata"]["name"]: o for o in objs if o.get("kind") == "ValidatingAdmissionPolicy"
                and "-orchestrator-" in o["metadata"]["name"]}
    by_resource = {}
    for p in policies.values():
        for rule in p["spec"]["matchConstraints"]["resourceRules"]:
            for r in rule["resources"]:
                by_resource[r] = p
    if set(by_resource) != {"namespaces", "rolebindings"}:
        print(f"test-admission-policies: expected policies for namespaces and rolebindings, found {sorted(by_resource)}")
        return 1
    # The orchestrator's identity, as the policies spell it.
    cond = by_resource["namespaces"]["spec"]["matchConditions"][0]["expression"]
    user = cond.split("'")[1]
    _, _, sa_ns, sa_name = user.split(":")
    me = [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}]

    env = celpy.Environment()

    def admit(resource: str, op: str, who: str, obj, old, nsobj, reqns: str = "") -> str:
        pol = by_resource[resource]
        act = {"request": {"operation": op, "userInfo": {"username": who}, "namespace": reqns},
               "object": obj, "oldObject": old, "namespaceObject": nsobj}
        act = {k: json_to_cel(v) for k, v in act.items()}
        for mc in pol["spec"].get("matchConditions") or []:
            if not env.program(env.compile(mc["expression"])).evaluate(act):
                return "not-matched"
        for v in pol["spec"]["validations"]:
            try:
                r = env.program(env.compile(v["expression"])).evaluate(act)
            except Exception as e:  # noqa: BLE001 - failurePolicy Fail: an error denies
                return f"deny (error: {e})"
            if isinstance(r, celpy.CELEvalError) or not r:
                return "deny: " + (v.get("message") or v.get("messageExpression", "")).strip()
        return "allow"

    store = ns("store-a", LABEL)
    kube_system = ns("kube-system", {"kubernetes.io/metadata.name": "kube-system"})
    default = ns("default", {"kubernetes.io/metadata.name": "default"})
    tenant = ns("tenant-b", {"kubernetes.io/metadata.name": "tenant-b"})
    cases = [
        ("create a namespace labelled managed-by=storefleet", "namespaces", "CREATE", user, store, None, None, "", "allow"),
        ("create an unlabelled namespace", "namespaces", "CREATE", user, ns("x"), None, None, "", "deny"),
        ("create a namespace labelled managed-by=Helm", "namespaces", "CREATE", user, ns("x", {"app.kubernetes.io/managed-by": "Helm"}), None, None, "", "deny"),
        ("apply (update) its own namespace", "namespaces", "UPDATE", user, store, store, None, "", "allow"),
        ("adopt default by labelling it", "namespaces", "UPDATE", user, ns("default", LABEL), default, None, "", "deny"),
        ("remove the label from its namespace", "namespaces", "UPDATE", user, ns("store-a", {}), store, None, "", "deny"),
        ("delete its own namespace", "namespaces", "DELETE", user, None, store, None, "", "allow"),
        ("delete default", "namespaces", "DELETE", user, None, default, None, "", "deny"),
        ("delete kube-system", "namespaces", "DELETE", user, None, kube_system, None, "", "deny"),
        ("delete another tenant's namespace", "namespaces", "DELETE", user, None, tenant, None, "", "deny"),
        ("someone else deletes default (policy not involved)", "namespaces", "DELETE", "kubernetes-admin", None, default, None, "", "not-matched"),
        ("bind store-admin to itself in its namespace", "rolebindings", "CREATE", user, rb("ClusterRole", STORE_ADMIN, me), None, store, "store-a", "allow"),
        ("bind store-admin in kube-system", "rolebindings", "CREATE", user, rb("ClusterRole", STORE_ADMIN, me), None, kube_system, "kube-system", "deny"),
        ("bind store-admin in another tenant's namespace", "rolebindings", "CREATE", user, rb("ClusterRole", STORE_ADMIN, me), None, tenant, "tenant-b", "deny"),
        ("bind ClusterRole admin in its namespace", "rolebindings", "CREATE", user, rb("ClusterRole", "admin", me), None, store, "store-a", "deny"),
        ("bind store-admin to another service account", "rolebindings", "CREATE", user, rb("ClusterRole", STORE_ADMIN, [{"kind": "ServiceAccount", "name": "x", "namespace": "store-a"}]), None, store, "store-a", "deny"),
        ("bind store-admin to system:authenticated", "rolebindings", "CREATE", user, rb("ClusterRole", STORE_ADMIN, [{"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}]), None, store, "store-a", "deny"),
        ("engine chart: Role to its own service account", "rolebindings", "CREATE", user, rb("Role", "medusa-secret", [{"kind": "ServiceAccount", "name": "medusa", "namespace": "store-a"}]), None, store, "store-a", "allow"),
        ("Role to a user", "rolebindings", "CREATE", user, rb("Role", "medusa-secret", [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]), None, store, "store-a", "deny"),
        ("Role to a service account of another namespace", "rolebindings", "CREATE", user, rb("Role", "medusa-secret", [{"kind": "ServiceAccount", "name": "x", "namespace": "tenant-b"}]), None, store, "store-a", "deny"),
        ("re-apply its store-admin binding", "rolebindings", "UPDATE", user, rb("ClusterRole", STORE_ADMIN, me), rb("ClusterRole", STORE_ADMIN, me), store, "store-a", "allow"),
        ("helm uninstall deletes a Role binding", "rolebindings", "DELETE", user, None, rb("Role", "r", []), store, "store-a", "allow"),
        ("delete a binding in default", "rolebindings", "DELETE", user, None, rb("Role", "r", []), default, "default", "deny"),
        ("someone else binds admin in kube-system (policy not involved)", "rolebindings", "CREATE", "kubernetes-admin", rb("ClusterRole", "admin", []), None, kube_system, "kube-system", "not-matched"),
    ]
    failures = 0
    for name, resource, op, who, obj, old, nsobj, reqns, want in cases:
        got = admit(resource, op, who, obj, old, nsobj, reqns)
        ok = got.split(":")[0].split(" ")[0] == want
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {op:6s} {resource:12s} {name:58s} -> {got[:90]}")
    print(f"test-admission-policies: {len(cases) - failures}/{len(cases)} as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
