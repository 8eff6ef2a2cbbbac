//! Orchestrator against a real Kubernetes API server (envtest convention; skipped without one).
//! Helm runs for real on fixture charts; a kubelet stand-in marks workloads ready, since no
//! node runs pods here.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use chrono::Utc;
use common::{create, create_engine, engine_charts, env, env_with_charts, wait_for};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, PostParams};
use std::time::Duration;
use storefleet_domain::secrets::{key, CREDENTIALS_SECRET};
use storefleet_domain::{ConditionType, Engine, Phase};
use storefleet_state::fixtures::audit_entry;

async fn objects_labelled(client: &kube::Client, store_id: &str) -> usize {
    let lp = ListParams::default().labels(&format!("storefleet.io/store-id={store_id}"));
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    let quotas = Api::<ResourceQuota>::all(client.clone())
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    let secrets = Api::<Secret>::all(client.clone())
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    let policies = Api::<NetworkPolicy>::all(client.clone())
        .list(&lp)
        .await
        .expect("list")
        .items
        .len();
    namespaces + quotas + secrets + policies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_gets_namespace_guardrails_and_release_and_deleting_it_leaves_nothing() {
    let Some(env) = env("lifecycle").await else {
        return;
    };
    let store = create(&env, "lifecycle").await;
    let ns = store.namespace.clone();

    let configured = wait_for(&env, store.id, "setup complete", |s| {
        s.status.conditions.is_true(ConditionType::StoreConfigured)
    })
    .await;
    assert_eq!(configured.status.phase, Phase::Provisioning);
    for kind in &ConditionType::ORDER[..5] {
        assert!(
            configured.status.conditions.is_true(*kind),
            "{kind:?} should be True"
        );
    }
    let order_check = wait_for(&env, store.id, "order check verdict", |s| {
        s.status
            .conditions
            .get(ConditionType::OrderCheckPassed)
            .is_some()
    })
    .await;
    assert_eq!(
        order_check
            .status.conditions
            .reason_of(ConditionType::OrderCheckPassed),
        Some("OrderCheckFailed"),
        "no store is reachable here, so no order can go through and the store must not be called ready"
    );
    assert_ne!(order_check.status.phase, Phase::Ready);
    assert_eq!(
        order_check.status.storefront_url.as_deref(),
        Some("http://lifecycle.127.0.0.1.nip.io/")
    );

    let namespace = Api::<Namespace>::all(env.client.clone())
        .get(&ns)
        .await
        .expect("namespace");
    let labels = namespace.metadata.labels.expect("labels");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "storefleet");
    assert_eq!(labels["storefleet.io/store-id"], store.id.to_string());
    assert_eq!(labels["storefleet.io/owner"], "tester");
    let quota = Api::<ResourceQuota>::namespaced(env.client.clone(), &ns)
        .get("store-quota")
        .await
        .expect("quota");
    assert_eq!(
        quota.spec.and_then(|s| s.hard).expect("hard")["requests.memory"].0,
        "2Gi"
    );
    Api::<LimitRange>::namespaced(env.client.clone(), &ns)
        .get("store-limits")
        .await
        .expect("limit range");
    let policies = Api::<NetworkPolicy>::namespaced(env.client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("policies");
    assert_eq!(policies.items.len(), 3);
    let binding = Api::<RoleBinding>::namespaced(env.client.clone(), &ns)
        .get("storefleet-orchestrator")
        .await
        .expect("binding");
    assert_eq!(binding.role_ref.name, "storefleet-store-admin");
    let secret = Api::<Secret>::namespaced(env.client.clone(), &ns)
        .get(CREDENTIALS_SECRET)
        .await
        .expect("credentials");
    let data = secret.data.expect("data");
    assert_eq!(data[key::ADMIN_PASSWORD].0.len(), 24);
    // Once setup was complete, the owner's copy was sealed into the state store: the same
    // password, no database password, nothing readable without the platform key.
    let sealed = env
        .state
        .sealed_credentials(store.id)
        .await
        .expect("read")
        .expect("a credential copy once setup is complete");
    let password = String::from_utf8(data[key::ADMIN_PASSWORD].0.clone()).expect("utf-8");
    assert!(!sealed.contains(&password));
    let copy = env
        .platform_key
        .open_credentials(store.id, &sealed)
        .expect("opens with the platform key");
    assert_eq!(copy.admin_password.as_deref(), Some(password.as_str()));
    assert_eq!(
        copy.admin_email,
        data.get(key::ADMIN_EMAIL)
            .map(|v| String::from_utf8(v.0.clone()).expect("utf-8"))
    );
    let releases = Api::<Secret>::namespaced(env.client.clone(), &ns)
        .list(&ListParams::default().labels("owner=helm,name=store"))
        .await
        .expect("releases");
    assert_eq!(releases.items.len(), 1, "exactly one helm release revision");

    env.state
        .request_delete(store.id, &audit_entry("tester", "store.delete"), Utc::now())
        .await
        .expect("delete");
    env.signal.wake();
    let deleted = wait_for(&env, store.id, "deleted", |s| {
        s.status.phase == Phase::Deleted
    })
    .await;
    assert_eq!(deleted.status.observed_generation, deleted.generation);
    assert_eq!(
        env.state.sealed_credentials(store.id).await.expect("read"),
        None,
        "the credential copy outlived the store"
    );
    assert_eq!(
        objects_labelled(&env.client, &store.id.to_string()).await,
        0,
        "something labelled with the store id is left"
    );
    assert!(Api::<Namespace>::all(env.client.clone())
        .get_opt(&ns)
        .await
        .expect("get")
        .is_none());
    // Waiting on pods, the setup Job and the namespace's removal, the store was brought
    // forward by watch events, not only by its 2 s poll.
    assert!(
        env.metrics.early_wakes.get() >= 1,
        "no watch event ever woke the store"
    );
    let _ = env.shutdown.send(true);
}

/// A labelled namespace for `store_id`, as the installation with id `installation` and
/// instance name `instance` makes them.
fn labelled_namespace(name: &str, instance: &str, installation: &str, store_id: &str) -> Namespace {
    Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                [
                    ("app.kubernetes.io/managed-by", "storefleet"),
                    ("storefleet.io/instance", instance),
                    ("storefleet.io/installation", installation),
                    ("storefleet.io/store-id", store_id),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_namespace_no_live_store_owns_is_swept() {
    let Some(env) = env("sweep").await else {
        return;
    };
    // A store this database knew, deleted: a namespace still labelled with it is an orphan.
    let store = create(&env, "gone-soon").await;
    let made = wait_for(&env, store.id, "namespace made", |s| {
        s.status.conditions.is_true(ConditionType::NamespaceReady)
    })
    .await;
    let labels = Api::<Namespace>::all(env.client.clone())
        .get(&made.namespace)
        .await
        .expect("the store's namespace")
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels.get("storefleet.io/installation"),
        Some(&env.settings.installation),
        "every store namespace carries this installation's id"
    );
    env.state
        .request_delete(
            store.id,
            &storefleet_state::fixtures::audit_entry("alice", "store.delete"),
            chrono::Utc::now(),
        )
        .await
        .expect("delete");
    wait_for(&env, store.id, "deleted", |s| {
        s.status.phase == storefleet_domain::Phase::Deleted
    })
    .await;
    let namespaces = Api::<Namespace>::all(env.client.clone());
    let instance = env.settings.instance.as_str();
    let ours = env.settings.installation.as_str();
    assert_eq!(ours.len(), 32, "a random id from the state store: {ours:?}");
    namespaces
        .create(
            &PostParams::default(),
            &labelled_namespace("store-orphan-abc123", instance, ours, &store.id.to_string()),
        )
        .await
        .expect("create orphan");
    // One this database has never seen, as another installation's with the same labels.
    namespaces
        .create(
            &PostParams::default(),
            &labelled_namespace(
                "store-stranger-def456",
                instance,
                ours,
                "01930000-0000-7000-8000-000000000000",
            ),
        )
        .await
        .expect("create stranger");
    // Another installation with the same instance name, whose store id this database knows
    // (a copied label, or two installations that both had this store): not ours to sweep.
    namespaces
        .create(
            &PostParams::default(),
            &labelled_namespace(
                "store-elsewhere-fed789",
                instance,
                "0123456789abcdef0123456789abcdef",
                &store.id.to_string(),
            ),
        )
        .await
        .expect("create another installation's namespace");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ns = namespaces
            .get_opt("store-orphan-abc123")
            .await
            .expect("get");
        if ns.is_none_or(|n| n.metadata.deletion_timestamp.is_some()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "orphan namespace was not swept"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Sweeps run every 2 s here: after three more, the stranger is still untouched.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stranger = namespaces
        .get_opt("store-stranger-def456")
        .await
        .expect("get")
        .expect("a namespace of a store this database never saw is left alone");
    assert!(stranger.metadata.deletion_timestamp.is_none());
    let elsewhere = namespaces
        .get_opt("store-elsewhere-fed789")
        .await
        .expect("get")
        .expect("another installation's namespace is left alone");
    assert!(elsewhere.metadata.deletion_timestamp.is_none());
    let _ = env.shutdown.send(true);
}

/// The real engine charts install into a fenced namespace: the quota, limit range and role
/// binding the orchestrator applied first admit everything they create.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_engine_charts_install_under_the_store_s_quota() {
    let Some(env) = env_with_charts("engines", engine_charts()).await else {
        return;
    };
    let mut stores = Vec::new();
    for (name, engine) in [
        ("real-woo", Engine::Woocommerce),
        ("real-medusa", Engine::Medusa),
    ] {
        stores.push(create_engine(&env, name, engine).await);
    }
    for store in &stores {
        let installed = wait_for(&env, store.id, "release installed and set up", |s| {
            s.status.conditions.is_true(ConditionType::StoreConfigured)
        })
        .await;
        assert!(
            installed
                .status
                .conditions
                .is_true(ConditionType::ReleaseInstalled),
            "{:?}",
            installed.status.conditions
        );
        let deployed = Api::<Secret>::namespaced(env.client.clone(), &store.namespace)
            .list(&ListParams::default().labels("owner=helm,name=store,status=deployed"))
            .await
            .expect("releases");
        assert_eq!(
            deployed.items.len(),
            1,
            "{} has one deployed release",
            store.spec.engine
        );
    }
    for store in &stores {
        env.state
            .request_delete(store.id, &audit_entry("tester", "store.delete"), Utc::now())
            .await
            .expect("delete");
    }
    env.signal.wake();
    for store in &stores {
        wait_for(&env, store.id, "deleted", |s| {
            s.status.phase == Phase::Deleted
        })
        .await;
        assert_eq!(
            objects_labelled(&env.client, &store.id.to_string()).await,
            0
        );
    }
    let _ = env.shutdown.send(true);
}
