//! Running the `helm` CLI for one store's release: values go in a file, never on the command line.

use crate::{ClusterError, RELEASE};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Longest a single helm command may run before it is killed and the step retried.
const HELM_TIMEOUT: Duration = Duration::from_secs(300);
/// A pending operation older than this was left by a process that died, not one in flight.
pub const STALE_PENDING: Duration = Duration::from_secs(90);

/// Helm processes allowed at once by default: each takes 50–65 MiB and a good part of a core;
/// on 2 cores a third one added memory (bench: 215 MiB with children) but no throughput.
pub const DEFAULT_MAX_PROCESSES: usize = 2;

#[derive(Debug, Clone)]
pub struct Helm {
    pub binary: PathBuf,
    pub charts_dir: PathBuf,
    /// Passed to helm as `KUBECONFIG` so it talks to the same cluster as the driver.
    pub kubeconfig: Option<PathBuf>,
    /// The user every helm command impersonates (`--kube-as-user`), when set.
    as_user: Option<String>,
    /// Caps helm processes across all passes, apart from how many stores are worked on at once:
    /// helm is CPU- and memory-bound, most other steps are waiting.
    processes: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A release's state as `helm status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseStatus {
    pub status: String,
    /// Seconds since the release was last changed, when helm reported a parseable time.
    pub age_seconds: Option<i64>,
}

impl Helm {
    pub fn new(
        binary: PathBuf,
        charts_dir: PathBuf,
        kubeconfig: Option<PathBuf>,
        max_processes: usize,
    ) -> Self {
        let processes = std::sync::Arc::new(tokio::sync::Semaphore::new(max_processes.max(1)));
        Self {
            binary,
            charts_dir,
            kubeconfig,
            as_user: None,
            processes,
        }
    }

    /// Run every helm command as `user` (Kubernetes impersonation): a release then has that
    /// user's rights in its namespace, not those of the credentials helm authenticates with.
    pub fn impersonating(mut self, user: &str) -> Self {
        self.as_user = Some(user.to_owned());
        self
    }

    async fn run(&self, args: &[&str]) -> Result<String, ClusterError> {
        let _slot = self
            .processes
            .acquire()
            .await
            .map_err(|_| ClusterError::Helm("helm process limiter closed".to_owned()))?;
        let mut command = Command::new(&self.binary);
        command.args(args);
        if let Some(user) = &self.as_user {
            command.args(["--kube-as-user", user]);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(kubeconfig) = &self.kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        // helm lives for one command: collecting garbage during it is wasted work (24% of its
        // CPU per install on the WooCommerce chart, for 18 MiB more RSS). The memory limit keeps
        // the collector as a backstop. An operator's own GOGC/GOMEMLIMIT win.
        for (name, value) in [("GOGC", "off"), ("GOMEMLIMIT", "256MiB")] {
            if std::env::var_os(name).is_none() {
                command.env(name, value);
            }
        }
        let child = command.spawn().map_err(|e| {
            ClusterError::Permanent(format!("cannot run helm at {}: {e}", self.binary.display()))
        })?;
        let output = tokio::time::timeout(HELM_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| {
                ClusterError::Helm(format!(
                    "helm {} timed out after {} s",
                    args[0],
                    HELM_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| ClusterError::Helm(e.to_string()))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        // Helm could not reach the API server at all: the same transient outage kube-rs reports.
        if stderr.contains("cluster unreachable") {
            Err(ClusterError::Unavailable(format!("helm: {stderr}")))
        } else {
            Err(ClusterError::Helm(stderr))
        }
    }

    pub fn chart_path(&self, engine: &str) -> Result<PathBuf, ClusterError> {
        let path = self.charts_dir.join(engine);
        if path.join("Chart.yaml").is_file() {
            Ok(path)
        } else {
            Err(ClusterError::Permanent(format!(
                "engine chart {} not found; set --charts-dir / STOREFLEET_CHARTS_DIR to the directory holding charts/",
                path.display()
            )))
        }
    }

    /// The release's status, or `None` when there is no release.
    pub async fn status(&self, namespace: &str) -> Result<Option<ReleaseStatus>, ClusterError> {
        match self
            .run(&[
                "status",
                RELEASE,
                "--namespace",
                namespace,
                "--output",
                "json",
            ])
            .await
        {
            Ok(out) => Ok(Some(parse_status(&out))),
            Err(ClusterError::Helm(message)) if message.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn upgrade_install(
        &self,
        namespace: &str,
        engine: &str,
        values: &serde_json::Value,
    ) -> Result<(), ClusterError> {
        let chart = self.chart_path(engine)?;
        let mut file = tempfile::Builder::new()
            .prefix("storefleet-values-")
            .suffix(".json")
            .tempfile()
            .map_err(|e| ClusterError::Helm(format!("values file: {e}")))?;
        serde_json::to_writer(&mut file, values)
            .map_err(|e| ClusterError::Helm(format!("values file: {e}")))?;
        let values_path = file.path().to_string_lossy().into_owned();
        let chart = chart.to_string_lossy().into_owned();
        self.run(&[
            "upgrade",
            "--install",
            RELEASE,
            &chart,
            "--namespace",
            namespace,
            "--values",
            &values_path,
            "--history-max",
            "5",
            // Helm's client-side check fetches and parses the API server's OpenAPI v3 documents
            // on every run: 57% of helm's CPU per install on the WooCommerce chart (pprof via
            // HELM_PPROF_CPU_PROFILE), plus the API server's time serving them. The API server
            // validates every object on apply anyway, and the engine charts' output is checked
            // against a real API server by crates/cluster/tests/engine_charts.rs.
            "--disable-openapi-validation",
        ])
        .await
        .map(drop)
    }

    /// Remove a release that must be installed again (stuck or failed); its hooks are skipped,
    /// since a half-installed release's hooks may be what failed.
    pub async fn uninstall(&self, namespace: &str) -> Result<(), ClusterError> {
        match self
            .run(&["uninstall", RELEASE, "--namespace", namespace, "--no-hooks"])
            .await
        {
            Ok(_) => Ok(()),
            Err(ClusterError::Helm(message)) if message.contains("not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn rollback(&self, namespace: &str) -> Result<(), ClusterError> {
        self.run(&["rollback", RELEASE, "--namespace", namespace])
            .await
            .map(drop)
    }
}

/// A kubeconfig for helm inside a pod, or `None` outside one. helm finds the pod's service
/// account by itself only without impersonation: with `--kube-as-user` its loader skips the
/// in-cluster fallback and talks to `localhost:8080` — inside the orchestrator's pod, its own
/// health port ("kubernetes cluster unreachable: the server could not find the requested
/// resource", seen on the real node). The file only names the token and CA files the kubelet
/// mounts, so it holds no secret.
pub fn in_cluster_kubeconfig(dir: &std::path::Path) -> Result<Option<PathBuf>, ClusterError> {
    const ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let (Ok(host), Ok(port)) = (
        std::env::var("KUBERNETES_SERVICE_HOST"),
        std::env::var("KUBERNETES_SERVICE_PORT"),
    ) else {
        return Ok(None);
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "in-cluster", "cluster": {
            "server": format!("https://{host}:{port}"),
            "certificate-authority": format!("{ACCOUNT}/ca.crt"),
        }}],
        "users": [{ "name": "service-account", "user": { "tokenFile": format!("{ACCOUNT}/token") } }],
        "contexts": [{ "name": "in-cluster", "context": { "cluster": "in-cluster", "user": "service-account" } }],
        "current-context": "in-cluster",
    });
    let path = dir.join(format!("storefleet-helm-{}.kubeconfig", std::process::id()));
    std::fs::write(&path, config.to_string()).map_err(|e| {
        ClusterError::Permanent(format!(
            "cannot write helm's kubeconfig at {}: {e}",
            path.display()
        ))
    })?;
    Ok(Some(path))
}

fn parse_status(json: &str) -> ReleaseStatus {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let info = &value["info"];
    let status = info["status"].as_str().unwrap_or("unknown").to_owned();
    let age_seconds = info["last_deployed"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds());
    ReleaseStatus {
        status,
        age_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_age_are_read_from_helm_json() {
        let s = parse_status(
            r#"{"name":"store","info":{"status":"pending-install","last_deployed":"2020-01-01T00:00:00Z"},"version":1}"#,
        );
        assert_eq!(s.status, "pending-install");
        assert!(s.age_seconds.is_some_and(|a| a > 3600));
        assert_eq!(parse_status("garbage").status, "unknown");
    }
}
