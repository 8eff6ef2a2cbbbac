//! The Kubernetes API server goes away in the middle of provisioning: the orchestrator backs off,
//! records events that say what is wrong, and completes the store once the API server is back.
//! A test binary of its own, because it stops the control plane its tests share.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use common::{create, env, wait_for};
use storefleet_domain::ConditionType;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioning_backs_off_while_the_api_server_is_down_and_completes_after() {
    let Some(env) = env("outage").await else {
        return;
    };
    let store = create(&env, "outage").await;
    wait_for(&env, store.id, "the namespace", |s| {
        s.status.conditions.is_true(ConditionType::NamespaceReady)
    })
    .await;
    env.cluster.stop_apiserver().expect("stop the API server");
    let down = wait_for(&env, store.id, "a few failed attempts", |s| {
        s.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("attempt 3"))
    })
    .await;
    let message = down.status.message.clone().unwrap_or_default();
    println!("while down: {message}");
    assert!(
        message.contains("the cluster is unreachable"),
        "the reason names the outage (classified, not the client's own text): {message}"
    );
    let events = env.state.events(store.id, 0, 200).await.expect("events");
    let warnings: Vec<_> = events.iter().filter(|e| e.reason == "StepFailed").collect();
    assert!(warnings.len() >= 3, "each failed attempt is an event");
    let gaps: Vec<_> = warnings
        .windows(2)
        .map(|w| (w[1].at - w[0].at).num_milliseconds())
        .collect();
    println!("gaps between attempts (ms): {gaps:?}");
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0] - 100),
        "retries back off: {gaps:?}"
    );

    env.cluster
        .start_apiserver()
        .expect("start the API server again");
    let done = wait_for(
        &env,
        store.id,
        "completion after the API server returned",
        |s| {
            s.status
                .conditions
                .reason_of(ConditionType::OrderCheckPassed)
                == Some("OrderCheckFailed")
        },
    )
    .await;
    for kind in &ConditionType::ORDER[..5] {
        assert!(
            done.status.conditions.is_true(*kind),
            "{kind:?} should be True once the API server is back"
        );
    }
    let _ = env.shutdown.send(true);
}
