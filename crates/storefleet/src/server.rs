//! Running the server processes: `serve` (API + orchestrator), `api` and `orchestrator`.

use crate::cli::{OrderCheckVia, ServerArgs};
use anyhow::Context as _;
use prometheus_client::registry::Registry;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use storefleet_api::{metrics::HttpMetrics, ApiConfig, AppState};
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::{ClusterDriver, ClusterSettings, NoCluster};
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

fn api_config(args: &ServerArgs) -> ApiConfig {
    ApiConfig {
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
        trust_forwarded_for: args.trust_forwarded_for,
        ..ApiConfig::default()
    }
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
    Ok(ClusterSettings {
        instance: args.instance.clone(),
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

/// The cluster driver: kubeconfig found the usual way (KUBECONFIG, ~/.kube/config, in-cluster).
/// Without one the orchestrator still runs and stores wait, each saying why.
async fn cluster_driver(args: &ServerArgs, settings: ClusterSettings) -> Arc<dyn ClusterDriver> {
    match kube::Client::try_default().await {
        Ok(client) => {
            let helm = Helm::new(
                args.helm.clone(),
                args.charts_dir.clone(),
                None,
                usize::from(args.helm_processes),
            );
            Arc::new(KubeDriver::new(client, settings, helm))
        }
        Err(e) => {
            tracing::warn!(error = %e, "no Kubernetes cluster configured; stores will wait for one");
            Arc::new(NoCluster(
                "no kubeconfig found and not running in a cluster".to_owned(),
            ))
        }
    }
}

pub async fn serve_until_shutdown(args: ServerArgs, role: Role) -> anyhow::Result<()> {
    let state = StateStore::connect(&args.db.database_url).await.context(
        "could not open the state store (check --database-url / STOREFLEET_DATABASE_URL)",
    )?;
    let platform_key = crate::platform_key::resolve(&args, role == Role::Both)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let signal = WorkSignal::default();
    let mut registry = Registry::with_prefix("storefleet");
    let http_metrics = HttpMetrics::register(&mut registry);
    let orchestrator_metrics =
        (role != Role::ApiOnly).then(|| OrchestratorMetrics::register(&mut registry));
    let registry = Arc::new(registry);

    let mut tasks = tokio::task::JoinSet::new();
    if let Some(metrics) = orchestrator_metrics {
        let settings = cluster_settings(&args)?;
        let driver = cluster_driver(&args, settings.clone()).await;
        let config = OrchestratorConfig {
            concurrency: usize::from(args.concurrency),
            lease: Duration::from_secs(args.lease_seconds),
            platform_key: platform_key.clone(),
            ..OrchestratorConfig::default()
        };
        let orchestrator = Orchestrator::new(
            Parts {
                state: state.clone(),
                driver,
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

    let router = match role {
        Role::OrchestratorOnly => storefleet_api::health::router(state.clone(), registry),
        Role::Both | Role::ApiOnly => {
            let in_process = (role == Role::Both).then(|| signal.clone());
            let config = ApiConfig {
                platform_key: platform_key.clone(),
                ..api_config(&args)
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
            storefleet_api::app(app_state, registry)
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    tracing::info!(listen = %args.listen, ?role, "storefleet listening");
    let mut server_shutdown = shutdown_rx.clone();
    let server = storefleet_api::serve(listener, router, async move {
        let _ = server_shutdown.changed().await;
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });
    server.await.context("HTTP server failed")?;
    while tasks.join_next().await.is_some() {}
    state.close().await;
    Ok(())
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
}
