#!/usr/bin/env bash
# Builds registry.k8s.io/pause:3.10, the pod sandbox image: pause.c compiled with gcc
# -static, alone in the image, run as 65535:65535 like the upstream one.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
image_begin pause
IMAGE_REF=registry.k8s.io/pause:3.10

ensure_tool gcc gcc
image_cached "$(sha256_str "$(common_inputs) $(hash_paths "$IMAGES_DIR/pause.sh" "$IMAGES_DIR/pause.c") $(gcc --version | head -1)")" && exit 0

stage_rootfs ""
step "compile pause.c (gcc -static)"
run gcc -Os -static -Wall -Werror -o "$STAGE_DIR/pause" "$IMAGES_DIR/pause.c"
run strip "$STAGE_DIR/pause"
chmod 0755 "$STAGE_DIR/pause"
step "check the binary is static"
ldd_out=$(LC_ALL=C ldd "$STAGE_DIR/pause" 2>&1 || true)
[[ $ldd_out == *"not a dynamic executable"* ]] || die "pause is not static: $ldd_out"

cat >"$STAGE_DIR.config.json" <<'JSON'
{"Entrypoint": ["/pause"], "User": "65535:65535", "WorkingDir": "/"}
JSON
write_image "$STAGE_DIR" "$STAGE_DIR.config.json"
rm -f "$STAGE_DIR.config.json"
