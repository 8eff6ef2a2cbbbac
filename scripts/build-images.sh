#!/usr/bin/env bash
# Build every image the Storefleet charts run (pod sandbox, the Medusa engine's
# PostgreSQL / Redis / store images, the WooCommerce engine's WordPress / wp-cli /
# MariaDB images, and the storefleet platform image) as image
# archives, from Debian packages and npm only (no registry pulls), and optionally load
# them into a containerd. The per-image builds are scripts/images/<name>.sh; shared code
# is scripts/images/lib.sh and the archive writer scripts/images/oci.py.
#
#   scripts/build-images.sh [--only NAME,...] [--load CONTAINERD_SOCKET]
#
# Names: pause postgres redis medusa-store wordpress wordpress-cli mariadb storefleet.
# wordpress and wordpress-cli need STOREFLEET_WOOCOMMERCE_DIR (WordPress core, the
# WooCommerce plugin, wp-cli.phar; see scripts/images/README.md) and are skipped
# without it. Archives go to
# ${STOREFLEET_IMAGE_CACHE:-$HOME/.cache/storefleet/images}/<name>.tar; an image whose
# inputs did not change is not rebuilt (STOREFLEET_IMAGE_REBUILD=1 forces it).
# --load imports each archive with `ctr --address SOCK -n k8s.io images import`.
# Other settings: STOREFLEET_BINARY (storefleet binary for the platform image, default
# target/release/storefleet), STOREFLEET_HELM (default .tools/helm, else helm on PATH),
# STOREFLEET_NODE_BINARY (node >= 20 when apt has none), STOREFLEET_DEBIAN_MIRROR,
# STOREFLEET_DEBIAN_SECURITY_MIRROR. Logs: <cache>/logs/<name>.log. Runs as root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES_DIR="$ROOT/scripts/images"
ALL=(pause postgres redis medusa-store wordpress wordpress-cli mariadb storefleet)

usage() {
  sed -n 's/^#   //p' "$0" | head -1 | sed 's/^/usage: /' >&2
  echo "images: ${ALL[*]}" >&2
  exit "${1:-2}"
}

ONLY=""
LOAD=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --only) [[ $# -ge 2 ]] || usage; ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    --load) [[ $# -ge 2 ]] || usage; LOAD=$2; shift 2 ;;
    --load=*) LOAD=${1#--load=}; shift ;;
    -h|--help) usage 0 ;;
    *) echo "build-images: unknown argument: $1" >&2; usage ;;
  esac
done

SELECTED=()
if [[ -n $ONLY ]]; then
  IFS=, read -r -a wanted <<<"$ONLY"
  for n in "${wanted[@]}"; do
    [[ -f $IMAGES_DIR/$n.sh && " ${ALL[*]} " == *" $n "* ]] || { echo "build-images: unknown image '$n' (known: ${ALL[*]})" >&2; exit 2; }
    SELECTED+=("$n")
  done
else
  SELECTED=("${ALL[@]}")
fi

[[ $(id -u) -eq 0 ]] || { echo "build-images: run as root (debootstrap, chroot, numeric file owners)" >&2; exit 1; }
if [[ -n $LOAD ]]; then
  command -v ctr >/dev/null || { echo "build-images: --load needs ctr (Debian package containerd)" >&2; exit 1; }
  [[ -S $LOAD ]] || { echo "build-images: --load: $LOAD is not a socket" >&2; exit 1; }
fi

CACHE=${STOREFLEET_IMAGE_CACHE:-$HOME/.cache/storefleet/images}
mkdir -p "$CACHE"
# One build at a time per cache (they share stage and base directories).
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  echo "build-images: another build is using $CACHE; waiting for it" >&2
  flock 9
fi
RESULTS_FILE=$(mktemp)
trap 'rm -f "$RESULTS_FILE"' EXIT
export RESULTS_FILE STOREFLEET_IMAGE_CACHE=$CACHE

# already_loaded REF TAR: the containerd has REF with the archive's image id (config
# digest), so importing again (tens of seconds for a big image) would change nothing.
already_loaded() {
  local want manifest
  want=$(cat "$2.id" 2>/dev/null) || return 1
  manifest=$(ctr --address "$LOAD" -n k8s.io images ls "name==$1" 2>/dev/null | awk 'NR==2{print $3}')
  [[ -n $want && -n $manifest ]] || return 1
  ctr --address "$LOAD" -n k8s.io content get "$manifest" 2>/dev/null | grep -q "\"$want\""
}

row() { printf '%-13s %-52s %10s %6s  %s\n' "$@"; }
row IMAGE REF SIZE TIME STATUS
for name in "${SELECTED[@]}"; do
  if ! bash "$IMAGES_DIR/$name.sh"; then
    echo "build-images: image '$name' failed (see the step named above; log: $CACHE/logs/$name.log)" >&2
    exit 1
  fi
  if [[ -n $LOAD ]] && line=$(grep -P "^IMAGE\t$name\t" "$RESULTS_FILE" | tail -1) &&
     [[ $(cut -f6 <<<"$line") != skipped* ]]; then
    tar=$(cut -f7 <<<"$line")
    ref=$(cut -f3 <<<"$line")
    if already_loaded "$ref" "$tar"; then
      loaded=", already in containerd"
    else
      t0=$(date +%s)
      if ! out=$(ctr --address "$LOAD" -n k8s.io images import "$tar" 2>&1); then
        printf '%s\n' "$out" >&2
        echo "build-images: image '$name': step 'ctr images import $tar' failed" >&2
        exit 1
      fi
      loaded=", loaded in $(( $(date +%s) - t0 ))s"
    fi
  else
    loaded=""
  fi
  IFS=$'\t' read -r _ _ ref size secs status _ < <(grep -P "^IMAGE\t$name\t" "$RESULTS_FILE" | tail -1)
  row "$name" "$ref" "$size" "$secs" "$status$loaded"
done
[[ -z $LOAD ]] || echo "loaded into $LOAD (namespace k8s.io)"
