# Storefleet: one command to a local platform.
#
#   just up      k3d cluster + images + chart (values-local) + first admin token
#   just smoke   create a Medusa store, wait for ready, place an order, delete it
#   just reset   back to a clean platform (no stores, fresh database) in < 2 minutes
#   just down    delete the cluster
#
# Every kubectl/helm call names the k3d context explicitly, so a recipe can never act
# on whatever cluster your shell happens to point at.

set shell := ["bash", "-euo", "pipefail", "-c"]

cluster     := env_var_or_default("STOREFLEET_CLUSTER", "storefleet")
namespace   := "storefleet"
release     := "storefleet"
chart       := "charts/storefleet"
context     := "k3d-" + cluster
# k3s >= 1.30: ValidatingAdmissionPolicy is GA there. Ships Traefik and NetworkPolicy
# enforcement.
k3s_image   := env_var_or_default("K3S_IMAGE", "rancher/k3s:v1.31.5-k3s1")
dashboard   := "http://storefleet.127.0.0.1.nip.io"
token_file  := env_var_or_default("STOREFLEET_TOKEN_FILE", env_var("HOME") + "/.config/storefleet/token")
medusa_dir  := "images/medusa"
# The CLI for `smoke`: an installed binary (STOREFLEET_CLI=storefleet) or the workspace.
cli         := env_var_or_default("STOREFLEET_CLI", "cargo run -q --release -p storefleet --")
kc          := "kubectl --context " + context
hc          := "helm --kube-context " + context
values      := "-f " + chart + "/values.yaml -f " + chart + "/values-local.yaml"

# List the recipes.
default:
    @just --list --unsorted

# Cluster, images, platform and a first admin token: everything to reach the dashboard.
up: prereqs cluster images install admin
    @echo
    @echo "Storefleet is up."
    @echo "  dashboard:   {{dashboard}}"
    @echo "  admin token: $(cat '{{token_file}}' 2>/dev/null || echo '(none, see above)')"
    @echo "  try:         just smoke"

# Check that docker, k3d, kubectl and helm are installed and usable.
prereqs:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=0
    need() {
      if ! command -v "$1" >/dev/null 2>&1; then
        printf 'missing prerequisite: %-8s %s\n' "$1" "$2" >&2; missing=1
      fi
    }
    need docker  "container engine, to build the images and run k3d (https://docs.docker.com/get-docker/)"
    need k3d     "k3s in docker, v5+ (https://k3d.io)"
    need kubectl "Kubernetes CLI (https://kubernetes.io/docs/tasks/tools/)"
    need helm    "Helm v3.8+ (https://helm.sh/docs/intro/install/)"
    [[ $missing == 0 ]] || { echo "install the missing tools above, then run: just up" >&2; exit 1; }
    if ! docker info >/dev/null 2>&1; then
      echo "docker is installed but its daemon does not answer: start Docker (or Colima/Rancher Desktop) and retry" >&2
      exit 1
    fi
    helm_major=$(helm version --template '{{{{.Version}}' | sed -E 's/^v([0-9]+).*/\1/')
    if (( helm_major < 3 )); then echo "helm $(helm version --short) is too old: need v3.8+" >&2; exit 1; fi
    echo "prerequisites ok: $(docker --version | cut -d, -f1), k3d $(k3d version | sed -n 's/^k3d version //p'), kubectl $(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1), helm $(helm version --short)"

# Create the k3d cluster (ports 80/443 on localhost) unless it exists.
cluster:
    #!/usr/bin/env bash
    set -euo pipefail
    if k3d cluster get {{cluster}} >/dev/null 2>&1; then
      echo "k3d cluster {{cluster}} exists"
      k3d cluster start {{cluster}} >/dev/null 2>&1 || true
    else
      k3d cluster create {{cluster}} --image {{k3s_image}} --agents 0 \
        -p "80:80@loadbalancer" -p "443:443@loadbalancer" \
        --kubeconfig-update-default --kubeconfig-switch-context=false --wait --timeout 180s
    fi
    # k3s installs Traefik through a Job after the API is up: wait for it.
    echo "waiting for the Traefik ingress controller..."
    for _ in $(seq 1 90); do
      {{kc}} -n kube-system get deploy/traefik >/dev/null 2>&1 && break; sleep 2
    done
    {{kc}} -n kube-system rollout status deploy/traefik --timeout=180s

# Build storefleet:dev and storefleet-medusa:dev and import them into the cluster.
images:
    #!/usr/bin/env bash
    set -euo pipefail
    export DOCKER_BUILDKIT=1
    docker build -t storefleet:dev -f images/storefleet/Dockerfile .
    if [[ ! -f {{medusa_dir}}/Dockerfile ]]; then
      echo "no {{medusa_dir}}/Dockerfile: cannot build storefleet-medusa:dev" >&2; exit 1
    fi
    # The medusa chart's pods use the image its values name: tag the build with that
    # reference too, so stores start from this build without pulling.
    chart_image=$(helm template store charts/medusa --show-only templates/medusa.yaml \
      | sed -n 's/^ *image: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
    docker build -t storefleet-medusa:dev ${chart_image:+-t "$chart_image"} {{medusa_dir}}
    k3d image import -c {{cluster}} storefleet:dev storefleet-medusa:dev ${chart_image:+"$chart_image"}

# helm upgrade --install the platform with values-local and wait for the rollout.
install:
    #!/usr/bin/env bash
    set -euo pipefail
    # The platform namespace enforces the `restricted` Pod Security Standard: every pod
    # the chart renders must pass it.
    {{kc}} create namespace {{namespace}} --dry-run=client -o yaml | {{kc}} apply -f - >/dev/null
    {{kc}} label namespace {{namespace}} --overwrite \
      pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null
    existed=0; {{hc}} -n {{namespace}} status {{release}} >/dev/null 2>&1 && existed=1
    {{hc}} upgrade --install {{release}} {{chart}} -n {{namespace}} {{values}} --wait --timeout 5m
    if [[ $existed == 1 ]]; then
      # Same :dev tag, new image content: restart so the pods pick up the import.
      {{kc}} -n {{namespace}} rollout restart deploy/{{release}}-api deploy/{{release}}-orchestrator
    fi
    {{kc}} -n {{namespace}} rollout status deploy/{{release}}-api --timeout=180s
    {{kc}} -n {{namespace}} rollout status deploy/{{release}}-orchestrator --timeout=180s

# Create the first admin user and print its token (saved to the token file).
admin name="admin":
    #!/usr/bin/env bash
    set -euo pipefail
    err=$(mktemp); trap 'rm -f "$err"' EXIT
    # The token is the last line of stdout; logs may go to stderr.
    if out=$({{kc}} -n {{namespace}} exec deploy/{{release}}-api -c api -- storefleet user add {{name}} --admin 2>"$err"); then
      token=$(printf '%s\n' "$out" | tail -n 1)
      mkdir -p "$(dirname '{{token_file}}')"
      (umask 077; printf '%s\n' "$token" > '{{token_file}}')
      echo "dashboard:   {{dashboard}}"
      echo "admin token: $token"
      echo "(saved to {{token_file}})"
      # A CLI profile for this platform, so `storefleet store …` needs no flags.
      printf '%s\n' "$token" | {{cli}} login --api-url {{dashboard}} --profile {{context}} \
        || echo "(no CLI profile saved: run storefleet login --api-url {{dashboard}} yourself)"
    elif [[ -s '{{token_file}}' ]]; then
      echo "user {{name}} was not created ($(tail -n 1 "$err")); keeping the token in {{token_file}}"
    else
      cat "$err" >&2
      echo "could not create user {{name}}; try another name: just admin NAME" >&2; exit 1
    fi

# Create a Medusa store, wait until it is ready, place an order, then delete it.
smoke name="smoke1":
    #!/usr/bin/env bash
    set -euo pipefail
    [[ -s '{{token_file}}' ]] || { echo "no token in {{token_file}}: run just up (or just admin NAME) first" >&2; exit 1; }
    export STOREFLEET_API_URL={{dashboard}}
    STOREFLEET_TOKEN=$(cat '{{token_file}}'); export STOREFLEET_TOKEN
    sf() { {{cli}} "$@"; }
    start=$(date +%s); log=$(mktemp)
    store_id() { sed -n 's/^id: *//p' "$log" | head -n 1; }
    cleanup() {
      local id; id=$(store_id)
      if [[ -n $id ]]; then echo "deleting store {{name}} ($id)"; sf store delete "$id" || true; fi
      rm -f "$log"
    }
    trap cleanup EXIT
    # Ready means the orchestrator's own test order went through (OrderCheckPassed).
    sf store create {{name}} --engine medusa --wait | tee "$log"
    id=$(store_id)
    echo "store {{name}} ($id) ready after $(( $(date +%s) - start ))s"
    sf store get "$id" | grep -E 'OrderCheckPassed +True' \
      || { echo "store is ready but OrderCheckPassed is not True" >&2; exit 1; }
    # A second order from outside the cluster, through the store's public URL, as a customer would.
    ns=$(sf store get "$id" -o json | sed -n 's/.*"namespace": *"\([^"]*\)".*/\1/p')
    url=$(sf store get "$id" -o json | sed -n 's/.*"storefront_url": *"\([^"]*\)".*/\1/p')
    key=$(kubectl --context {{context}} -n "$ns" get secret store-engine-outputs -o jsonpath='{.data.publishable-key}' | base64 -d)
    sf order-check --engine medusa --url "${url%/}" --publishable-key "$key"
    trap - EXIT
    sf store delete "$id"
    for _ in $(seq 1 90); do
      phase=$(sf store get "$id" 2>/dev/null | sed -n 's/^phase: *//p' || true)
      [[ -z $phase || $phase == deleted ]] && break
      sleep 2
    done
    rm -f "$log"
    [[ -z $phase || $phase == deleted ]] || { echo "store {{name}} still '$phase' after 3 minutes" >&2; exit 1; }
    echo "smoke passed in $(( $(date +%s) - start ))s: created, ordered, deleted"

# Back to a clean platform: uninstall, remove every store namespace and the database, reinstall.
reset:
    #!/usr/bin/env bash
    set -euo pipefail
    start=$(date +%s)
    {{hc}} -n {{namespace}} uninstall {{release}} --wait --timeout 2m 2>/dev/null || true
    # Stores first (their deletion runs while the platform reinstalls), then the
    # platform's kept state: the database volume, its password and the platform key.
    {{kc}} delete namespace -l app.kubernetes.io/managed-by=storefleet --wait=false
    {{kc}} -n {{namespace}} delete pvc -l app.kubernetes.io/instance={{release}},app.kubernetes.io/component=postgresql --wait=false
    {{kc}} -n {{namespace}} delete secret -l app.kubernetes.io/instance={{release}},app.kubernetes.io/part-of=storefleet
    {{kc}} -n {{namespace}} wait --for=delete pvc -l app.kubernetes.io/instance={{release}} --timeout=90s 2>/dev/null || true
    {{just_executable()}} --justfile '{{justfile()}}' install admin
    echo "waiting for store namespaces to disappear..."
    {{kc}} wait --for=delete namespace -l app.kubernetes.io/managed-by=storefleet --timeout=120s 2>/dev/null || true
    echo "reset done in $(( $(date +%s) - start ))s"

# Delete the k3d cluster and the saved token.
down:
    k3d cluster delete {{cluster}}
    rm -f '{{token_file}}'

# Pods of the platform and the stores.
status:
    {{kc}} -n {{namespace}} get pods,svc,ingress
    {{kc}} get namespaces -l app.kubernetes.io/managed-by=storefleet

# Lint, render and check the platform chart (no cluster needed).
chart-check:
    charts/storefleet/ci/verify.sh
