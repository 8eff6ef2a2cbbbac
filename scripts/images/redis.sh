#!/usr/bin/env bash
# Builds docker.io/library/redis:7.4.11-alpine for charts/medusa: Debian bookworm
# minbase + redis-server (7.0, any Redis protocol server works for Medusa) and
# redis-tools, the redis user as uid 999 / gid 1000 (the chart's runAsUser/runAsGroup),
# WORKDIR /data, and our small entrypoint (redis-entrypoint.sh) that passes the chart's
# `--requirepass ... --maxmemory ...` args to redis-server.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin redis
IMAGE_REF=docker.io/library/redis:7.4.11-alpine
PKGS=(redis-server)

image_cached "$(sha256_str "$(common_inputs) $(hash_paths "$IMAGES_DIR/redis.sh" "$IMAGES_DIR/redis-entrypoint.sh")")" && exit 0

base_rootfs "${PKGS[@]}"
stage_rootfs "$BASE_ROOTFS"
R=$STAGE_DIR

step "redis user as uid 999 / gid 1000, /data, entrypoint"
set_passwd_user "$R" redis 999 1000 /data /usr/sbin/nologin
install -d -o 999 -g 1000 -m 0755 "$R/data"
install -m 0755 "$IMAGES_DIR/redis-entrypoint.sh" "$R/usr/local/bin/docker-entrypoint.sh"
chroot "$R" redis-server --version >>"$STEP_LOG"
chroot "$R" redis-cli --version >>"$STEP_LOG"

cat >"$R.config.json" <<'JSON'
{
  "Entrypoint": ["/usr/local/bin/docker-entrypoint.sh"],
  "Cmd": ["redis-server"],
  "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  "User": "999:1000",
  "WorkingDir": "/data",
  "ExposedPorts": {"6379/tcp": {}},
  "Labels": {"org.opencontainers.image.description": "Debian bookworm redis-server built by storefleet scripts/images/redis.sh"}
}
JSON
write_image "$R" "$R.config.json"
rm -f "$R.config.json"
