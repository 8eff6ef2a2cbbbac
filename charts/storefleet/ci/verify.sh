#!/usr/bin/env bash
# Static checks of charts/storefleet, no cluster needed:
#   helm lint --strict and helm template for every values file (and a few variants),
#   kubectl apply --dry-run=client on the output (when a cluster is reachable; otherwise
#   kubectl parses every object offline), check-rendered.py over every rendering, the
#   admission-policy matrix (test-admission-policies.py; skipped without cel-python),
#   and the settings the chart must refuse.
# usage: charts/storefleet/ci/verify.sh        (HELM=/path/to/helm KUBECTL=... to override)
set -euo pipefail

CHART=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELM=${HELM:-helm}
KUBECTL=${KUBECTL:-kubectl}
PY=${PYTHON:-python3}
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
failed=0

command -v "$HELM" >/dev/null || { echo "verify: helm not found (set HELM=)" >&2; exit 2; }
command -v "$KUBECTL" >/dev/null || { echo "verify: kubectl not found (set KUBECTL=)" >&2; exit 2; }

if "$PY" -c 'import yaml' 2>/dev/null; then have_yaml=1; else have_yaml=0; fi
if "$KUBECTL" version --request-timeout=3s >/dev/null 2>&1; then
  dry_run=cluster
else
  dry_run=local
  echo "verify: no reachable cluster: kubectl apply --dry-run=client needs API discovery," \
       "so objects are parsed offline with kubectl annotate --local instead"
fi

step() { printf '\n== %s\n' "$*"; }
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; failed=1; }

step "check-rendered self-test"
"$PY" "$CHART/ci/check-rendered.py" --self-test || bad "self-test"

# name | helm value arguments
variants=(
  "default|-f $CHART/values.yaml"
  "local|-f $CHART/values.yaml -f $CHART/values-local.yaml"
  "vps|-f $CHART/values.yaml -f $CHART/values-vps.yaml"
  "local+tls+hpa|-f $CHART/values.yaml -f $CHART/values-local.yaml --set tls.clusterIssuer=selfsigned --set api.autoscaling.enabled=true --set networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring"
  "bundled-pg-existing-password|-f $CHART/values.yaml -f $CHART/values-vps.yaml --set postgresql.enabled=true --set database.existingSecret= --set migrations.mode=initContainer --set postgresql.auth.existingSecret=pg"
)
for entry in "${variants[@]}"; do
  name=${entry%%|*}; read -r -a args <<<"${entry#*|}"
  step "$name"
  if "$HELM" lint --strict "$CHART" "${args[@]}" >"$OUT/lint.txt" 2>&1; then ok "helm lint --strict"
  else cat "$OUT/lint.txt"; bad "helm lint ($name)"; fi
  if "$HELM" template storefleet "$CHART" --namespace storefleet "${args[@]}" >"$OUT/$name.yaml" 2>"$OUT/err.txt"; then
    ok "helm template ($(grep -c '^kind:' "$OUT/$name.yaml") objects)"
  else cat "$OUT/err.txt"; bad "helm template ($name)"; continue; fi
  if [[ $dry_run == cluster ]]; then
    if "$KUBECTL" apply --dry-run=client --validate=false -f "$OUT/$name.yaml" >"$OUT/dry.txt" 2>&1; then ok "kubectl apply --dry-run=client ($(wc -l <"$OUT/dry.txt") objects)"
    else cat "$OUT/dry.txt"; bad "kubectl apply --dry-run=client ($name)"; fi
  fi
  if KUBECONFIG=/dev/null "$KUBECTL" annotate --local -f "$OUT/$name.yaml" -o json verify=1 >"$OUT/$name.json" 2>"$OUT/err.txt"; then
    ok "kubectl parses every object ($(grep -c '^    "kind"' "$OUT/$name.json" || true) top-level)"
  else cat "$OUT/err.txt"; bad "kubectl parse ($name)"; fi
  input="$OUT/$name.json"; [[ $have_yaml == 1 ]] && input="$OUT/$name.yaml"
  if "$PY" "$CHART/ci/check-rendered.py" "$input"; then :; else bad "check-rendered ($name)"; fi
  if "$PY" "$CHART/ci/test-admission-policies.py" "$input" >"$OUT/vap.txt" 2>&1; then tail -1 "$OUT/vap.txt"
  else cat "$OUT/vap.txt"; bad "admission policy matrix ($name)"; fi
done

step "storefleet-store-admin covers the engine charts"
# helm runs as the store deployer, whose Role the orchestrator creates in each store
# namespace; RBAC's escalation check lets it do so only for rights it holds itself, so
# storefleet-store-admin must allow every kind an engine chart renders.
ROOT=$(cd "$CHART/.." && pwd)
engines=()
for engine in woocommerce medusa; do
  dir="$ROOT/$engine"
  if [[ ! -f $dir/Chart.yaml ]]; then echo "skip $engine: no $dir/Chart.yaml yet"; continue; fi
  engine_values=()
  for f in "$dir"/ci/*values*.yaml; do [[ -f $f ]] && engine_values+=(-f "$f") && break; done
  if "$HELM" template store "$dir" --namespace store-check "${engine_values[@]}" >"$OUT/engine-$engine.yaml" 2>"$OUT/err.txt"; then
    engines+=(--engine "$OUT/engine-$engine.yaml")
  else cat "$OUT/err.txt"; bad "helm template $engine (needed to check the store-admin role)"; fi
done
if [[ ${#engines[@]} -gt 0 ]]; then
  if [[ $have_yaml == 1 ]]; then
    "$PY" "$CHART/ci/check-rendered.py" "$OUT/default.yaml" "${engines[@]}" || bad "store-admin coverage"
  else
    for ((i = 1; i < ${#engines[@]}; i += 2)); do
      f=${engines[$i]}; KUBECONFIG=/dev/null "$KUBECTL" annotate --local -f "$f" -o json verify=1 >"${f%.yaml}.json"
      engines[$i]=${f%.yaml}.json
    done
    "$PY" "$CHART/ci/check-rendered.py" "$OUT/default.json" "${engines[@]}" || bad "store-admin coverage"
  fi
fi

step "settings the chart must refuse"
refuse() {
  local why=$1; shift
  if "$HELM" template storefleet "$CHART" -f "$CHART/values.yaml" "$@" >/dev/null 2>"$OUT/err.txt"; then
    bad "accepted: $why"
  else ok "refused: $why ($(grep -io "error.*" "$OUT/err.txt" | head -1 | cut -c1-110))"; fi
}
refuse "no database at all" --set postgresql.enabled=false
refuse "bundled and external database together" --set database.existingSecret=db
refuse "hook migrations with the bundled database" --set migrations.mode=hook
refuse "writable root filesystem" --set containerSecurityContext.readOnlyRootFilesystem=false
refuse "privilege escalation" --set containerSecurityContext.allowPrivilegeEscalation=true
refuse "a container without limits" --set api.resources.limits=null
refuse "unknown top-level key (typo)" --set orchestartor.replicas=2
refuse "a trusted proxy that is not an address or CIDR range" --set "api.trustedProxies={0.0.0.0/0 everyone}"
refuse "the removed trustForwardedFor switch (trust needs named proxies)" --set api.trustForwardedFor=true
refuse "an audit log kept for zero days" --set auditRetentionDays=0
refuse "admission policies off while the orchestrator's cluster-wide rules are on" --set admissionPolicies.enabled=false
refuse "an ingress peer that is a whole namespace (no pod labels)" --set "stores.ingressFrom[0].namespace=kube-system" --set "stores.ingressFrom[0].podLabels=null"

echo
if [[ $failed == 0 ]]; then echo "verify: all chart checks passed"; else echo "verify: FAILED"; fi
exit $failed
