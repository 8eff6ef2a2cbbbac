//! A real single-node cluster for tests: the control plane with every controller and a
//! scheduler, plus containerd, a CNI bridge, the kubelet, kube-proxy, a cluster DNS and a
//! local-volume provisioner on this machine, so pods run in real containers.
//!
//! Found the envtest way: `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`,
//! `kubelet` and `kube-proxy` in `KUBEBUILDER_ASSETS` (default `/usr/local/kubebuilder/bin`),
//! and containerd, runc, the CNI plugins, dnsmasq, socat and iptables installed (Debian
//! packages; `scripts/install-test-tools.sh`). Images come from the archives that
//! `scripts/build-images.sh` leaves in `STOREFLEET_IMAGE_CACHE` (default
//! `~/.cache/storefleet/images`): nothing is pulled. Any of these missing: `skipped: no real
//! node (…)`, or a failure when `STOREFLEET_REQUIRE_REAL_NODE=1`. Present but a part fails to
//! start: the test fails with that part's log tail.
//!
//! One node per test process (they share it); a watchdog stops every container and process
//! and removes iptables rules, mounts and files when the test process exits. Settings each
//! answer a fact of this kind of machine (see the comments where they are made).

use crate::kube::{ControlPlane, FullControllers, NoCluster, TestCluster};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use crate::node_services::NODE_NAME;
/// The node's address: kubelet refuses a loopback node IP, so a /32 goes on `lo`.
pub const NODE_IP: &str = "10.99.0.1";
const POD_SUBNET: &str = "10.244.0.0/24";
const CLUSTER_CIDR: &str = "10.244.0.0/16";
const BRIDGE: &str = "sfbr0";
pub use crate::node_services::STORAGE_CLASS;

/// A running real node and its control plane.
#[derive(Debug, Clone)]
pub struct RealNode {
    pub cluster: TestCluster,
    /// containerd's socket, for `ctr` (images, tasks).
    pub containerd_socket: PathBuf,
    /// Where the node keeps its state and logs (containerd, kubelet, kube-proxy, dnsmasq).
    pub dir: PathBuf,
}

impl RealNode {
    /// The last lines of one part's log (`containerd`, `kubelet`, `kube-proxy`, `dnsmasq`,
    /// `services`), for failure messages.
    pub fn log_tail(&self, part: &str, lines: usize) -> String {
        tail(&self.dir.join(format!("{part}.log")), lines)
    }
}

static NODE: OnceLock<Result<RealNode, NoCluster>> = OnceLock::new();

/// Whether CI demands the real-node tier: then missing parts fail instead of skipping.
pub fn real_node_required() -> bool {
    std::env::var("STOREFLEET_REQUIRE_REAL_NODE").is_ok_and(|v| v == "1")
}

/// The shared real node, started on first use; `Err` says why there is none.
pub fn real_node() -> Result<RealNode, NoCluster> {
    NODE.get_or_init(|| {
        std::thread::spawn(start_or_explain)
            .join()
            .unwrap_or_else(|_| Err(NoCluster::Failed("node start-up thread panicked".into())))
    })
    .clone()
}

/// The real node, or `None` after printing `skipped: no real node (…)`.
/// Panics when its parts exist but one fails to start, or when the tier is required.
pub fn real_node_or_skip() -> Option<RealNode> {
    match real_node() {
        Ok(node) => Some(node),
        Err(NoCluster::Missing(reason)) if real_node_required() => {
            panic!("real node required (STOREFLEET_REQUIRE_REAL_NODE=1): {reason}")
        }
        Err(NoCluster::Missing(reason)) => {
            crate::skip(&format!("no real node ({reason})"));
            None
        }
        Err(NoCluster::Failed(reason)) => panic!("the real node failed to start: {reason}"),
    }
}

/// What the node needs, each found or named as missing.
struct Parts {
    plane: ControlPlane,
    kubelet: PathBuf,
    kube_proxy: PathBuf,
    images: Vec<PathBuf>,
}

fn find_parts() -> Result<Parts, String> {
    let assets = crate::kube::assets_dir();
    let in_assets = |name: &str| {
        let path = assets.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} missing (KUBEBUILDER_ASSETS; see the README's Tests section)",
                path.display()
            ))
        }
    };
    let apiserver = in_assets("kube-apiserver")?;
    let kcm = in_assets("kube-controller-manager")?;
    let scheduler = in_assets("kube-scheduler")?;
    let kubelet = in_assets("kubelet")?;
    let kube_proxy = in_assets("kube-proxy")?;
    let etcd = crate::kube::find_etcd(&assets).ok_or("no etcd binary")?;
    for tool in [
        "containerd",
        "runc",
        "ctr",
        "dnsmasq",
        "socat",
        "iptables",
        "ip",
    ] {
        if which(tool).is_none() {
            return Err(format!(
                "`{tool}` not installed (scripts/install-test-tools.sh)"
            ));
        }
    }
    for plugin in ["bridge", "host-local", "loopback", "portmap"] {
        if !Path::new("/usr/lib/cni").join(plugin).is_file() {
            return Err(format!(
                "CNI plugin /usr/lib/cni/{plugin} missing (Debian containernetworking-plugins)"
            ));
        }
    }
    if !is_root() {
        return Err("not root: containerd, kubelet and kube-proxy need root".into());
    }
    let images = image_archives()?;
    Ok(Parts {
        plane: ControlPlane {
            apiserver,
            etcd,
            kcm: Some(kcm),
            full_controllers: Some(FullControllers {
                scheduler,
                node_ip: NODE_IP.to_owned(),
            }),
        },
        kubelet,
        kube_proxy,
        images,
    })
}

/// Where `scripts/build-images.sh` leaves image archives.
pub fn image_cache_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("STOREFLEET_IMAGE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/storefleet/images")
}

fn image_archives() -> Result<Vec<PathBuf>, String> {
    let dir = image_cache_dir();
    if !dir.join("pause.tar").is_file() {
        return Err(format!(
            "no node images in {} (run scripts/build-images.sh)",
            dir.display()
        ));
    }
    let mut archives: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "tar"))
        .collect();
    archives.sort();
    Ok(archives)
}

/// Whether an image archive named `name` (`medusa-store`, `wordpress`, …) was built.
pub fn image_built(name: &str) -> bool {
    image_cache_dir().join(format!("{name}.tar")).is_file()
}

fn start_or_explain() -> Result<RealNode, NoCluster> {
    let parts = find_parts().map_err(NoCluster::Missing)?;
    let cluster = crate::kube::start(&parts.plane).map_err(NoCluster::Failed)?;
    start_node(&parts, cluster).map_err(NoCluster::Failed)
}

fn start_node(parts: &Parts, cluster: TestCluster) -> Result<RealNode, String> {
    let plane_dir = cluster
        .state_dir
        .clone()
        .ok_or("control plane without a state directory")?;
    let dir = plane_dir.join("node");
    std::fs::create_dir_all(dir.join("cni")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir.join("dns")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir.join("volumes")).map_err(|e| e.to_string())?;
    prepare_host()?;
    let port = |what: &str| crate::free_port().map_err(|e| format!("free port for {what}: {e}"));
    let api_port: u16 = std::fs::read_to_string(plane_dir.join("apiserver.port"))
        .map_err(|e| e.to_string())?
        .trim()
        .parse()
        .map_err(|_| "bad apiserver.port")?;
    let (kubelet_port, kubelet_healthz, proxy_metrics) = (
        port("kubelet")?,
        port("kubelet healthz")?,
        port("kube-proxy")?,
    );
    let token = cluster.admin_token.clone().unwrap_or_default();
    let d = dir.display();
    let socket = dir.join("containerd.sock");
    write(&dir.join("containerd.toml"), &containerd_config(&dir))?;
    write(&dir.join("cni/10-storefleet.conflist"), &cni_config(&dir))?;
    write(
        &dir.join("kubelet.yaml"),
        &kubelet_config(&dir, kubelet_port, kubelet_healthz),
    )?;
    write(&dir.join("resolv.conf"), &format!("nameserver {NODE_IP}\n"))?;
    write(
        &dir.join("kube-proxy.yaml"),
        &kube_proxy_config(&plane_dir, proxy_metrics),
    )?;
    // Processes, each logging to its own file; their pids go to files for the teardown.
    let containerd = format!("containerd --config {d}/containerd.toml");
    spawn_logged(&dir, "containerd", &containerd)?;
    wait_for("containerd", &dir, Duration::from_secs(30), || {
        socket.exists()
    })?;
    import_images(&socket, &parts.images, &dir)?;
    // Pods reach the API server (bound to loopback) through a forwarder on the node address,
    // which the API server advertises as the `kubernetes` Service's endpoint.
    spawn_logged(
        &dir,
        "forwarder",
        &format!(
            "socat TCP-LISTEN:{api_port},bind={NODE_IP},fork,reuseaddr TCP:127.0.0.1:{api_port}"
        ),
    )?;
    // Kubelet and kube-proxy authenticate as cluster admins: the node is a test fixture.
    spawn_logged(
        &dir,
        "kubelet",
        &format!(
            "{kubelet} --config={d}/kubelet.yaml --kubeconfig={kubeconfig} --hostname-override={NODE_NAME} \
             --node-ip={NODE_IP} --root-dir={d}/kubelet --cert-dir={d}/kubelet-pki --v=1",
            kubelet = parts.kubelet.display(),
            kubeconfig = cluster.kubeconfig.display()
        ),
    )?;
    spawn_logged(
        &dir,
        "kube-proxy",
        &format!(
            "{proxy} --config={d}/kube-proxy.yaml --v=1",
            proxy = parts.kube_proxy.display()
        ),
    )?;
    // Cluster DNS: dnsmasq on the node address, answering from hosts files that the services
    // loop writes from the Service list (no CoreDNS image exists here).
    spawn_logged(
        &dir,
        "dnsmasq",
        &format!(
            "dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-daemon --user=root \
             --listen-address={NODE_IP} --bind-interfaces --port=53 --hostsdir={d}/dns \
             --local=/cluster.local/ --log-facility=-"
        ),
    )?;
    spawn_watchdog(&dir, &plane_dir, &parts.kube_proxy)?;
    let node = RealNode {
        cluster,
        containerd_socket: socket,
        dir: dir.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while !node_ready(api_port, &token) {
        if Instant::now() > deadline {
            return Err(format!(
                "node {NODE_NAME} not Ready after 90 s\nkubelet:\n{}\ncontainerd:\n{}\nkube-proxy:\n{}",
                node.log_tail("kubelet", 20),
                node.log_tail("containerd", 10),
                node.log_tail("kube-proxy", 10)
            ));
        }
        for part in [
            "containerd",
            "kubelet",
            "kube-proxy",
            "dnsmasq",
            "forwarder",
        ] {
            if !alive(&dir, part) {
                return Err(format!(
                    "{part} exited during start-up:\n{}",
                    node.log_tail(part, 25)
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    crate::node_services::spawn(&node.cluster.kubeconfig, &node.dir)?;
    Ok(node)
}

/// Host settings the node needs: its address on `lo`, its name resolvable (the API server
/// reaches the kubelet by name for logs and exec), forwarding, and bridged traffic through
/// iptables (so a pod reaching a Service backed by a pod on the same bridge gets its replies
/// un-NATed).
fn prepare_host() -> Result<(), String> {
    let has_ip = Command::new("ip")
        .args(["-4", "addr", "show", "dev", "lo"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("{NODE_IP}/32")))
        .unwrap_or(false);
    if !has_ip {
        crate::run_tool(
            "ip",
            &["addr", "add", &format!("{NODE_IP}/32"), "dev", "lo"],
            None,
        )?;
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !hosts
        .lines()
        .any(|l| l.split_whitespace().skip(1).any(|h| h == NODE_NAME))
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open("/etc/hosts")
            .map_err(|e| format!("/etc/hosts: {e}"))?;
        writeln!(file, "{NODE_IP} {NODE_NAME}").map_err(|e| format!("/etc/hosts: {e}"))?;
    }
    write(Path::new("/proc/sys/net/ipv4/ip_forward"), "1")?;
    let bridged = Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if bridged.exists() {
        write(bridged, "1")?;
    }
    Ok(())
}

fn containerd_config(dir: &Path) -> String {
    let d = dir.display();
    // restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so runc cannot lower
    // oom_score_adj. cgroupfs (not systemd) matches the kubelet's driver on cgroup v1.
    format!(
        r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{d}/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
"#
    )
}

fn cni_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"{{"cniVersion": "1.0.0", "name": "storefleet", "plugins": [
  {{"type": "bridge", "bridge": "{BRIDGE}", "isGateway": true, "ipMasq": true, "hairpinMode": true,
    "ipam": {{"type": "host-local", "dataDir": "{d}/ipam", "ranges": [[{{"subnet": "{POD_SUBNET}"}}]],
              "routes": [{{"dst": "0.0.0.0/0"}}]}}}},
  {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
]}}
"#
    )
}

fn kubelet_config(dir: &Path, port: u16, healthz: u16) -> String {
    let d = dir.display();
    // failCgroupV1/cgroupfs: this machine runs cgroup v1. oomScoreAdj 0: no CAP_SYS_RESOURCE.
    // Anonymous, always-allowed kubelet API on the node address only: a test node.
    // Eviction and image GC off: a test must not lose its pods or images to a busy disk.
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz}
authentication:
  anonymous: {{enabled: true}}
  webhook: {{enabled: false}}
authorization: {{mode: AlwaysAllow}}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://{d}/containerd.sock
clusterDNS: ["{NODE_IP}"]
clusterDomain: cluster.local
resolvConf: {d}/resolv.conf
evictionHard: {{"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
protectKernelDefaults: false
makeIPTablesUtilChains: false
"#
    )
}

fn kube_proxy_config(plane_dir: &Path, metrics_port: u16) -> String {
    // masqueradeAll: a pod reaching a Service whose backend shares its bridge must see the
    // replies come back through the NAT, whatever the bridge-netfilter setting.
    format!(
        r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
hostnameOverride: {NODE_NAME}
bindAddress: {NODE_IP}
clusterCIDR: {CLUSTER_CIDR}
mode: iptables
iptables:
  masqueradeAll: true
conntrack:
  maxPerCore: 0
healthzBindAddress: ""
metricsBindAddress: 127.0.0.1:{metrics_port}
"#,
        kubeconfig = plane_dir.join("admin.kubeconfig").display()
    )
}

fn import_images(socket: &Path, archives: &[PathBuf], dir: &Path) -> Result<(), String> {
    for archive in archives {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(archive)
            .output()
            .map_err(|e| format!("ctr: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ctr images import {}: {}\ncontainerd:\n{}",
                archive.display(),
                String::from_utf8_lossy(&out.stderr),
                tail(&dir.join("containerd.log"), 10)
            ));
        }
    }
    Ok(())
}

/// Start `command` in the background with its output in `<name>.log` and its pid in `<name>.pid`.
fn spawn_logged(dir: &Path, name: &str, command: &str) -> Result<(), String> {
    let d = dir.display();
    let status = Command::new("sh")
        .args([
            "-c",
            &format!("{command} > {d}/{name}.log 2>&1 < /dev/null & echo $! > {d}/{name}.pid"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("start {name}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("start {name}: {status}"))
    }
}

fn alive(dir: &Path, name: &str) -> bool {
    std::fs::read_to_string(dir.join(format!("{name}.pid")))
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// A watchdog that, when this test process exits, kills every container of the node (by the
/// pods' cgroups), then the node's processes (by pid file, checked against the command line), then removes kube-proxy's rules, the mounts,
/// network namespaces and bridge the node made. The control plane has its own watchdog,
/// which removes the whole state directory after this one is done with the node.
fn spawn_watchdog(dir: &Path, plane_dir: &Path, kube_proxy: &Path) -> Result<(), String> {
    let d = dir.display();
    let script = format!(
        r#"while [ -d /proc/{parent} ]; do sleep 0.5; done
touch {d}/stopping
# Signal a part by its pid file only while that pid still runs the part's program: pids wrap
# quickly on a small machine, and a stale file could name someone else's process by now.
stop() {{
  pid=$(cat {d}/$1.pid 2>/dev/null) || return 0
  tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q -- "$2" && kill $pid 2>/dev/null
  return 0
}}
stop kubelet kubelet
stop kube-proxy kube-proxy
stop dnsmasq dnsmasq
stop forwarder socat
for f in $(find /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/kubepods -name cgroup.procs 2>/dev/null); do
  for pid in $(cat $f); do kill -9 $pid 2>/dev/null; done
done
sleep 1
stop containerd {d}/containerd.toml
for pid in $(pgrep -f 'containerd-shim-runc-v2 -namespace k8s.io -id [0-9a-f]+ -address {d}/'); do kill -9 $pid 2>/dev/null; done
sleep 1
{proxy} --cleanup > /dev/null 2>&1
grep ' {d}' /proc/mounts | awk '{{print $2}}' | sort -r | while read m; do umount -l "$m" 2>/dev/null; done
for ns in $(ls /var/run/netns 2>/dev/null | grep '^cni-'); do ip netns delete $ns 2>/dev/null; done
ip link delete {BRIDGE} 2>/dev/null
rm -rf --one-file-system {d}
touch {plane}/node-stopped
"#,
        parent = std::process::id(),
        proxy = kube_proxy.display(),
        plane = plane_dir.display()
    );
    write(&dir.join("watchdog.sh"), &script)?;
    Command::new("sh")
        .arg(dir.join("watchdog.sh"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("start node watchdog: {e}"))
}

fn node_ready(api_port: u16, token: &str) -> bool {
    let Some(body) = crate::kube::api_get(api_port, token, &format!("/api/v1/nodes/{NODE_NAME}"))
    else {
        return false;
    };
    let Ok(node) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return false;
    };
    node["status"]["conditions"]
        .as_array()
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn wait_for(
    what: &str,
    dir: &Path,
    limit: Duration,
    ready: impl Fn() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline || !alive(dir, what) {
            return Err(format!(
                "{what} did not start:\n{}",
                tail(&dir.join(format!("{what}.log")), 25)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
            .unwrap_or(false)
    })
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.reverse();
    last.join("\n")
}
