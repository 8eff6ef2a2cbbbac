//! A real Kubernetes API server for tests, the envtest way.
//!
//! `STOREFLEET_TEST_KUBECONFIG` points at a disposable cluster to use as it is. Otherwise
//! etcd, kube-apiserver and (when present) kube-controller-manager are started from
//! `KUBEBUILDER_ASSETS` (default `/usr/local/kubebuilder/bin`; etcd may also come from `PATH`
//! or `./.tools`), once per test process, on free loopback ports, with a throw-away PKI made by
//! `openssl`. The controller manager runs only the namespace, service-account, garbage-collector
//! and PVC-protection controllers: namespace deletion is real, and no controller competes with tests
//! that stand in for the kubelet by writing workload status.
//! A watchdog shell stops everything and removes the files when the test process exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A control plane the tests may use.
#[derive(Debug, Clone)]
pub struct TestCluster {
    pub kubeconfig: PathBuf,
    /// Whether namespaces really go away when deleted (a controller manager runs).
    pub deletes_namespaces: bool,
    /// Token of a cluster admin, for tests that impersonate other users.
    pub admin_token: Option<String>,
    /// State directory of a control plane this harness started (none for a given kubeconfig).
    pub state_dir: Option<PathBuf>,
}

impl TestCluster {
    /// Stop the API server (SIGKILL, as in a crash or a network cut), for outage tests. Only for
    /// a control plane this harness started; a test doing this should live in a test binary of
    /// its own, since every test of a binary shares one control plane.
    pub fn stop_apiserver(&self) -> Result<(), String> {
        let dir = self
            .state_dir
            .as_ref()
            .ok_or("not a harness-started control plane")?;
        let pid = std::fs::read_to_string(dir.join("apiserver.pid")).map_err(|e| e.to_string())?;
        let status = Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill {pid} failed"))
        }
    }

    /// Start the API server again with the same flags, and wait until it is ready.
    pub fn start_apiserver(&self) -> Result<(), String> {
        let dir = self
            .state_dir
            .as_ref()
            .ok_or("not a harness-started control plane")?;
        let d = dir.display();
        Command::new("sh")
            .args(["-c", &format!("$(cat {d}/apiserver.cmd) >> {d}/apiserver.log 2>&1 & echo $! > {d}/apiserver.pid")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        let port =
            std::fs::read_to_string(dir.join("apiserver.port")).map_err(|e| e.to_string())?;
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| "bad port file".to_owned())?;
        let token = self.admin_token.clone().unwrap_or_default();
        wait_ready(dir, port, &token, "/readyz")
    }
}

/// Why there is no test cluster.
#[derive(Debug, Clone)]
pub enum NoCluster {
    /// Nothing to start one from: the test is skipped.
    Missing(String),
    /// The binaries are there but the control plane did not come up: a failure, never a skip.
    Failed(String),
}

static CLUSTER: OnceLock<Result<TestCluster, NoCluster>> = OnceLock::new();

/// The shared test control plane, started on first use; `Err` says why there is none.
pub fn cluster() -> Result<TestCluster, NoCluster> {
    CLUSTER
        .get_or_init(|| {
            std::thread::spawn(start_or_reuse)
                .join()
                .unwrap_or_else(|_| {
                    Err(NoCluster::Failed(
                        "control plane start-up thread panicked".to_owned(),
                    ))
                })
        })
        .clone()
}

/// The test cluster, or `None` after printing `skipped: …` when none can be had here.
/// Panics when the binaries exist but the control plane fails: that must fail the test.
pub fn cluster_or_skip() -> Option<TestCluster> {
    match cluster() {
        Ok(cluster) => Some(cluster),
        Err(NoCluster::Missing(reason)) => {
            crate::skip(&format!("no Kubernetes API server: {reason}"));
            None
        }
        Err(NoCluster::Failed(reason)) => {
            panic!("the test control plane failed to start: {reason}")
        }
    }
}

fn start_or_reuse() -> Result<TestCluster, NoCluster> {
    if let Ok(path) = std::env::var("STOREFLEET_TEST_KUBECONFIG") {
        return Ok(TestCluster {
            kubeconfig: PathBuf::from(path),
            deletes_namespaces: true,
            admin_token: None,
            state_dir: None,
        });
    }
    let assets = assets_dir();
    let apiserver = assets.join("kube-apiserver");
    if !apiserver.is_file() {
        return Err(NoCluster::Missing(format!(
            "{} missing (set KUBEBUILDER_ASSETS or STOREFLEET_TEST_KUBECONFIG)",
            apiserver.display()
        )));
    }
    let etcd = find_etcd(&assets).ok_or_else(|| {
        NoCluster::Missing("no etcd binary (KUBEBUILDER_ASSETS, PATH or ./.tools)".to_owned())
    })?;
    let kcm = Some(assets.join("kube-controller-manager")).filter(|p| p.is_file());
    let plan = ControlPlane {
        apiserver,
        etcd,
        kcm,
        full_controllers: None,
    };
    start(&plan).map_err(NoCluster::Failed)
}

/// The binaries of a control plane and how much of it to run.
pub(crate) struct ControlPlane {
    pub apiserver: PathBuf,
    pub etcd: PathBuf,
    pub kcm: Option<PathBuf>,
    /// For a real node: every default controller and this scheduler, and the API server
    /// advertised on this node address so pods reach it through the `kubernetes` Service.
    pub full_controllers: Option<FullControllers>,
}

pub(crate) struct FullControllers {
    pub scheduler: PathBuf,
    pub node_ip: String,
}

/// The envtest binaries directory (`KUBEBUILDER_ASSETS`, default `/usr/local/kubebuilder/bin`).
pub(crate) fn assets_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("KUBEBUILDER_ASSETS")
            .unwrap_or_else(|_| "/usr/local/kubebuilder/bin".to_owned()),
    )
}

/// Controller names changed in v1.33 (a `-controller` suffix); ask the binary which it knows.
fn controller_names(kcm: &Path) -> &'static str {
    let help = Command::new(kcm)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if help.is_ok_and(|h| h.contains("garbage-collector-controller")) {
        "namespace-controller,serviceaccount-controller,serviceaccount-token-controller,garbage-collector-controller,\
         persistentvolumeclaim-protection-controller"
    } else {
        "namespace,serviceaccount,serviceaccount-token,garbage-collector,pvc-protection"
    }
}

pub(crate) fn find_etcd(assets: &Path) -> Option<PathBuf> {
    let mut candidates = vec![assets.join("etcd")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("etcd")));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    candidates.push(workspace.join(".tools/etcd"));
    candidates.into_iter().find(|p| p.is_file())
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    crate::run_tool("openssl", args, Some(dir))
}

fn make_pki(dir: &Path, node_ip: &str) -> Result<(), String> {
    std::fs::write(
        dir.join("server.ext"),
        format!("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,DNS:kubernetes.default,DNS:kubernetes,\
         IP:10.96.0.1,IP:{node_ip}\n"),
    )
    .map_err(|e| e.to_string())?;
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=storefleet-test-ca",
            "-days",
            "3",
            "-out",
            "ca.crt",
        ],
    )?;
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "server.key",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "server.key",
            "-subj",
            "/CN=kube-apiserver",
            "-out",
            "server.csr",
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ],
    )?;
    openssl(dir, &["genrsa", "-out", "sa.key", "2048"])?;
    openssl(dir, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"])
}

fn random_token() -> String {
    uuid::Uuid::now_v7().simple().to_string() + &uuid::Uuid::now_v7().simple().to_string()[16..]
}

fn kubeconfig(dir: &Path, port: u16, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
         certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: test\n  \
         context: {{cluster: test, user: {user}}}\ncurrent-context: test\n",
        ca = dir.join("ca.crt").display()
    )
}

/// Start a control plane under a watchdog that stops it when this test process exits.
pub(crate) fn start(plan: &ControlPlane) -> Result<TestCluster, String> {
    let (apiserver, etcd, kcm) = (&plan.apiserver, &plan.etcd, plan.kcm.as_deref());
    let full = plan.full_controllers.as_ref();
    let dir = tempfile::Builder::new()
        .prefix("storefleet-k8s-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    make_pki(&dir, full.map_or("127.0.0.1", |f| f.node_ip.as_str()))?;
    let admin_token = random_token();
    let kcm_token = random_token();
    std::fs::write(
        dir.join("tokens.csv"),
        format!("{admin_token},admin,admin,\"system:masters\"\n{kcm_token},system:kube-controller-manager,kcm,\"system:masters\"\n"),
    )
    .map_err(|e| e.to_string())?;
    let port = |what: &str| crate::free_port().map_err(|e| format!("free port for {what}: {e}"));
    let (etcd_port, peer_port, api_port, kcm_port, scheduler_port) = (
        port("etcd")?,
        port("etcd peer")?,
        port("apiserver")?,
        port("kcm")?,
        port("scheduler")?,
    );
    let admin_kubeconfig = dir.join("admin.kubeconfig");
    std::fs::write(
        &admin_kubeconfig,
        kubeconfig(&dir, api_port, "admin", &admin_token),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("kcm.kubeconfig"),
        kubeconfig(&dir, api_port, "kcm", &kcm_token),
    )
    .map_err(|e| e.to_string())?;
    let d = dir.display();
    let etcd_cmd = format!(
        "{etcd} --name=test --data-dir={d}/etcd --listen-client-urls=http://127.0.0.1:{etcd_port} \
         --advertise-client-urls=http://127.0.0.1:{etcd_port} --listen-peer-urls=http://127.0.0.1:{peer_port} \
         --initial-advertise-peer-urls=http://127.0.0.1:{peer_port} --initial-cluster=test=http://127.0.0.1:{peer_port} \
         --unsafe-no-fsync=true --log-level=warn",
        etcd = etcd.display()
    );
    // With a real node, the API server advertises the node's address (a forwarder there leads
    // to it) and keeps the `kubernetes` Service's endpoints itself; otherwise nothing runs pods.
    let (advertise, endpoints) = match full {
        Some(f) => (f.node_ip.as_str(), "lease"),
        None => ("127.0.0.1", "none"),
    };
    let api_cmd = format!(
        "{api} --etcd-servers=http://127.0.0.1:{etcd_port} --bind-address=127.0.0.1 --advertise-address={advertise} \
         --secure-port={api_port} --tls-cert-file={d}/server.crt --tls-private-key-file={d}/server.key \
         --client-ca-file={d}/ca.crt --token-auth-file={d}/tokens.csv --service-account-key-file={d}/sa.pub \
         --service-account-signing-key-file={d}/sa.key --service-account-issuer=https://kubernetes.default.svc \
         --authorization-mode=RBAC --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type={endpoints} \
         --allow-privileged=true --profiling=false --cert-dir={d}/certs --v=0",
        api = apiserver.display()
    );
    let kcm_cmd = kcm.map(|kcm| {
        format!(
            "{kcm} --kubeconfig={d}/kcm.kubeconfig --authentication-kubeconfig={d}/kcm.kubeconfig \
             --authorization-kubeconfig={d}/kcm.kubeconfig --bind-address=127.0.0.1 --secure-port={kcm_port} \
             --leader-elect=false --service-account-private-key-file={d}/sa.key --root-ca-file={d}/ca.crt \
             --controllers={controllers} \
             --use-service-account-credentials=false --namespace-sync-period=10s --profiling=false --v=0",
            kcm = kcm.display(),
            controllers = if full.is_some() { "'*'" } else { controller_names(kcm) }
        )
    });
    let scheduler_cmd = full.map(|f| {
        format!(
            "{scheduler} --kubeconfig={d}/kcm.kubeconfig --authentication-kubeconfig={d}/kcm.kubeconfig \
             --authorization-kubeconfig={d}/kcm.kubeconfig --bind-address=127.0.0.1 --secure-port={scheduler_port} \
             --leader-elect=false --profiling=false --v=0",
            scheduler = f.scheduler.display()
        )
    });
    // Everything runs under one watchdog that lives as long as this test process.
    // The API server's command and pid live in files, so an outage test can stop and restart it.
    std::fs::write(dir.join("apiserver.cmd"), &api_cmd).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("apiserver.port"), api_port.to_string()).map_err(|e| e.to_string())?;
    let mut script = format!(
        "{etcd_cmd} > {d}/etcd.log 2>&1 & e=$!; {api_cmd} > {d}/apiserver.log 2>&1 & echo $! > {d}/apiserver.pid; "
    );
    if let Some(kcm_cmd) = &kcm_cmd {
        script.push_str(&format!(
            "(for i in $(seq 1 200); do [ -f {d}/api-ready ] && break; sleep 0.1; done; exec {kcm_cmd}) > {d}/kcm.log 2>&1 & k=$!; "
        ));
    } else {
        script.push_str("k=; ");
    }
    if let Some(scheduler_cmd) = &scheduler_cmd {
        script.push_str(&format!(
            "(for i in $(seq 1 200); do [ -f {d}/api-ready ] && break; sleep 0.1; done; exec {scheduler_cmd}) > {d}/scheduler.log 2>&1 & k=\"$k $!\"; "
        ));
    }
    script.push_str(&format!(
        "while [ -d /proc/{parent} ]; do sleep 0.5; done; \
         if [ -d {d}/node ]; then for i in $(seq 1 120); do [ -f {d}/node-stopped ] && break; sleep 0.5; done; fi; \
         a=$(cat {d}/apiserver.pid); kill $k $a 2>/dev/null; \
         sleep 1; kill $e 2>/dev/null; sleep 1; kill -9 $k $a $e 2>/dev/null; rm -rf --one-file-system {d}",
        parent = std::process::id()
    ));
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start control plane: {e}"))?;
    wait_ready(&dir, api_port, &admin_token, "/readyz")?;
    check_version(api_port, &admin_token)?;
    std::fs::write(dir.join("api-ready"), "").map_err(|e| e.to_string())?;
    if kcm.is_some() {
        // The namespace controller is what makes deletion real; wait for the manager to serve.
        wait_ready(&dir, kcm_port, &admin_token, "/healthz")?;
    }
    Ok(TestCluster {
        kubeconfig: admin_kubeconfig,
        deletes_namespaces: kcm.is_some(),
        admin_token: Some(admin_token),
        state_dir: Some(dir),
    })
}

/// The body of `GET https://127.0.0.1:<port><path>` with a bearer token (2 s at most), or
/// `None` when nothing answered.
pub(crate) fn api_get(port: u16, token: &str, path: &str) -> Option<Vec<u8>> {
    Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "2",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .ok()
        .map(|out| out.stdout)
}

/// The API server must say which Kubernetes it is: charts refuse a cluster whose version they
/// cannot compare (the platform chart asks for `kubeVersion: >=1.30.0-0`), and binaries built
/// without the release's link flags report `v0.0.0-master+$Format:%H$`. Said at start, with
/// the remedy, instead of as a helm error in the one test that installs that chart.
fn check_version(port: u16, token: &str) -> Result<(), String> {
    let body = api_get(port, token, "/version").unwrap_or_default();
    let version = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["gitVersion"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if version.is_empty() || version.starts_with("v0.0.0") {
        return Err(format!(
            "kube-apiserver in {} reports version {version:?}: build the Kubernetes binaries with \
             their version linked in (go build -ldflags \"-X k8s.io/component-base/version.gitVersion=v1.36.2 \
             -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36\"); \
             charts with a kubeVersion constraint refuse an unversioned cluster",
            assets_dir().display()
        ));
    }
    Ok(())
}

fn wait_ready(dir: &Path, port: u16, token: &str, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if api_get(port, token, path)
            .is_some_and(|body| String::from_utf8_lossy(&body).trim() == "ok")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            let log = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            let tail = |s: String| s.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            return Err(format!(
                "control plane did not become ready on port {port}\napiserver:\n{}\netcd:\n{}\nkcm:\n{}",
                tail(log("apiserver.log")),
                tail(log("etcd.log")),
                tail(log("kcm.log"))
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
