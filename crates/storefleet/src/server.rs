//! Running the server processes: `serve` (API + orchestrator), `api` and `orchestrator`.

use crate::cli::{OrderCheckVia, ServerArgs};
use anyhow::Context as _;
use prometheus_client::registry::Registry;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use storefleet_api::{metrics::HttpMetrics, ApiConfig, AppState};
use storefleet_cluster::ClusterSettings;
use storefleet_orchestrator::metrics::OrchestratorMetrics;
use storefleet_orchestrator::{Orchestrator, OrchestratorConfig, Parts};
use storefleet_ordercheck::HttpOrderCheck;
use storefleet_state::{CreateLimits, Dialect, StateStore, WorkSignal};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Both,
    ApiOnly,
    OrchestratorOnly,
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn api_config(args: &ServerArgs) -> anyhow::Result<ApiConfig> {
    let trusted_proxies = storefleet_api::client_ip::TrustedProxies::parse(&args.trusted_proxies)
        .context("--trusted-proxies / STOREFLEET_TRUSTED_PROXIES")?;
    let store_domain = storefleet_domain::StoreDomain::parse(&args.store_domain)
        .context("--store-domain / STOREFLEET_STORE_DOMAIN")?;
    let hosts = storefleet_domain::StoreHosts::new(
        store_domain,
        !args.tls_issuer.is_empty(),
        &args.platform_hosts,
    );
    Ok(ApiConfig {
        hosts,
        limits: CreateLimits {
            per_user: i64::from(args.max_stores_per_user),
            total: i64::from(args.max_stores_total),
        },
        cluster_name: args.cluster_name.clone(),
        provisioning_deadline: chrono::Duration::seconds(
            i64::try_from(args.provisioning_deadline_seconds).unwrap_or(600),
        ),
        rate_per_user_per_minute: non_zero(args.rate_per_user),
        rate_per_ip_per_minute: non_zero(args.rate_per_ip),
        credential_reads_per_minute: non_zero(args.credential_reads_per_user),
        max_streams_per_user: usize::from(args.max_streams_per_user),
        stream_max_lifetime: Duration::from_secs(args.stream_max_seconds),
        trusted_proxies,
        ..ApiConfig::default()
    })
}

fn cluster_settings(args: &ServerArgs) -> anyhow::Result<ClusterSettings> {
    let (sa_namespace, sa_name) = args
        .orchestrator_service_account
        .split_once('/')
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty())
        .context("--orchestrator-service-account must be NAMESPACE/NAME")?;
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let store_domain = storefleet_domain::StoreDomain::parse(&args.store_domain)
        .context("--store-domain / STOREFLEET_STORE_DOMAIN")?;
    let mut ingress_from = Vec::new();
    for entry in args
        .store_ingress_from
        .iter()
        .filter(|e| !e.trim().is_empty())
    {
        ingress_from.push(
            storefleet_cluster::IngressPeer::parse(entry)
                .map_err(anyhow::Error::msg)
                .context("--store-ingress-from / STOREFLEET_STORE_INGRESS_FROM")?,
        );
    }
    if ingress_from.is_empty() {
        ingress_from = storefleet_cluster::IngressPeer::defaults();
    }
    let kube_api_cidrs = args
        .kube_api_cidrs
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.to_string())
                .with_context(|| format!("--kube-api-cidrs: {c:?} is not a CIDR range"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ClusterSettings {
        instance: args.instance.clone(),
        ingress_from,
        kube_api_cidrs,
        store_domain: store_domain.to_string(),
        ingress_class: non_empty(&args.ingress_class),
        tls_issuer: non_empty(&args.tls_issuer),
        orchestrator_service_account: (sa_namespace.to_owned(), sa_name.to_owned()),
        platform_namespace: args.platform_namespace.clone(),
        order_check_via: match args.order_check_via {
            OrderCheckVia::Ingress => storefleet_cluster::OrderCheckVia::Ingress,
            OrderCheckVia::Service => storefleet_cluster::OrderCheckVia::Service,
            OrderCheckVia::ServiceIp => storefleet_cluster::OrderCheckVia::ServiceIp,
        },
        ..ClusterSettings::default()
    })
}

/// How long open connections (event streams above all) get to finish after a shutdown signal
/// before they are closed: a pod's rollout must not wait for its grace period's SIGKILL.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the process serves and acts on: one log line always, and a banner on a terminal.
fn announce(args: &ServerArgs, role: Role, address: std::net::SocketAddr) {
    let url = format!("http://{address}");
    let database = crate::database_url::describe(&args.db.database_url);
    let cluster = (role != Role::ApiOnly).then(crate::cluster_connect::description);
    tracing::info!(listen = %address, ?role, %database, cluster = cluster.as_deref().unwrap_or("-"), "storefleet listening");
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        if role != Role::OrchestratorOnly {
            eprintln!("  dashboard  {url}/");
            eprintln!("  API        {url}/api/v1 (docs: {url}/api/v1/openapi.json)");
        } else {
            eprintln!("  health     {url}/healthz");
        }
        eprintln!("  database   {database}");
        if let Some(cluster) = cluster {
            eprintln!("  cluster    {cluster}");
        }
    }
}

pub async fn serve_until_shutdown(args: ServerArgs, role: Role) -> anyhow::Result<()> {
    // The port first: a second `serve` on a taken port stops here, before it opens the
    // database or starts an orchestrator that would work beside the first one.
    let listener = tokio::net::TcpListener::bind(args.listen.as_str())
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let api_config = api_config(&args)?;
    let state = open_state(&args.db.database_url).await?;
    let platform_key = crate::platform_key::resolve(&args, role == Role::Both)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let signal = WorkSignal::default();
    let mut registry = Registry::with_prefix("storefleet");
    let http_metrics = HttpMetrics::register(&mut registry);
    let orchestrator_metrics =
        (role != Role::ApiOnly).then(|| OrchestratorMetrics::register(&mut registry));
    let registry = Arc::new(registry);

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(crate::retention::prune_expired(
        state.clone(),
        args.audit_retention_days,
        shutdown_rx.clone(),
    ));
    if let Some(metrics) = orchestrator_metrics {
        let settings = ClusterSettings {
            installation: state
                .installation_id()
                .await
                .context("reading this installation's id from the state store")?,
            ..cluster_settings(&args)?
        };
        let cluster = crate::cluster_connect::connect(&args, settings.clone()).await;
        let config = OrchestratorConfig {
            cluster_address: cluster.address,
            concurrency: usize::from(args.concurrency),
            lease: Duration::from_secs(args.lease_seconds),
            platform_key: platform_key.clone(),
            sweep_unknown_namespaces: args.sweep_unknown_namespaces,
            ..OrchestratorConfig::default()
        };
        let orchestrator = Orchestrator::new(
            Parts {
                state: state.clone(),
                driver: cluster.driver,
                settings,
                order_check: Arc::new(HttpOrderCheck::default()),
            },
            config,
            signal.clone(),
            metrics,
        );
        tasks.spawn(orchestrator.run_until_shutdown(shutdown_rx.clone()));
        if state.dialect() == Dialect::Postgres {
            tasks.spawn(storefleet_orchestrator::forward_notifications(
                args.db.database_url.clone(),
                signal.clone(),
                shutdown_rx.clone(),
            ));
        }
    }

    // With a metrics address, /metrics lives only there; the main port never serves it.
    let metrics_here = args.metrics_listen.is_none().then(|| registry.clone());
    if let Some(address) = args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address} (--metrics-listen)"))?;
        tracing::info!(listen = %address, "metrics listening");
        let mut metrics_shutdown = shutdown_rx.clone();
        let metrics = storefleet_api::health::metrics_router(registry.clone());
        tasks.spawn(async move {
            let stopped = storefleet_api::serve(listener, metrics, async move {
                let _ = metrics_shutdown.changed().await;
            });
            if let Err(e) = stopped.await {
                tracing::error!(error = %e, "metrics server failed");
            }
        });
    }
    let router = match role {
        Role::OrchestratorOnly => storefleet_api::health::router(state.clone(), metrics_here),
        Role::Both | Role::ApiOnly => {
            let in_process = (role == Role::Both).then(|| signal.clone());
            let config = ApiConfig {
                platform_key: platform_key.clone(),
                ..api_config
            };
            let app_state = AppState::new(state.clone(), config, in_process, http_metrics);
            if state.dialect() == Dialect::Postgres {
                // Other replicas' changes reach this one's read caches through NOTIFY, and a
                // rotated token stops working now, not when its cache entry expires.
                let changes = state.changes().clone();
                let tokens = app_state.clone();
                tasks.spawn(storefleet_state::listen(
                    args.db.database_url.clone(),
                    &[
                        storefleet_state::STORES_CHANNEL,
                        storefleet_state::USERS_CHANNEL,
                    ],
                    move |channel| {
                        if channel == storefleet_state::USERS_CHANNEL {
                            tokens.forget_tokens();
                        } else {
                            changes.bump();
                        }
                    },
                    shutdown_rx.clone(),
                ));
            } else if !args.db.database_url.contains(":memory:") {
                // SQLite cannot notify: notice other connections' commits (a token rotated by
                // the CLI, an orchestrator process sharing the file) by polling data_version.
                let tokens = app_state.clone();
                let changes = state.changes().clone();
                tasks.spawn(storefleet_state::watch_sqlite(
                    args.db.database_url.clone(),
                    move || {
                        tokens.forget_tokens();
                        changes.bump();
                    },
                    shutdown_rx.clone(),
                ));
            }
            storefleet_api::app_with(app_state, metrics_here)
        }
    };
    announce(&args, role, address);
    let mut server_shutdown = shutdown_rx.clone();
    let server = storefleet_api::serve(listener, router, async move {
        let _ = server_shutdown.changed().await;
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });
    let mut grace_over = shutdown_rx.clone();
    tokio::select! {
        served = server => served.context("HTTP server failed")?,
        () = async move {
            let _ = grace_over.changed().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::info!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "closing the connections still open (event streams)");
        }
    }
    while tasks.join_next().await.is_some() {}
    state.close().await;
    Ok(())
}

/// Open the state store and stop at startup when it cannot take writes: serving from a
/// read-only database would answer every create and delete with 503 while looking alive.
async fn open_state(url: &str) -> anyhow::Result<StateStore> {
    let opened = match StateStore::connect(url).await {
        Ok(state) => state.check_writable().await.map(|()| state),
        Err(e) => Err(e),
    };
    match opened {
        Ok(state) => Ok(state),
        Err(e) if e.fault() == Some(storefleet_state::StorageFault::ReadOnly) => {
            Err(anyhow::anyhow!(
            "the state store is read-only ({e}); Storefleet must write to it: check the SQLite \
             file's permissions and mount, or that PostgreSQL is a primary that accepts writes \
             (not a standby, default_transaction_read_only off)"
        ))
        }
        Err(e) => Err(anyhow::Error::new(e).context(
            "could not open the state store (check --database-url / STOREFLEET_DATABASE_URL)",
        )),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn serve_args(extra: &[&str]) -> ServerArgs {
        let argv = ["storefleet", "serve"]
            .into_iter()
            .chain(extra.iter().copied());
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Serve(args) => args,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn trusted_proxies_are_parsed_and_a_bad_one_stops_startup() {
        let config = api_config(&serve_args(&[
            "--trusted-proxies",
            "10.42.0.0/16,192.0.2.7",
        ]))
        .expect("valid proxies");
        assert_eq!(
            config.trusted_proxies,
            storefleet_api::client_ip::TrustedProxies::parse(&["10.42.0.0/16", "192.0.2.7"])
                .expect("parse")
        );
        assert!(api_config(&serve_args(&[]))
            .expect("none")
            .trusted_proxies
            .is_empty());
        // The platform chart renders an empty list as an empty value (found on the real node:
        // the API pod refused to start).
        assert!(api_config(&serve_args(&["--trusted-proxies", ""]))
            .expect("an empty list")
            .trusted_proxies
            .is_empty());
        let e = api_config(&serve_args(&["--trusted-proxies", "10.0.0.0/33"])).expect_err("bad");
        let message = format!("{e:#}");
        assert!(message.contains("--trusted-proxies"), "{message}");
        assert!(message.contains("CIDR"), "{message}");
    }

    #[test]
    fn a_bad_store_domain_stops_startup_with_what_is_allowed() {
        for bad in [
            "Shops.Example.com",
            "https://shops.example.com",
            "a..b",
            "shops.example.com.",
        ] {
            let e = cluster_settings(&serve_args(&["--store-domain", bad])).expect_err(bad);
            let message = format!("{e:#}");
            assert!(message.contains("--store-domain"), "{message}");
            assert!(message.contains("allowed: a DNS name"), "{message}");
        }
        let ok = cluster_settings(&serve_args(&["--store-domain", "shops.example.com"]))
            .expect("a usual domain");
        assert_eq!(ok.store_domain, "shops.example.com");
    }

    #[test]
    fn the_platform_hosts_reserve_their_store_names_and_tls_makes_urls_https() {
        let config = api_config(&serve_args(&[
            "--store-domain",
            "shops.example.com",
            "--platform-hosts",
            "fleet.shops.example.com,api.other.example.org",
            "--tls-issuer",
            "letsencrypt",
        ]))
        .expect("valid settings");
        let name = |n: &str| storefleet_domain::StoreName::parse(n).expect("name");
        assert!(config.hosts.check(&name("fleet")).is_err());
        assert!(config.hosts.check(&name("other")).is_ok());
        assert_eq!(
            config.hosts.url(&name("shop")),
            "https://shop.shops.example.com/"
        );
        // The chart renders an unset list as an empty value.
        let plain = api_config(&serve_args(&["--platform-hosts", ""])).expect("empty list");
        assert_eq!(
            plain.hosts.url(&name("shop")),
            "http://shop.127.0.0.1.nip.io/"
        );
    }

    #[test]
    fn store_fence_settings_are_parsed_and_bad_ones_stop_startup() {
        let defaults = cluster_settings(&serve_args(&[])).expect("defaults");
        assert_eq!(
            defaults.ingress_from,
            storefleet_cluster::IngressPeer::defaults()
        );
        assert!(defaults.kube_api_cidrs.is_empty());
        let set = cluster_settings(&serve_args(&[
            "--store-ingress-from",
            "ingress-nginx:app.kubernetes.io/name=ingress-nginx;edge:app=proxy,tier=web",
            "--kube-api-cidrs",
            "10.43.0.1,192.168.5.0/24",
        ]))
        .expect("valid settings");
        let namespaces: Vec<_> = set
            .ingress_from
            .iter()
            .map(|p| p.namespace.as_str())
            .collect();
        assert_eq!(namespaces, ["ingress-nginx", "edge"]);
        assert_eq!(set.ingress_from[1].pod_labels.len(), 2);
        assert_eq!(set.kube_api_cidrs, ["10.43.0.1/32", "192.168.5.0/24"]);
        for (flag, bad, needle) in [
            (
                "--store-ingress-from",
                "kube-system",
                "--store-ingress-from",
            ),
            ("--store-ingress-from", "kube-system:", "at least one label"),
            ("--kube-api-cidrs", "10.43.0.1/33", "not a CIDR range"),
        ] {
            let e = cluster_settings(&serve_args(&[flag, bad])).expect_err(bad);
            let message = format!("{e:#}");
            assert!(message.contains(needle), "{bad}: {message}");
        }
    }
}
