//! Command-line interface: every setting is a flag with a matching environment variable.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "storefleet",
    version,
    about = "Provision isolated e-commerce stores on Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// API and orchestrator in one process (SQLite by default): the way to start on a laptop.
    Serve(ServerArgs),
    /// Only the REST API (scale it by replicas; it needs no Kubernetes access).
    Api(ServerArgs),
    /// Only the orchestrator (scale it by replicas on PostgreSQL).
    Orchestrator(ServerArgs),
    /// Run the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Talk to a running API about stores.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Place one real test order in any reachable store and print the order id and step timings.
    /// Exits 0 only when an order was placed.
    OrderCheck(OrderCheckArgs),
    /// Save an API address and token as a profile (and make it current), after checking the
    /// token against that API. The token comes from --token / STOREFLEET_TOKEN or standard input.
    Login(LoginArgs),
    /// Print a shell completion script: `source <(storefleet completion bash)`.
    Completion {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug, Clone)]
pub struct OrderCheckArgs {
    /// `woocommerce` or `medusa`.
    #[arg(long)]
    pub engine: String,
    /// The store's storefront origin (WooCommerce: the WordPress URL; Medusa: the server URL).
    #[arg(long)]
    pub url: String,
    /// Medusa's publishable API key (Secret `store-engine-outputs`, key `publishable-key`).
    #[arg(long, env = "STOREFLEET_PUBLISHABLE_KEY", hide_env_values = true)]
    pub publishable_key: Option<String>,
    /// Admin e-mail, to confirm the order through Medusa's admin API afterwards.
    #[arg(long, env = "STOREFLEET_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Admin password (Secret `store-credentials`, key `admin-password`).
    #[arg(long, env = "STOREFLEET_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    #[arg(long, short, value_enum, default_value = "human")]
    pub output: Output,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE or postgres://USER:PASSWORD@HOST/DB.
    #[arg(
        long,
        env = "STOREFLEET_DATABASE_URL",
        default_value = "sqlite://storefleet.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Log filter (tracing syntax), e.g. `info` or `storefleet=debug`.
    #[arg(long, env = "STOREFLEET_LOG", default_value = "info")]
    pub log: String,
    /// Log format: `auto` is readable text on a terminal and JSON lines otherwise (a pod, a
    /// file, a pipe); colour only ever on a terminal.
    #[arg(
        long,
        env = "STOREFLEET_LOG_FORMAT",
        value_enum,
        default_value = "auto"
    )]
    pub log_format: LogFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderCheckVia {
    /// The store's public URL through the ingress (an orchestrator outside the cluster).
    Ingress,
    /// The engine's Service by its DNS name (an orchestrator inside the cluster).
    Service,
    /// The engine Service's cluster IP read from the API (an orchestrator on the node itself).
    ServiceIp,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address the HTTP server listens on, HOST:PORT (`localhost:8080`, `0.0.0.0:8080`, `[::1]:8080`);
    /// the API, or health and metrics for the orchestrator. Bound before anything else starts.
    #[arg(long, env = "STOREFLEET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Directory holding the engine charts (`woocommerce/`, `medusa/`).
    #[arg(long, env = "STOREFLEET_CHARTS_DIR", default_value = "./charts")]
    pub charts_dir: PathBuf,
    /// The helm binary.
    #[arg(long, env = "STOREFLEET_HELM", default_value = "helm")]
    pub helm: PathBuf,
    /// Name of this installation, labelled on every namespace it creates; the orphan sweep only
    /// touches namespaces of its own instance.
    #[arg(long, env = "STOREFLEET_INSTANCE", default_value = "storefleet")]
    pub instance: String,
    /// Let the orphan sweep delete labelled namespaces of stores this database has never seen.
    /// Off by default: a database that does not know a store does not own its namespace.
    #[arg(long, env = "STOREFLEET_SWEEP_UNKNOWN_NAMESPACES")]
    pub sweep_unknown_namespaces: bool,
    /// Name recorded as the cluster of new stores.
    #[arg(long, env = "STOREFLEET_CLUSTER_NAME", default_value = "local")]
    pub cluster_name: String,
    /// Base domain: a store is served at `<name>.<domain>`.
    #[arg(
        long,
        env = "STOREFLEET_STORE_DOMAIN",
        default_value = "127.0.0.1.nip.io"
    )]
    pub store_domain: String,
    /// Hosts the platform itself answers on (its dashboard and API), comma-separated: a store
    /// name that would be one of them, or a parent of one, under `--store-domain` is refused,
    /// as are the built-in reserved names (www, api, admin, storefleet, ...).
    #[arg(long, env = "STOREFLEET_PLATFORM_HOSTS", value_delimiter = ',')]
    pub platform_hosts: Vec<String>,
    /// Ingress class of store Ingresses (empty: the cluster default).
    #[arg(long, env = "STOREFLEET_INGRESS_CLASS", default_value = "")]
    pub ingress_class: String,
    /// cert-manager ClusterIssuer for store TLS (empty: plain HTTP).
    #[arg(long, env = "STOREFLEET_TLS_ISSUER", default_value = "")]
    pub tls_issuer: String,
    /// How the orchestrator reaches a store for its test order: `ingress` (the store's public URL,
    /// for an orchestrator outside the cluster) or `service` (the engine's Service, in-cluster).
    #[arg(
        long,
        env = "STOREFLEET_ORDER_CHECK_VIA",
        value_enum,
        default_value = "ingress"
    )]
    pub order_check_via: OrderCheckVia,
    /// Namespace the platform runs in (allowed into store namespaces).
    #[arg(
        long,
        env = "STOREFLEET_PLATFORM_NAMESPACE",
        default_value = "storefleet"
    )]
    pub platform_namespace: String,
    /// The orchestrator's service account as NAMESPACE/NAME, bound to the store-admin role per store.
    #[arg(
        long,
        env = "STOREFLEET_ORCHESTRATOR_SERVICE_ACCOUNT",
        default_value = "storefleet/storefleet-orchestrator"
    )]
    pub orchestrator_service_account: String,
    /// The ingress controller's pods, the only pods outside the store and the platform that
    /// may reach a store (on its web port): `NAMESPACE:KEY=VALUE[,KEY=VALUE…]`, several
    /// separated by `;`. Default: k3s Traefik (kube-system), Traefik (traefik), ingress-nginx.
    #[arg(long, env = "STOREFLEET_STORE_INGRESS_FROM", value_delimiter = ';')]
    pub store_ingress_from: Vec<String>,
    /// The Kubernetes API server's addresses (CIDRs, comma-separated): the only private
    /// addresses a store's setup Job may reach, on ports 443/6443. Empty: read from the
    /// `kubernetes` Service and its endpoints at start when this process may, else any
    /// address but the cloud metadata ones on those ports.
    #[arg(long, env = "STOREFLEET_KUBE_API_CIDRS", value_delimiter = ',')]
    pub kube_api_cidrs: Vec<String>,
    /// Stores one orchestrator replica works on at once.
    #[arg(long, env = "STOREFLEET_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Helm processes one orchestrator runs at once (each ~60 MiB and CPU-bound), apart from
    /// `--concurrency`: most steps wait on the cluster, helm does not.
    #[arg(long, env = "STOREFLEET_HELM_PROCESSES", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub helm_processes: u16,
    /// Lease on a store while a replica works on it; another replica takes over after it expires.
    #[arg(long, env = "STOREFLEET_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=600))]
    pub lease_seconds: u64,
    /// Time a store has to become ready before it is marked failed.
    #[arg(long, env = "STOREFLEET_PROVISIONING_DEADLINE_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub provisioning_deadline_seconds: u64,
    /// Most live stores one user may have.
    #[arg(long, env = "STOREFLEET_MAX_STORES_PER_USER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_stores_per_user: u32,
    /// Most live stores on the platform.
    #[arg(long, env = "STOREFLEET_MAX_STORES_TOTAL", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_stores_total: u32,
    /// Mutating API calls per authenticated user per minute.
    #[arg(long, env = "STOREFLEET_RATE_PER_USER", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_per_user: u32,
    /// Mutating calls per client address per minute that carry no valid token (strangers, bad
    /// tokens, login attempts that fail); authenticated users never spend this budget.
    #[arg(long, env = "STOREFLEET_RATE_PER_IP", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_per_ip: u32,
    /// Credential reads per user per minute (each read is written to the audit log).
    #[arg(long, env = "STOREFLEET_CREDENTIAL_READS_PER_USER", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub credential_reads_per_user: u32,
    /// Live event streams one user may hold open at once.
    #[arg(long, env = "STOREFLEET_MAX_STREAMS_PER_USER", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_streams_per_user: u16,
    /// Seconds a live event stream lasts before the client must reconnect (and authenticate again).
    #[arg(long, env = "STOREFLEET_STREAM_MAX_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub stream_max_seconds: u64,
    /// Days audit entries are kept; older ones are deleted hourly.
    #[arg(long, env = "STOREFLEET_AUDIT_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: u32,
    /// Proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For is believed:
    /// the client is the rightmost hop that is not one of them. Empty: the TCP peer is the
    /// client. Name only your own ingress controller or load balancer.
    #[arg(long, env = "STOREFLEET_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Serve /metrics on this address only (e.g. 0.0.0.0:9090), not on --listen, so an ingress
    /// routing every path of the main port never exposes it. Unset: /metrics on --listen.
    #[arg(long, env = "STOREFLEET_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Platform key, base64 of 32 random bytes: seals the copy of each store's credentials
    /// kept for its owner (API and orchestrator need the same key). Without one, `serve` on a
    /// SQLite file makes `<database>.key` beside it; other roles keep no copy.
    #[arg(long, env = "STOREFLEET_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<SecretArg>,
    /// File holding the platform key (instead of `--encryption-key`).
    #[arg(
        long,
        env = "STOREFLEET_ENCRYPTION_KEY_FILE",
        conflicts_with = "encryption_key"
    )]
    pub encryption_key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user and print a new API token once, alone on the last line.
    Add {
        name: String,
        /// Make the user an admin (sees every store and the audit log).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Give a user a new API token, printed once alone on the last line; the old token stops
    /// working (running APIs hear of it: NOTIFY on PostgreSQL, within ~0.5 s on SQLite).
    RotateToken {
        name: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List the users: name, role, created.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Remove a user; its token stops working at once. Refused while it owns a live store.
    Remove {
        name: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Base URL of the Storefleet API [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, env = "STOREFLEET_API_URL", global = true)]
    pub api_url: Option<String>,
    /// API token (from `storefleet user add`) [default: the profile's, else the token file].
    #[arg(long, env = "STOREFLEET_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Profile saved by `storefleet login` [default: the current one].
    #[arg(long, env = "STOREFLEET_PROFILE", global = true)]
    pub profile: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "human", global = true)]
    pub output: StoreOutput,
}

#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// Base URL of the Storefleet API.
    #[arg(long, env = "STOREFLEET_API_URL", default_value = crate::profiles::DEFAULT_API_URL)]
    pub api_url: String,
    /// API token; read from standard input when not given.
    #[arg(long, env = "STOREFLEET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Name of the profile to save (one per platform).
    #[arg(long, env = "STOREFLEET_PROFILE", default_value = "default")]
    pub profile: String,
}

/// How the `store` commands print what the API answered.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutput {
    /// Aligned columns for people.
    Human,
    /// `human` with more columns (list: created, storefront, message).
    Wide,
    /// The API's JSON, pretty-printed (one document per line with `events --follow`).
    Json,
    /// The API's answer as YAML (`---` between documents with `events --follow`).
    Yaml,
}

/// What `store wait` waits for.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// Ready: a real test order went through the store.
    Ready,
    /// Deleted: nothing of the store is left.
    Deleted,
}

/// The engines the API takes, for `--engine`'s help and checking.
fn engine_names() -> clap::builder::PossibleValuesParser {
    storefleet_domain::Engine::ALL.map(|e| e.as_str()).into()
}

/// The plans the API takes, for `--plan`'s help and checking.
fn plan_names() -> clap::builder::PossibleValuesParser {
    storefleet_domain::Plan::ALL.map(|p| p.as_str()).into()
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Ask for a new store.
    Create {
        /// The store's name: 3–30 characters of a–z, 0–9 and "-"; part of its address.
        name: String,
        /// The e-commerce engine the store runs.
        #[arg(long, value_parser = engine_names())]
        engine: String,
        /// Resources of the store (CPU and memory requests); the platform's default when left out.
        #[arg(long, value_parser = plan_names())]
        plan: Option<String>,
        /// Delete the store automatically after this many seconds.
        #[arg(long)]
        ttl_seconds: Option<u64>,
        /// Retry-safe key: repeating the command with the same key returns the same store.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Follow progress until the store is ready or failed.
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits (e.g. 90s, 10m, 1h); exit code 7 when it runs out.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Wait until a store is ready (or deleted), showing each step with the time elapsed.
    Wait {
        /// The store: its id, an unambiguous id prefix (4+ characters), or the name of your live store.
        #[arg(value_name = "STORE")]
        id: String,
        /// What to wait for.
        #[arg(long = "for", value_enum, default_value = "ready")]
        r#for: WaitFor,
        /// How long to wait (e.g. 90s, 10m, 1h); exit code 7 when it runs out.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List stores, newest first: live ones (not deleted) unless asked otherwise.
    List {
        /// `live`, `all`, or one phase (requested, provisioning, ready, failed, deleting, deleted).
        #[arg(long, default_value = "live")]
        phase: String,
        /// Only stores of this engine.
        #[arg(long, value_parser = engine_names())]
        engine: Option<String>,
        /// Only this owner's stores (admins).
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one store.
    Get {
        /// The store: its id, an unambiguous id prefix (4+ characters), or the name of your live store.
        #[arg(value_name = "STORE")]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a store (idempotent).
    Delete {
        /// The store: its id, an unambiguous id prefix (4+ characters), or the name of your live store.
        #[arg(value_name = "STORE")]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Provision a failed store again from the step that failed, with a new deadline.
    Retry {
        /// The store: its id, an unambiguous id prefix (4+ characters), or the name of your live store.
        #[arg(value_name = "STORE")]
        id: String,
        /// Follow progress until the store is ready or failed.
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits (e.g. 90s, 10m, 1h); exit code 7 when it runs out.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a store's admin login (and Medusa's publishable key): yours only, once setup is done.
    Credentials {
        /// The store: its id, an unambiguous id prefix (4+ characters), or the name of your live store.
        #[arg(value_name = "STORE")]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a store's events; `--follow` streams them live.
    Events {
        /// The store: its id, an unambiguous id prefix (4+ characters), or the name of your live store.
        #[arg(value_name = "STORE")]
        id: String,
        /// Keep streaming new events live until the store is deleted (or Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// A value that must never be printed: `{:?}` shows `<redacted>`. Parsing never fails, so
/// clap cannot echo a mistyped key in its error; `PlatformKey::from_base64` says what is wrong.
#[derive(Clone)]
pub struct SecretArg(String);

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl SecretArg {
    /// The value itself, for the one place that parses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_argument_is_never_shown() {
        let arg: SecretArg = "c2VjcmV0".parse().expect("infallible");
        assert_eq!(format!("{arg:?}"), "<redacted>");
    }
}
