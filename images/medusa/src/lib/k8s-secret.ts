import fs from "node:fs"
import https from "node:https"

/**
 * Writes keys into one Secret of the pod's own namespace through the Kubernetes API,
 * with the pod's service-account token (no client library: one PATCH, one POST).
 *
 * The Storefleet chart creates the Secret (empty) and grants the setup Job's service
 * account `get` and `patch` on that one name only, so the normal path is a merge
 * patch. If the Secret is missing (a native run against a cluster, or a chart that
 * does not pre-create it), a create is attempted; it needs `create` on secrets.
 */

// Overridable only so the API calls can be exercised against a fake API server.
const SA_DIR =
  process.env.STOREFLEET_SA_DIR || "/var/run/secrets/kubernetes.io/serviceaccount"

export function inCluster(): boolean {
  return (
    !!process.env.KUBERNETES_SERVICE_HOST && fs.existsSync(`${SA_DIR}/token`)
  )
}

type Response = { status: number; body: string }

function request(
  method: string,
  path: string,
  body: unknown,
  contentType: string
): Promise<Response> {
  const token = fs.readFileSync(`${SA_DIR}/token`, "utf8").trim()
  const ca = fs.readFileSync(`${SA_DIR}/ca.crt`)
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        method,
        hostname: process.env.KUBERNETES_SERVICE_HOST,
        port: Number(process.env.KUBERNETES_SERVICE_PORT || 443),
        path,
        ca,
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": contentType,
          Accept: "application/json",
          "Content-Length": Buffer.byteLength(payload),
          "User-Agent": "storefleet-medusa-setup",
        },
        timeout: 15_000,
      },
      (res) => {
        let data = ""
        res.setEncoding("utf8")
        res.on("data", (chunk) => (data += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }))
      }
    )
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)))
    req.on("error", reject)
    req.end(payload)
  })
}

function apiError(what: string, res: Response): Error {
  let message = res.body
  try {
    message = JSON.parse(res.body).message ?? message
  } catch {
    // not JSON: keep the raw body
  }
  return new Error(`${what}: HTTP ${res.status}: ${message}`)
}

/** Sets `data` keys on Secret `name` (other keys are left alone). */
export async function upsertSecretData(
  name: string,
  data: Record<string, string>,
  labels: Record<string, string> = {}
): Promise<"patched" | "created"> {
  const namespace =
    process.env.POD_NAMESPACE ||
    fs.readFileSync(`${SA_DIR}/namespace`, "utf8").trim()
  const encoded: Record<string, string> = {}
  for (const [k, v] of Object.entries(data)) {
    encoded[k] = Buffer.from(v, "utf8").toString("base64")
  }
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`
  const patched = await request(
    "PATCH",
    `${base}/${encodeURIComponent(name)}`,
    { data: encoded },
    "application/merge-patch+json"
  )
  if (patched.status >= 200 && patched.status < 300) {
    return "patched"
  }
  if (patched.status !== 404) {
    throw apiError(`patch secret ${namespace}/${name}`, patched)
  }
  const created = await request(
    "POST",
    base,
    {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: { name, namespace, labels },
      data: encoded,
    },
    "application/json"
  )
  if (created.status >= 200 && created.status < 300) {
    return "created"
  }
  throw apiError(`create secret ${namespace}/${name}`, created)
}
