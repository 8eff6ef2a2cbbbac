#!/usr/bin/env bash
# Builds ghcr.io/storefleet/storefleet:<appVersion of charts/storefleet/Chart.yaml>, the
# platform image charts/storefleet runs (api, orchestrator, migrate Job), laid out like
# images/storefleet/Dockerfile: /usr/local/bin/storefleet, /usr/local/bin/helm, the
# engine charts at /opt/storefleet/charts, the same ENV, uid/gid 65532 (nonroot). The
# runtime is a Debian bookworm minbase with CA certificates and tzdata instead of
# distroless/cc. It does not run cargo: the binary comes from STOREFLEET_BINARY or
# target/release/storefleet, helm from STOREFLEET_HELM, .tools/helm or PATH; when one
# is missing the image is skipped with a message saying which.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin storefleet
APP_VERSION=$(sed -n 's/^appVersion:[[:space:]]*["'\'']\{0,1\}\([^"'\'' ]*\).*/\1/p' "$REPO_ROOT/charts/storefleet/Chart.yaml")
[[ -n $APP_VERSION ]] || die "no appVersion in charts/storefleet/Chart.yaml"
IMAGE_REF=ghcr.io/storefleet/storefleet:$APP_VERSION
PKGS=(ca-certificates tzdata)
CHARTS=(woocommerce medusa)

step "find the storefleet binary and helm"
BIN=${STOREFLEET_BINARY:-$REPO_ROOT/target/release/storefleet}
if [[ ! -x $BIN ]]; then
  if [[ -n ${STOREFLEET_BINARY:-} ]]; then
    image_skip "STOREFLEET_BINARY=$STOREFLEET_BINARY is not an executable file"
  fi
  image_skip "no storefleet binary: target/release/storefleet does not exist and STOREFLEET_BINARY is not set (build it with: cargo build --release --locked -p storefleet)"
fi
HELM=${STOREFLEET_HELM:-}
if [[ -z $HELM ]]; then
  if [[ -x $REPO_ROOT/.tools/helm ]]; then HELM=$REPO_ROOT/.tools/helm
  else HELM=$(command -v helm || true); fi
fi
[[ -n $HELM && -x $HELM ]] ||
  image_skip "no helm: neither .tools/helm nor helm on PATH (scripts/install-test-tools.sh installs it)"
HELM=$(readlink -f "$HELM")
helm_version=$("$HELM" version --short 2>/dev/null) || die "$HELM version failed"
log "binary $BIN, helm $helm_version ($HELM)"

inputs="$(hash_paths "$IMAGES_DIR/storefleet.sh" "$BIN" "$HELM") $(cd "$REPO_ROOT" && hash_paths "${CHARTS[@]/#/charts/}")"
image_cached "$(sha256_str "$(common_inputs) $inputs")" && exit 0

base_rootfs "${PKGS[@]}"
stage_rootfs "$BASE_ROOTFS"
R=$STAGE_DIR

step "install storefleet and helm, check their libraries"
install -D -m 0755 "$BIN" "$R/usr/local/bin/storefleet"
install -D -m 0755 "$HELM" "$R/usr/local/bin/helm"
for b in /usr/local/bin/storefleet /usr/local/bin/helm; do
  missing=$(chroot "$R" ldd "$b" 2>&1 | grep 'not found' || true)
  [[ -z $missing ]] || die "$b needs libraries the image lacks (add their Debian packages to PKGS): $missing"
done
chroot "$R" /usr/local/bin/helm version --short >>"$STEP_LOG"

step "engine charts at /opt/storefleet/charts, nonroot user 65532"
install -d -m 0755 "$R/opt/storefleet/charts"
for c in "${CHARTS[@]}"; do
  cp -r --no-preserve=ownership "$REPO_ROOT/charts/$c" "$R/opt/storefleet/charts/$c"
done
chown -R 0:0 "$R/opt/storefleet"
chmod -R go-w,a+rX "$R/opt/storefleet"
set_passwd_user "$R" nonroot 65532 65532 /home/nonroot /usr/sbin/nologin
install -d -o 65532 -g 65532 -m 0700 "$R/home/nonroot"

cat >"$R.config.json" <<'JSON'
{
  "Entrypoint": ["/usr/local/bin/storefleet"],
  "Cmd": ["serve"],
  "Env": [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    "HOME=/tmp",
    "HELM_CACHE_HOME=/tmp/helm/cache",
    "HELM_CONFIG_HOME=/tmp/helm/config",
    "HELM_DATA_HOME=/tmp/helm/data",
    "STOREFLEET_CHARTS_DIR=/opt/storefleet/charts",
    "STOREFLEET_HELM=/usr/local/bin/helm",
    "STOREFLEET_LISTEN=0.0.0.0:8080"
  ],
  "User": "65532:65532",
  "WorkingDir": "/",
  "ExposedPorts": {"8080/tcp": {}},
  "Labels": {
    "org.opencontainers.image.title": "storefleet",
    "org.opencontainers.image.description": "Storefleet: isolated e-commerce stores on Kubernetes",
    "org.opencontainers.image.licenses": "Apache-2.0"
  }
}
JSON
write_image "$R" "$R.config.json"
rm -f "$R.config.json"
