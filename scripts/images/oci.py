#!/usr/bin/env python3
"""Write a container image archive from a root filesystem directory and an image config.

    oci.py --rootfs DIR --ref REF --config CONFIG.json --out IMAGE.tar [--add SRC:/DEST]...

The archive is in the docker-archive format (`docker save`): manifest.json with
RepoTags = [REF], one image config blob, and one uncompressed layer = a tar of DIR with
numeric owners, modes, symlinks and hard links preserved (plus each --add tree at its
destination). `ctr images import` and
`docker load` accept it and tag the image REF.

CONFIG.json holds the runtime part of the image config, in the image-spec spelling:
{"Entrypoint": [...], "Cmd": [...], "Env": ["K=V"], "User": "70:70", "WorkingDir": "/",
 "ExposedPorts": {"5432/tcp": {}}, "StopSignal": "SIGINT", "Labels": {...}}.

Standard library only. Entries are written in sorted order with a fixed mtime, so the
same tree gives the same layer digest. /proc, /sys and /dev contents are left out (the
runtime mounts them); sockets are skipped.
"""
import argparse
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile

MTIME = 1700000000  # fixed: reproducible layers
SKIP_CONTENTS = {"proc", "sys", "dev"}


class HashingWriter:
    """File wrapper that hashes and counts what is written through it."""

    def __init__(self, f):
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, b):
        self.sha.update(b)
        self.size += len(b)
        return self.f.write(b)

    def tell(self):
        return self.size

    def flush(self):
        self.f.flush()


def walk_sorted(root, rel="", skip_special=True):
    """Yield paths (relative, '/'-separated) below root in sorted order, parents first.
    With skip_special, the contents of top-level proc, sys and dev are left out."""
    for name in sorted(os.listdir(os.path.join(root, rel) if rel else root)):
        crel = f"{rel}/{name}" if rel else name
        yield crel
        full = os.path.join(root, crel)
        if os.path.isdir(full) and not os.path.islink(full):
            if skip_special and not rel and name in SKIP_CONTENTS:
                continue
            yield from walk_sorted(root, crel, skip_special)


def add_entry(tar, full, name, seen_inodes):
    """Add one file system object at path full to tar as name (numeric owners kept)."""
    st = os.lstat(full)
    mode = st.st_mode
    ti = tarfile.TarInfo(name)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mode = stat.S_IMODE(mode)
    ti.mtime = MTIME
    key = (st.st_dev, st.st_ino)
    if stat.S_ISREG(mode) and st.st_nlink > 1 and key in seen_inodes:
        ti.type = tarfile.LNKTYPE
        ti.linkname = seen_inodes[key]
        tar.addfile(ti)
    elif stat.S_ISREG(mode):
        if st.st_nlink > 1:
            seen_inodes[key] = name
        ti.type = tarfile.REGTYPE
        ti.size = st.st_size
        with open(full, "rb") as f:
            tar.addfile(ti, f)
    elif stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
        tar.addfile(ti)
    elif stat.S_ISLNK(mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(full)
        tar.addfile(ti)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
        tar.addfile(ti)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        # only reachable outside /dev; keep device nodes as such
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(ti)
    # sockets: skipped


def write_layer(rootfs, adds, out):
    """Write the layer tar of rootfs plus the (src, dest) trees in adds to file object
    out; return (sha256 hex, size)."""
    hw = HashingWriter(out)
    seen_inodes = {}
    with tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in walk_sorted(rootfs):
            add_entry(tar, os.path.join(rootfs, rel), rel, seen_inodes)
        for src, dest in adds:
            add_entry(tar, src, dest, seen_inodes)
            for rel in walk_sorted(src, skip_special=False):
                add_entry(tar, os.path.join(src, rel), f"{dest}/{rel}", seen_inodes)
    return hw.sha.hexdigest(), hw.size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--ref", required=True, help="image reference, e.g. docker.io/library/redis:7")
    ap.add_argument("--config", required=True, help="JSON file with Entrypoint/Cmd/Env/...")
    ap.add_argument("--out", required=True)
    ap.add_argument("--add", action="append", default=[], metavar="SRC:DEST",
                    help="also put directory SRC at DEST (absolute path in the image; "
                         "must not exist in the rootfs, its parent must); owners and "
                         "modes as on disk. Saves copying big trees into the rootfs.")
    ap.add_argument("--id-file", help="write the image id (config digest) here")
    a = ap.parse_args()

    if not os.path.isdir(a.rootfs):
        sys.exit(f"oci.py: rootfs {a.rootfs} is not a directory")
    with open(a.config) as f:
        runtime = json.load(f)
    allowed = {"Entrypoint", "Cmd", "Env", "User", "WorkingDir", "ExposedPorts",
               "StopSignal", "Labels", "Volumes"}
    unknown = set(runtime) - allowed
    if unknown:
        sys.exit(f"oci.py: unknown config keys {sorted(unknown)}")

    adds = []
    for spec in a.add:
        src, sep, dest = spec.partition(":")
        dest = dest.strip("/")
        if not sep or not dest or not os.path.isdir(src):
            sys.exit(f"oci.py: --add {spec}: want SRC_DIR:/dest/path with SRC_DIR a directory")
        if os.path.lexists(os.path.join(a.rootfs, dest)):
            sys.exit(f"oci.py: --add {spec}: /{dest} already exists in the rootfs")
        if not os.path.isdir(os.path.join(a.rootfs, os.path.dirname(dest) or ".")):
            sys.exit(f"oci.py: --add {spec}: parent of /{dest} missing in the rootfs")
        adds.append((src, dest))

    out_dir = os.path.dirname(os.path.abspath(a.out))
    with tempfile.TemporaryFile(dir=out_dir) as layer:
        diff_id, layer_size = write_layer(a.rootfs, adds, layer)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": "2023-11-14T22:13:20Z",
                         "created_by": "storefleet scripts/images/oci.py"}],
        }
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_id = hashlib.sha256(config_bytes).hexdigest()
        manifest = [{
            "Config": f"{config_id}.json",
            "RepoTags": [a.ref],
            "Layers": [f"{diff_id}/layer.tar"],
        }]
        manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()

        with tarfile.open(a.out, "w", format=tarfile.PAX_FORMAT) as outer:
            def add_bytes(name, data):
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mtime = MTIME
                ti.mode = 0o644
                outer.addfile(ti, io.BytesIO(data))

            d = tarfile.TarInfo(diff_id)
            d.type = tarfile.DIRTYPE
            d.mode = 0o755
            d.mtime = MTIME
            outer.addfile(d)
            layer.seek(0)
            ti = tarfile.TarInfo(f"{diff_id}/layer.tar")
            ti.size = layer_size
            ti.mtime = MTIME
            ti.mode = 0o644
            outer.addfile(ti, layer)
            add_bytes(f"{config_id}.json", config_bytes)
            add_bytes("manifest.json", manifest_bytes)
    if a.id_file:
        with open(a.id_file, "w") as f:
            f.write(f"sha256:{config_id}\n")
    print(f"{a.ref} config sha256:{config_id} layer sha256:{diff_id} {layer_size} bytes")


if __name__ == "__main__":
    main()
