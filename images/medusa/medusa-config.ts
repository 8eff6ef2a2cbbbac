import { defineConfig, loadEnv } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "development", process.cwd())

/**
 * Storefleet's Medusa store. Everything comes from the environment so one image serves
 * every store: the Helm chart sets the variables from the store's Secret; the native
 * test harness sets them from its own PostgreSQL.
 *
 *   DATABASE_URL                      or DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD
 *   REDIS_URL                         or REDIS_HOST, REDIS_PORT, REDIS_PASSWORD
 *                                     (none = in-memory event bus, cache, locking and
 *                                     workflow engine: fine for one process and tests)
 *   JWT_SECRET, COOKIE_SECRET         required when NODE_ENV=production
 *   STORE_CORS, ADMIN_CORS, AUTH_CORS comma-separated origins
 *   MEDUSA_WORKER_MODE                shared | server | worker
 */

function databaseUrl(): string | undefined {
  if (process.env.DATABASE_URL) {
    return process.env.DATABASE_URL
  }
  const host = process.env.DB_HOST
  if (!host) {
    return undefined
  }
  // Build the URL here so passwords with URL-special characters need no escaping upstream.
  const user = encodeURIComponent(process.env.DB_USER ?? "medusa")
  const password = encodeURIComponent(process.env.DB_PASSWORD ?? "")
  const port = process.env.DB_PORT ?? "5432"
  const name = encodeURIComponent(process.env.DB_NAME ?? "medusa")
  return `postgres://${user}:${password}@${host}:${port}/${name}`
}

function redisUrl(): string | undefined {
  if (process.env.REDIS_URL) {
    return process.env.REDIS_URL
  }
  const host = process.env.REDIS_HOST
  if (!host) {
    return undefined
  }
  const auth = process.env.REDIS_PASSWORD
    ? `:${encodeURIComponent(process.env.REDIS_PASSWORD)}@`
    : ""
  return `redis://${auth}${host}:${process.env.REDIS_PORT ?? "6379"}`
}

function secret(name: string): string {
  const value = process.env[name]
  if (value) {
    return value
  }
  if (process.env.NODE_ENV === "production") {
    throw new Error(`${name} must be set in production`)
  }
  return "storefleet-dev-only-secret"
}

const redis = redisUrl()
const workerMode = (process.env.MEDUSA_WORKER_MODE ?? "shared") as
  | "shared"
  | "server"
  | "worker"

const redisModules = redis
  ? [
      { resolve: "@medusajs/medusa/cache-redis", options: { redisUrl: redis } },
      { resolve: "@medusajs/medusa/event-bus-redis", options: { redisUrl: redis } },
      {
        resolve: "@medusajs/medusa/workflow-engine-redis",
        options: { redis: { redisUrl: redis } },
      },
      {
        resolve: "@medusajs/medusa/locking",
        options: {
          providers: [
            {
              resolve: "@medusajs/medusa/locking-redis",
              id: "locking-redis",
              is_default: true,
              options: { redisUrl: redis },
            },
          ],
        },
      },
    ]
  : []

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: databaseUrl(),
    // PostgreSQL inside the store's namespace speaks plain TCP; DB_SSL=true for a
    // managed database that requires TLS. Said explicitly either way: left unset, Medusa
    // turns TLS on for every host but localhost, and a plain server then refuses each
    // connection (seen on a real node: `medusa db:migrate` timed out acquiring one).
    databaseDriverOptions: {
      connection: {
        ssl: process.env.DB_SSL === "true" ? { rejectUnauthorized: false } : false,
      },
    },
    redisUrl: redis,
    workerMode,
    http: {
      storeCors: process.env.STORE_CORS ?? "http://localhost:8000",
      adminCors: process.env.ADMIN_CORS ?? "http://localhost:9000",
      authCors: process.env.AUTH_CORS ?? "http://localhost:9000",
      jwtSecret: secret("JWT_SECRET"),
      cookieSecret: secret("COOKIE_SECRET"),
    },
  },
  // Storefleet stores are headless: no admin dashboard bundle (saves build time,
  // image size and memory). The admin API under /admin stays available.
  admin: {
    disable: true,
  },
  modules: redisModules,
})
