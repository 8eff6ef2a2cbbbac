#!/usr/bin/env node
// Adds lockfile entries for platform-specific optional packages (darwin, win32, musl, ...)
// that are listed in a locked package's optionalDependencies but absent from
// package-lock.json.
//
// Why: the lockfile is generated with `npm install --package-lock-only --ignore-scripts`.
// When the registry that answers is a mirror carrying only some platforms' binaries
// (as in Storefleet's build sandbox), npm silently leaves the other platforms out,
// and `npm ci` then refuses the lockfile everywhere ("Missing: @swc/core-darwin-arm64@
// from lock file"). The added entries carry version, os, cpu and libc (inferred from
// the package name, which is how these packages are named) and `optional: true`, so npm
// skips them on other platforms without fetching, and fetches them by version on the
// platform they are for. They carry no integrity hash: run `npm install
// --package-lock-only` against the public registry to get one.
//
// usage: node tools/complete-lockfile.mjs [path/to/package-lock.json]
import fs from "node:fs";

const file = process.argv[2] ?? "package-lock.json";
const lock = JSON.parse(fs.readFileSync(file, "utf8"));
const pkgs = lock.packages;

const OS = ["darwin", "linux", "win32", "freebsd", "openbsd", "netbsd", "android", "sunos", "aix", "openharmony"];
const CPU = {
  arm64: "arm64", aarch64: "arm64", x64: "x64", ia32: "ia32", arm: "arm",
  ppc64: "ppc64", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips64el: "mips64el",
};

function platformOf(name) {
  const base = name.split("/").pop();
  const parts = base.split("-");
  const os = parts.find((p) => OS.includes(p));
  const cpuPart = parts.find((p) => CPU[p]);
  if (!os || !cpuPart) return null;
  const out = { os: [os], cpu: [CPU[cpuPart]] };
  if (os === "linux") {
    if (parts.some((p) => p.startsWith("musl"))) out.libc = ["musl"];
    else if (parts.some((p) => p.startsWith("gnu"))) out.libc = ["glibc"];
  }
  return out;
}

let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  const opt = meta.optionalDependencies ?? {};
  for (const [dep, spec] of Object.entries(opt)) {
    // resolve like node would: nested first, then hoisted
    const nested = `${path ? path + "/" : ""}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (pkgs[nested] || pkgs[hoisted]) continue;
    const plat = platformOf(dep);
    if (!plat) {
      console.warn(`skip ${dep}@${spec} (needed by ${path || "root"}): platform not inferable`);
      continue;
    }
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
      console.warn(`skip ${dep}@${spec}: not an exact version`);
      continue;
    }
    pkgs[hoisted] = { version: spec, ...plat, optional: true };
    added++;
    console.log(`added ${hoisted}@${spec} ${JSON.stringify(plat)}`);
  }
}

// keep npm's key order (sorted) so diffs stay small
const root = pkgs[""];
const sorted = { "": root };
for (const k of Object.keys(pkgs).filter((k) => k !== "").sort((a, b) => a.localeCompare(b, "en"))) {
  sorted[k] = pkgs[k];
}
lock.packages = sorted;
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
console.log(`${added} entries added to ${file}`);
