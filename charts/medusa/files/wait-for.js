// Small waits for the Medusa chart, run with the store image's node and its own
// node_modules (no extra image):
//   node wait-for.js tcp HOST:PORT [HOST:PORT ...]   until each accepts a connection
//   node wait-for.js migrated IMAGE                  until a setup Job marked IMAGE migrated
//   node wait-for.js mark IMAGE                      record that IMAGE's migrations ran
// IMAGE is the store image reference: the schema depends on the Medusa version in the
// image, so server and worker pods wait for migrations of exactly their image (and do
// not restart on `helm upgrade`s that change nothing else).
// Database settings come from DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD; the
// deadline from WAIT_TIMEOUT_SECONDS (default 900).
"use strict";
const net = require("node:net");
const { Client } = require(require.resolve("pg", { paths: ["/app", process.cwd()] }));

const deadline = Date.now() + Number(process.env.WAIT_TIMEOUT_SECONDS || 900) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => console.log(`${new Date().toISOString().slice(11, 19)} [wait-for] ${msg}`);

function tcpOnce(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 3000 });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.on("connect", () => done(true));
    s.on("timeout", () => done(false));
    s.on("error", () => done(false));
  });
}

function client() {
  return new Client({
    host: process.env.DB_HOST,
    port: Number(process.env.DB_PORT || 5432),
    database: process.env.DB_NAME || "medusa",
    user: process.env.DB_USER || "medusa",
    password: process.env.DB_PASSWORD || "",
    connectionTimeoutMillis: 5000,
  });
}

async function until(what, check) {
  let last = "";
  for (;;) {
    try {
      if (await check()) { log(`${what}: ok`); return; }
      last = "not yet";
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${last})`);
    await sleep(2000);
  }
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === "tcp") {
    for (const hp of args) {
      const i = hp.lastIndexOf(":");
      const host = hp.slice(0, i), port = Number(hp.slice(i + 1));
      await until(`tcp ${hp}`, () => tcpOnce(host, port));
    }
  } else if (cmd === "migrated" || cmd === "mark") {
    const image = args[0];
    if (!image) throw new Error(`${cmd}: image reference missing`);
    if (cmd === "mark") {
      const c = client();
      await c.connect();
      try {
        await c.query(`CREATE TABLE IF NOT EXISTS storefleet_setup (
          image text PRIMARY KEY, migrated_at timestamptz NOT NULL DEFAULT now())`);
        await c.query(`INSERT INTO storefleet_setup (image) VALUES ($1)
          ON CONFLICT (image) DO UPDATE SET migrated_at = now()`, [image]);
      } finally {
        await c.end();
      }
      log(`marked ${image} as migrated`);
    } else {
      await until(`migrations for ${image}`, async () => {
        const c = client();
        await c.connect();
        try {
          const r = await c.query(`SELECT 1 FROM storefleet_setup WHERE image = $1`, [image]);
          return r.rowCount > 0;
        } catch (e) {
          if (e.code === "42P01") return false; // table not there yet
          throw e;
        } finally {
          await c.end().catch(() => {});
        }
      });
    }
  } else {
    throw new Error("usage: wait-for.js tcp HOST:PORT... | migrated IMAGE | mark IMAGE");
  }
}

main().then(() => process.exit(0), (e) => { console.error(`[wait-for] ${e.message}`); process.exit(1); });
