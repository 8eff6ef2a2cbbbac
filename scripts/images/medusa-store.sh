#!/usr/bin/env bash
# Builds docker.io/storefleet/medusa-store:2.21.2 (charts/medusa's server, worker and
# setup Job) the way images/medusa/Dockerfile lays it out, without Docker: Debian
# bookworm minbase (+ CA certificates, tzdata), Node >= 20 from the apt `nodejs` package
# (bookworm's own node 18 is too old for Medusa), /app with a production
# `npm ci --omit=dev --ignore-scripts` of images/medusa's lockfile (cached by lockfile
# hash; npm's download cache is shared with the test suite), the empty
# dist/migrations dirs, a root-owned read-only tree, /app/static for uid 1000.
# Not done here: the Dockerfile's `tsc --noEmit` check stage (no effect on the image).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin medusa-store
IMAGE_REF=docker.io/storefleet/medusa-store:2.21.2
SRC="$REPO_ROOT/images/medusa"
APP_FILES=(package.json package-lock.json tsconfig.json medusa-config.ts src)
PKGS=(ca-certificates tzdata)

# Node >= 20: the apt package `nodejs` when a configured apt source offers one (downloaded
# once, cached), else this machine's installed nodejs package (/usr/bin/node, same
# files), else STOREFLEET_NODE_BINARY. Its libraries (libc, libstdc++, libgcc_s) are
# in minbase.
step "find node >= 20 (apt package nodejs)"
node_major() { local v=${1#v}; v=${v#*:}; echo "${v%%.*}"; }
NODE_BIN=${STOREFLEET_NODE_BINARY:-}
if [[ -z $NODE_BIN ]]; then
  apt_ver=$(apt-cache madison nodejs 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
            while read -r v; do if [[ $(node_major "$v") -ge 20 ]] 2>/dev/null; then echo "$v"; fi; done | head -1 || true)
  if [[ -n $apt_ver ]]; then
    DEB_DIR="$IMAGE_CACHE/debs-extra/nodejs-$apt_ver"
    if [[ ! -x $DEB_DIR/usr/bin/node ]]; then
      step "apt-get download nodejs=$apt_ver"
      rm -rf "$DEB_DIR" && mkdir -p "$DEB_DIR.dl"
      (cd "$DEB_DIR.dl" && run apt-get download "nodejs=$apt_ver")
      dpkg -x "$DEB_DIR".dl/nodejs_*.deb "$DEB_DIR"
      rm -rf "$DEB_DIR.dl"
    fi
    NODE_BIN="$DEB_DIR/usr/bin/node"
  elif [[ -x /usr/bin/node ]] && dpkg -S /usr/bin/node >/dev/null 2>&1; then
    log "no apt source offers nodejs >= 20 (apt-get update?); using the installed package's /usr/bin/node ($(dpkg-query -W -f='${Package} ${Version}' nodejs 2>/dev/null))"
    NODE_BIN=/usr/bin/node
  fi
fi
[[ -n $NODE_BIN && -x $NODE_BIN ]] ||
  die "no Node >= 20: no apt source offers nodejs >= 20 and none is installed (set STOREFLEET_NODE_BINARY)"
NODE_VERSION=$("$NODE_BIN" --version) || die "$NODE_BIN --version failed"
[[ $(node_major "$NODE_VERSION") -ge 20 ]] || die "$NODE_BIN is $NODE_VERSION; Medusa 2 needs Node >= 20"
NODE_SHA=$(sha256sum "$NODE_BIN" | cut -c1-64)
log "node $NODE_VERSION from $NODE_BIN"

inputs=$(cd "$SRC" && hash_paths "${APP_FILES[@]}")
image_cached "$(sha256_str "$(common_inputs) $(hash_paths "$IMAGES_DIR/medusa-store.sh") $inputs node=$NODE_VERSION:$NODE_SHA")" && exit 0

# --- node_modules: production install, cached by lockfile + node version -------------
# Prepared once as it goes into the image (root-owned, not writable by others, no source
# maps) and written into the layer from here by oci.py --add: copying ~90,000 files into
# the staging rootfs and deleting them again took ~60 s per build on this disk.
NM_KEY=$(sha256_str "$(cd "$SRC" && hash_paths package.json package-lock.json) node=$NODE_VERSION omit=dev ignore-scripts migrations-dirs prune-maps root-owned" | cut -c1-16)
NM_DIR="$IMAGE_CACHE/medusa-store/npm-$NM_KEY"
if [[ -f $NM_DIR/.complete ]]; then
  log "node_modules $NM_KEY cached"
else
  step "npm ci --omit=dev --ignore-scripts (node_modules $NM_KEY; a few minutes once)"
  command -v npm >/dev/null || die "npm is needed on the build machine (apt package nodejs)"
  rm -rf "$IMAGE_CACHE"/medusa-store/npm-*
  mkdir -p "$NM_DIR"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$NM_DIR/"
  (cd "$NM_DIR" && NODE_ENV=production npm_config_update_notifier=false npm_config_fund=false \
     npm_config_audit=false run npm ci --omit=dev --ignore-scripts --no-progress)
  step "create dist/migrations in @medusajs modules (the runtime tree is read-only)"
  find "$NM_DIR/node_modules/@medusajs" -mindepth 2 -maxdepth 2 -name dist -type d \
    -exec mkdir -p '{}/migrations' ';'
  step "prune and re-own node_modules for the image"
  # Source maps (~100 MB) and markdown are never read at run time (node runs without
  # --enable-source-maps); .d.ts files stay (ts-node).
  find "$NM_DIR/node_modules" -type f \( -name '*.js.map' -o -name '*.mjs.map' -o -name '*.cjs.map' \
    -o -name '*.ts.map' -o -name '*.css.map' -o -iname '*.md' \) -delete
  chown -R 0:0 "$NM_DIR/node_modules"
  chmod -R go-w,a+rX "$NM_DIR/node_modules"
  [[ -x $NM_DIR/node_modules/.bin/medusa ]] || die "node_modules/.bin/medusa missing after npm ci"
  # charts/medusa/files/wait-for.js requires pg from /app
  [[ -f $NM_DIR/node_modules/pg/package.json ]] || die "node_modules/pg missing after npm ci"
  touch "$NM_DIR/.complete"
fi

base_rootfs "${PKGS[@]}"
stage_rootfs "$BASE_ROOTFS"
R=$STAGE_DIR

step "install node $NODE_VERSION"
install -m 0755 "$NODE_BIN" "$R/usr/bin/node"
node_v=$(chroot "$R" /usr/bin/node --version)
log "node in the image: $node_v"

step "app tree /app (root-owned) and the node user (uid 1000)"
set_passwd_user "$R" node 1000 1000 /home/node /bin/sh
install -d -o 1000 -g 1000 -m 0755 "$R/home/node"
install -d -m 0755 "$R/app"
(cd "$SRC" && cp -r --no-preserve=ownership "${APP_FILES[@]}" "$R/app/")
chown -R 0:0 "$R/app"
chmod -R go-w,a+rX "$R/app"
install -d -o 1000 -g 1000 -m 0755 "$R/app/static"

cat >"$R.config.json" <<'JSON'
{
  "Entrypoint": ["/app/node_modules/.bin/medusa"],
  "Cmd": ["start", "--host", "0.0.0.0", "--port", "9000"],
  "Env": [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "NODE_ENV=production",
    "MEDUSA_DISABLE_TELEMETRY=true",
    "PORT=9000",
    "HOME=/tmp",
    "NODE_OPTIONS=--max-old-space-size=384"
  ],
  "User": "1000:1000",
  "WorkingDir": "/app",
  "ExposedPorts": {"9000/tcp": {}},
  "Labels": {"org.opencontainers.image.description": "Storefleet Medusa v2 store (images/medusa) built by scripts/images/medusa-store.sh"}
}
JSON
write_image "$R" "$R.config.json" --add "$NM_DIR/node_modules:/app/node_modules"
rm -f "$R.config.json"
