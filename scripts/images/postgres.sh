#!/usr/bin/env bash
# Builds docker.io/library/postgres:15.19-alpine for charts/medusa: Debian bookworm
# minbase + postgresql-15, the postgres user renumbered to uid/gid 70, our own
# entrypoint (postgres-entrypoint.sh: the official image's env contract), JIT/LLVM,
# docs and locales dropped. The reference is the chart's default; the content is
# Debian's PostgreSQL 15, not Alpine's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin postgres
IMAGE_REF=docker.io/library/postgres:15.19-alpine
PKGS=(postgresql-15)

image_cached "$(sha256_str "$(common_inputs) $(hash_paths "$IMAGES_DIR/postgres.sh" "$IMAGES_DIR/postgres-entrypoint.sh")")" && exit 0

base_rootfs "${PKGS[@]}"
stage_rootfs "$BASE_ROOTFS"
R=$STAGE_DIR

step "postgres user as uid/gid 70, no Debian cluster"
set_passwd_user "$R" postgres 70 70 /var/lib/postgresql /bin/sh
rm -rf "$R"/etc/postgresql/15/main "$R"/var/lib/postgresql/15 "$R"/usr/share/i18n
# the Debian package's cluster config is not used: initdb writes PGDATA/postgresql.conf
# from the sample, so the sample carries the image's defaults.
sed -i "s/^#\?listen_addresses = .*/listen_addresses = '*'/" "$R/usr/share/postgresql/15/postgresql.conf.sample"
grep -q "^listen_addresses = '\*'" "$R/usr/share/postgresql/15/postgresql.conf.sample"

step "drop the LLVM JIT (about 130 MB; postgres runs without it)"
rm -rf "$R"/usr/lib/postgresql/15/lib/llvmjit* "$R"/usr/lib/postgresql/15/lib/bitcode \
       "$R"/usr/lib/x86_64-linux-gnu/libLLVM-14.so* "$R"/usr/lib/x86_64-linux-gnu/libz3.so*
if out=$(chroot "$R" sh -c 'ldd /usr/lib/postgresql/15/bin/* /usr/lib/postgresql/15/lib/*.so 2>/dev/null | grep "not found"'); then
  die "libraries missing after dropping the JIT: $out"
fi

step "directories and entrypoint"
install -d -o 70 -g 70 -m 1777 "$R/var/lib/postgresql/data"
install -d -o 70 -g 70 -m 3775 "$R/run/postgresql"
install -d -m 0755 "$R/docker-entrypoint-initdb.d"
install -m 0755 "$IMAGES_DIR/postgres-entrypoint.sh" "$R/usr/local/bin/docker-entrypoint.sh"
chroot "$R" /usr/lib/postgresql/15/bin/postgres --version >>"$STEP_LOG"

cat >"$R.config.json" <<'JSON'
{
  "Entrypoint": ["/usr/local/bin/docker-entrypoint.sh"],
  "Cmd": ["postgres"],
  "Env": [
    "PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PG_MAJOR=15",
    "PGDATA=/var/lib/postgresql/data",
    "LANG=C.UTF-8"
  ],
  "User": "70:70",
  "WorkingDir": "/",
  "ExposedPorts": {"5432/tcp": {}},
  "StopSignal": "SIGINT",
  "Labels": {"org.opencontainers.image.description": "Debian bookworm postgresql-15 built by storefleet scripts/images/postgres.sh"}
}
JSON
write_image "$R" "$R.config.json"
rm -f "$R.config.json"
