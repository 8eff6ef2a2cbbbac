# shellcheck shell=bash
# Shared functions for scripts/build-images.sh and the per-image scripts beside this file:
# logging and "which step failed" reporting, input hashing, the cached debootstrap base
# rootfs (keyed by its package list), the finished-archive cache (keyed by a hash of each
# image's inputs) and the call into oci.py that writes an image archive.
# Sourced, not run. Needs root (debootstrap, chroot, numeric ownership in the rootfs).

IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # REPO_ROOT and BASE_ROOTFS are for the per-image scripts
REPO_ROOT=$(cd "$IMAGES_DIR/../.." && pwd)
IMAGE_CACHE=${STOREFLEET_IMAGE_CACHE:-$HOME/.cache/storefleet/images}
DEBIAN_SUITE=${STOREFLEET_DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${STOREFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${STOREFLEET_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
PYTHON=${PYTHON:-python3}
# Bump to invalidate every cached base rootfs (e.g. after changing slim_rootfs).
BASE_FORMAT=2

CURRENT_IMAGE=${CURRENT_IMAGE:-}
CURRENT_STEP=""
STEP_LOG=""
MOUNTED=()

log() { printf '[%s] %s%s\n' "$(date +%H:%M:%S)" "${CURRENT_IMAGE:+$CURRENT_IMAGE: }" "$*" >&2; }
die() { printf 'build-images: %sERROR: %s\n' "${CURRENT_IMAGE:+$CURRENT_IMAGE: }" "$*" >&2; exit 1; }

# step "what": names the step that a failure is reported against.
step() { CURRENT_STEP=$1; log "$1"; }

# run CMD...: runs CMD with its output in the image's log file (shown on failure).
run() {
  if [[ -n $STEP_LOG ]]; then "$@" >>"$STEP_LOG" 2>&1; else "$@"; fi
}

# Installed as an EXIT trap by the per-image scripts: names the failing step and shows
# the end of its log.
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    printf 'build-images: %s: FAILED (exit %s) in step: %s\n' "${CURRENT_IMAGE:-?}" "$rc" "${CURRENT_STEP:-setup}" >&2
    if [[ -n $STEP_LOG && -s $STEP_LOG ]]; then
      printf -- '--- last lines of %s ---\n' "$STEP_LOG" >&2
      tail -n 25 "$STEP_LOG" >&2
    fi
  fi
  local m
  for m in "${MOUNTED[@]}"; do umount -l "$m" 2>/dev/null || true; done
  if [[ -n ${STAGE_DIR:-} && -d $STAGE_DIR ]]; then rm -rf "$STAGE_DIR" "$STAGE_DIR.config.json"; fi
  return "$rc"
}

# image_begin NAME: common start of every per-image script.
image_begin() {
  CURRENT_IMAGE=$1
  mkdir -p "$IMAGE_CACHE/logs" "$IMAGE_CACHE/stage"
  STEP_LOG="$IMAGE_CACHE/logs/$1.log"
  : >"$STEP_LOG"
  IMAGE_START=$(date +%s)
  set -eEuo pipefail
  trap on_exit EXIT
  [[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and numeric file owners need it)"
}

sha256_str() { printf '%s' "$1" | sha256sum | cut -c1-64; }

# hash_paths PATH...: one hash over the names and contents of files (directories recursed,
# sorted), so a renamed or edited file changes it.
hash_paths() {
  local p
  for p in "$@"; do
    if [[ -d $p ]]; then
      (cd "$p" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) | sed "s|  \./|  $p/|"
    elif [[ -e $p ]]; then
      sha256sum "$p"
    else
      echo "missing $p"
    fi
  done | sha256sum | cut -c1-64
}

ensure_tool() { # ensure_tool COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian package $2 (for $1)"
  run apt-get install -y -qq "$2" || { run apt-get update -qq && run apt-get install -y -qq "$2"; }
  command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

# slim_rootfs DIR: drop what a container never uses (docs, man pages, locales except
# C.UTF-8, apt lists and caches, logs).
slim_rootfs() {
  local r=$1
  rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* \
         "$r"/usr/share/lintian "$r"/usr/share/linda "$r"/usr/share/locale/* \
         "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old \
         "$r"/var/lib/dpkg/*-old "$r"/var/log/* "$r"/tmp/* "$r"/var/tmp/* \
         "$r"/root/.cache "$r"/etc/machine-id "$r"/etc/ssh/ssh_host_*
  # keep /usr/share/doc/*/copyright-free tree but leave the dirs dpkg expects
  mkdir -p "$r/var/log/apt" "$r/var/cache/apt/archives/partial"
  chmod 1777 "$r/tmp" "$r/var/tmp"
  # a container's resolver config comes from the runtime
  : >"$r/etc/resolv.conf"
  # stop dpkg from putting docs back if someone installs a package later
  mkdir -p "$r/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' >"$r/etc/dpkg/dpkg.cfg.d/01-storefleet-slim"
}

# base_rootfs PKG...: prints the path of a Debian $DEBIAN_SUITE minbase rootfs with PKGs
# installed, built once by debootstrap and then reused (keyed by suite, mirror and the
# sorted package list). Treat it as read-only: copy it (stage_rootfs) before changing it.
base_rootfs() {
  local pkgs key dir tmp
  pkgs=$(printf '%s\n' "$@" | LC_ALL=C sort -u | paste -sd, -)
  key=$(sha256_str "format=$BASE_FORMAT suite=$DEBIAN_SUITE mirror=$DEBIAN_MIRROR variant=minbase pkgs=$pkgs" | cut -c1-16)
  dir="$IMAGE_CACHE/base/$key"
  if [[ -f $dir/.complete ]]; then
    log "base rootfs $key [${pkgs:-minbase}] cached"
    # shellcheck disable=SC2034
    BASE_ROOTFS="$dir/rootfs"
    return 0
  fi
  ensure_tool debootstrap debootstrap
  step "debootstrap $DEBIAN_SUITE minbase + [${pkgs:-nothing}] (base $key, takes a few minutes once)"
  rm -rf "$dir"
  mkdir -p "$dir" "$IMAGE_CACHE/debs"
  tmp="$dir/rootfs.tmp"
  run debootstrap --variant=minbase ${pkgs:+--include="$pkgs"} --cache-dir="$IMAGE_CACHE/debs" \
    "$DEBIAN_SUITE" "$tmp" "$DEBIAN_MIRROR"
  step "apt-get upgrade base $key from $DEBIAN_SUITE-updates and $DEBIAN_SUITE-security"
  printf 'deb %s %s main\n' "$DEBIAN_MIRROR" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SUITE-updates" \
    "$DEBIAN_SECURITY_MIRROR" "$DEBIAN_SUITE-security" >"$tmp/etc/apt/sources.list"
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"   # start no services
  chmod 0755 "$tmp/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$tmp/etc/resolv.conf"
  mount -t proc proc "$tmp/proc" && MOUNTED+=("$tmp/proc")
  run chroot "$tmp" apt-get update -qq
  run chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq \
    -o Dpkg::Options::=--force-confold upgrade
  umount "$tmp/proc"; MOUNTED=()
  rm -f "$tmp/usr/sbin/policy-rc.d"
  step "slim base rootfs $key"
  slim_rootfs "$tmp"
  mv "$tmp" "$dir/rootfs"
  printf '%s\n' "$pkgs" >"$dir/packages"
  touch "$dir/.complete"
  # shellcheck disable=SC2034
  BASE_ROOTFS="$dir/rootfs"
}

# stage_rootfs [BASE]: sets STAGE_DIR to a fresh writable copy of BASE (or an empty dir);
# it is removed when the script exits.
stage_rootfs() {
  STAGE_DIR="$IMAGE_CACHE/stage/$CURRENT_IMAGE"
  rm -rf "$STAGE_DIR"
  mkdir -p "$STAGE_DIR"
  if [[ -n ${1:-} ]]; then
    step "copy base rootfs"
    cp -a "$1/." "$STAGE_DIR/"
  fi
}

# set_passwd_user ROOTFS NAME UID GID HOME SHELL: makes NAME's passwd/group entries
# have exactly UID/GID (adding or renumbering them) and re-owns files of the old ids.
set_passwd_user() {
  local r=$1 name=$2 uid=$3 gid=$4 home=$5 shell=$6 old_uid old_gid
  old_uid=$(awk -F: -v n="$name" '$1==n{print $3}' "$r/etc/passwd")
  old_gid=$(awk -F: -v n="$name" '$1==n{print $3}' "$r/etc/group")
  # drop other entries that would clash with the wanted ids
  awk -F: -v n="$name" -v u="$uid" '!($3==u && $1!=n)' "$r/etc/passwd" >"$r/etc/passwd.new"
  awk -F: -v n="$name" -v g="$gid" '!($3==g && $1!=n)' "$r/etc/group" >"$r/etc/group.new"
  grep -v "^$name:" "$r/etc/passwd.new" >"$r/etc/passwd"; rm "$r/etc/passwd.new"
  grep -v "^$name:" "$r/etc/group.new" >"$r/etc/group"; rm "$r/etc/group.new"
  echo "$name:x:$uid:$gid:$name:$home:$shell" >>"$r/etc/passwd"
  echo "$name:x:$gid:" >>"$r/etc/group"
  if [[ -f $r/etc/shadow ]]; then
    grep -v "^$name:" "$r/etc/shadow" >"$r/etc/shadow.new" || true
    echo "$name:*:19000:0:99999:7:::" >>"$r/etc/shadow.new"
    cat "$r/etc/shadow.new" >"$r/etc/shadow"; rm "$r/etc/shadow.new"
  fi
  if [[ -f $r/etc/gshadow ]]; then
    grep -v "^$name:" "$r/etc/gshadow" >"$r/etc/gshadow.new" || true
    echo "$name:!::" >>"$r/etc/gshadow.new"
    cat "$r/etc/gshadow.new" >"$r/etc/gshadow"; rm "$r/etc/gshadow.new"
  fi
  if [[ -n $old_uid && $old_uid != "$uid" ]]; then
    find "$r" -xdev -uid "$old_uid" -exec chown -h "$uid" {} +
  fi
  if [[ -n $old_gid && $old_gid != "$gid" ]]; then
    find "$r" -xdev -gid "$old_gid" -exec chgrp -h "$gid" {} +
  fi
}

# image_cached INPUT_HASH: true when $IMAGE_CACHE/$CURRENT_IMAGE.tar was built from the
# same inputs (and reference); prints the status line then.
image_cached() {
  local hash=$1 tar="$IMAGE_CACHE/$CURRENT_IMAGE.tar"
  INPUT_HASH=$hash
  if [[ ${STOREFLEET_IMAGE_REBUILD:-} != 1 && -f $tar && -f $tar.inputs && -f $tar.id ]] &&
     [[ $(cat "$tar.inputs") == "$hash $IMAGE_REF" ]]; then
    image_report cached
    return 0
  fi
  return 1
}

# write_image ROOTFS CONFIG_JSON [--add SRC:/DEST]...: writes the archive for IMAGE_REF
# atomically and records the input hash it was built from.
write_image() {
  local rootfs=$1 config=$2 tar="$IMAGE_CACHE/$CURRENT_IMAGE.tar"
  shift 2
  step "write image archive ($IMAGE_REF)"
  rm -f "$tar.inputs"
  run "$PYTHON" "$IMAGES_DIR/oci.py" --rootfs "$rootfs" --ref "$IMAGE_REF" \
      --config "$config" --out "$tar.tmp" --id-file "$tar.id" "$@"
  mv "$tar.tmp" "$tar"
  echo "$INPUT_HASH $IMAGE_REF" >"$tar.inputs"
  image_report built
}

# image_report STATUS: the one summary line per image (parsed by build-images.sh).
image_report() {
  local tar="$IMAGE_CACHE/$CURRENT_IMAGE.tar" size secs
  size=$(stat -c %s "$tar" | awk '{printf "%.1fMiB", $1/1048576}')
  secs=$(( $(date +%s) - IMAGE_START ))
  printf 'IMAGE\t%s\t%s\t%s\t%s\t%s\t%s\n' "$CURRENT_IMAGE" "$IMAGE_REF" "$size" "${secs}s" "$1" "$tar" >>"${RESULTS_FILE:-/dev/stdout}"
}

# image_skip REASON: the image cannot be built here; reported, not an error.
image_skip() {
  printf 'IMAGE\t%s\t%s\t-\t-\tskipped: %s\t-\n' "$CURRENT_IMAGE" "${IMAGE_REF:-?}" "$1" >>"${RESULTS_FILE:-/dev/stdout}"
  log "SKIPPED: $1"
  exit 0
}

# Common inputs of every image's hash: this library and the archive writer.
common_inputs() { hash_paths "$IMAGES_DIR/lib.sh" "$IMAGES_DIR/oci.py"; }
