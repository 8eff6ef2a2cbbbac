//! Table tests of the pure transition: every edge of a pass, no cluster, no database.

use super::*;
use storefleet_cluster::ClusterError;
use storefleet_domain::fixtures::{at, StoreBuilder};
use storefleet_domain::{ConditionType, DeletionStep};
use storefleet_state::EventKind;

const OWNER: &str = "orchestrator-test";

fn settings() -> ClusterSettings {
    ClusterSettings::default()
}

/// A transition together with the store it leaves behind (the new status on the old spec),
/// so a test can take the next turn from there.
struct Turned {
    store: Store,
    events: Vec<NewEvent>,
    attempts: i64,
    next: Next,
}

fn turned(mut store: Store, t: Transition) -> Turned {
    store.status = t.status;
    Turned {
        store,
        events: t.events,
        attempts: t.attempts,
        next: t.next,
    }
}

fn turn(store: Store, step: Step, outcome: StepOutcome, attempts: i64) -> Turned {
    let settings = settings();
    let rules = Rules {
        owner: OWNER,
        settings: &settings,
    };
    let t = apply(&store, step, outcome, attempts, at(100), &rules);
    turned(store, t)
}

fn concluded(store: Store, conclusion: Conclusion) -> Turned {
    let t = conclude(&store, conclusion);
    turned(store, t)
}

fn done(reason: &'static str, message: &str) -> StepOutcome {
    StepOutcome::Done {
        reason,
        message: message.to_owned(),
    }
}

fn waiting(message: &str) -> StepOutcome {
    StepOutcome::Waiting {
        reason: "WaitingForWorkloads",
        message: message.to_owned(),
        retry_after: Duration::from_secs(2),
    }
}

fn reasons(t: &Turned) -> Vec<(EventKind, &str)> {
    t.events
        .iter()
        .map(|e| (e.kind, e.reason.as_str()))
        .collect()
}

fn provisioning(done_through: usize) -> StoreBuilder {
    StoreBuilder::new("shop")
        .phase(Phase::Provisioning)
        .touched_cluster()
        .done_through(done_through)
}

#[test]
fn decisions_follow_phase_conditions_and_deadline() {
    let cases = [
        (
            "a new store starts with its namespace",
            StoreBuilder::new("shop").build(),
            at(0),
            Decision::Take(Step::Provision(ConditionType::NamespaceReady)),
        ),
        (
            "the first condition that is not true is next",
            provisioning(3).build(),
            at(0),
            Decision::Take(Step::Provision(ConditionType::WorkloadsReady)),
        ),
        (
            "every condition true: ready",
            provisioning(6).build(),
            at(0),
            Decision::Conclude(Conclusion::Ready),
        ),
        (
            "at the deadline a provisioning store fails, even one that is nearly there",
            provisioning(6).build(),
            at(600),
            Decision::Conclude(Conclusion::DeadlinePassed),
        ),
        (
            "a requested store can run out of time too",
            StoreBuilder::new("shop").build(),
            at(601),
            Decision::Conclude(Conclusion::DeadlinePassed),
        ),
        (
            "the deadline does not apply to a deletion",
            StoreBuilder::new("shop")
                .phase(Phase::Deleting)
                .touched_cluster()
                .build(),
            at(10_000),
            Decision::Take(Step::Delete(DeletionStep::DeleteNamespace)),
        ),
        (
            "nor to a ready store",
            provisioning(6).phase(Phase::Ready).build(),
            at(10_000),
            Decision::Conclude(Conclusion::Nothing),
        ),
        (
            "a store that never reached a cluster is deleted at once",
            StoreBuilder::new("shop").phase(Phase::Deleting).build(),
            at(0),
            Decision::Conclude(Conclusion::Deleted),
        ),
    ];
    for (case, store, now, want) in cases {
        assert_eq!(decide(&store, now), want, "{case}");
    }
}

#[test]
fn a_finished_step_sets_its_condition_clears_the_failures_and_continues() {
    let store = StoreBuilder::new("shop").message("old news").build();
    let t = turn(
        store,
        Step::Provision(ConditionType::NamespaceReady),
        done("NamespaceCreated", "namespace is ready"),
        3,
    );
    assert_eq!(t.store.status.phase, Phase::Provisioning);
    assert!(t
        .store
        .status
        .conditions
        .is_true(ConditionType::NamespaceReady));
    assert_eq!(t.store.status.message, None);
    assert_eq!(t.attempts, 0);
    assert_eq!(t.next, Next::Continue);
    assert_eq!(
        reasons(&t),
        vec![
            (EventKind::Normal, "Provisioning"),
            (EventKind::Normal, "NamespaceCreated")
        ],
        "a requested store says who started it, then what the step did"
    );
    assert_eq!(
        t.events[0].message,
        format!("provisioning started by {OWNER}")
    );
    assert_eq!(
        t.store
            .status
            .conditions
            .get(ConditionType::NamespaceReady)
            .map(|c| c.last_transition_time),
        Some(at(100))
    );
}

#[test]
fn an_installed_release_records_the_store_urls() {
    let t = turn(
        provisioning(2).build(),
        Step::Provision(ConditionType::ReleaseInstalled),
        done("ReleaseInstalled", "release store installed"),
        0,
    );
    assert_eq!(
        t.store.status.storefront_url.as_deref(),
        Some("http://shop.127.0.0.1.nip.io/")
    );
    assert_eq!(
        t.store.status.admin_url.as_deref(),
        Some("http://shop.127.0.0.1.nip.io/admin")
    );
    assert_eq!(reasons(&t), vec![(EventKind::Normal, "ReleaseInstalled")]);
}

#[test]
fn waiting_records_the_message_once_and_polls_with_a_watch() {
    let action = Step::Provision(ConditionType::WorkloadsReady);
    let first = turn(provisioning(3).build(), action, waiting("0/2 ready"), 1);
    assert_eq!(
        reasons(&first),
        vec![(EventKind::Normal, "WaitingForWorkloads")]
    );
    assert_eq!(first.store.status.message.as_deref(), Some("0/2 ready"));
    assert_eq!(first.attempts, 1, "waiting is not a failure");
    assert_eq!(
        first.next,
        Next::Wait {
            until: at(102),
            watch: Some((Watched::Workloads, Duration::from_secs(2)))
        }
    );
    let condition = first
        .store
        .status
        .conditions
        .get(ConditionType::WorkloadsReady);
    assert_eq!(
        condition.map(|c| (c.status, c.reason.as_str())),
        Some((ConditionStatus::False, "WaitingForWorkloads"))
    );

    let unchanged = turn(first.store.clone(), action, waiting("0/2 ready"), 1);
    assert!(
        unchanged.events.is_empty(),
        "the same message again adds no event"
    );
    let moved = turn(first.store, action, waiting("1/2 ready"), 1);
    assert_eq!(moved.events.len(), 1, "a new message is news");
}

#[test]
fn only_steps_with_something_to_watch_ask_for_a_watch() {
    let cases = [
        (
            Step::Provision(ConditionType::WorkloadsReady),
            Some(Watched::Workloads),
        ),
        (
            Step::Provision(ConditionType::StoreConfigured),
            Some(Watched::Jobs),
        ),
        (
            Step::Delete(DeletionStep::AwaitNamespaceGone),
            Some(Watched::NamespaceGone),
        ),
        (Step::Provision(ConditionType::OrderCheckPassed), None),
    ];
    for (action, want) in cases {
        let store = provisioning(3).phase(Phase::Provisioning).build();
        let t = turn(store, action, waiting("not yet"), 0);
        let Next::Wait { watch, .. } = t.next else {
            panic!("{action:?} should wait");
        };
        assert_eq!(watch.map(|(what, _)| what), want, "{action:?}");
    }
}

#[test]
fn a_transient_error_backs_off_and_says_which_attempt_it_was() {
    let cases = [(0, 1, 1), (1, 2, 2), (2, 3, 4), (5, 6, 32), (9, 10, 60)];
    for (before, attempt, delay) in cases {
        let t = turn(
            provisioning(3).build(),
            Step::Provision(ConditionType::WorkloadsReady),
            StepOutcome::Error(ClusterError::Unavailable(
                "tcp connect error: Connection refused to 10.96.0.1:443".into(),
            )),
            before,
        );
        assert_eq!(t.attempts, attempt);
        assert_eq!(
            t.next,
            Next::Wait {
                until: at(100 + delay),
                watch: None
            },
            "attempt {attempt} waits {delay} s, watching nothing"
        );
        let want = format!(
            "workloads failed: the cluster is unreachable; attempt {attempt}, retrying in {delay} s"
        );
        assert_eq!(t.store.status.message.as_deref(), Some(want.as_str()));
        assert_eq!(reasons(&t), vec![(EventKind::Warning, "StepFailed")]);
        assert_eq!(t.events[0].message, want);
        assert_eq!(
            t.store
                .status
                .conditions
                .get(ConditionType::WorkloadsReady)
                .map(|c| c.reason.as_str()),
            Some("Retrying")
        );
        assert_eq!(t.store.status.phase, Phase::Provisioning);
    }
}

/// The tenant sees a reason from a closed set; the cluster's own text (service accounts,
/// addresses, paths, other objects) never reaches the store's message, condition or events.
#[test]
fn a_failed_step_shows_the_tenant_a_classified_reason_never_the_raw_error() {
    let raw = [
        (
            ClusterError::Rejected(
                "pods \"medusa-0\" is forbidden: exceeded quota: store, requested: limits.memory=4Gi"
                    .into(),
            ),
            "the store's resource quota does not allow it",
        ),
        (
            ClusterError::Rejected(
                "rolebindings is forbidden: User \"system:serviceaccount:storefleet:storefleet-orchestrator\" cannot create"
                    .into(),
            ),
            "the cluster did not permit the platform to do it",
        ),
        (
            ClusterError::Helm("Error: INSTALLATION FAILED: template: medusa/templates/server.yaml:7".into()),
            "the cluster refused the store's release",
        ),
        (
            ClusterError::Helm("helm upgrade timed out after 300 s".into()),
            "timed out waiting for the cluster",
        ),
    ];
    for (error, want) in raw {
        let leak = error.to_string();
        let t = turn(
            provisioning(2).build(),
            Step::Provision(ConditionType::ReleaseInstalled),
            StepOutcome::Error(error),
            0,
        );
        let message = t.store.status.message.clone().unwrap_or_default();
        assert_eq!(
            message,
            format!("release failed: {want}; attempt 1, retrying in 1 s")
        );
        let condition = t
            .store
            .status
            .conditions
            .get(ConditionType::ReleaseInstalled)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        for shown in [&message, &condition, &t.events[0].message] {
            for fragment in ["serviceaccount", "medusa-0", "templates/", "300 s", "4Gi"] {
                assert!(
                    !shown.contains(fragment),
                    "{fragment:?} leaked from {leak:?}: {shown}"
                );
            }
        }
    }
}

#[test]
fn a_fatal_outcome_fails_and_settles_the_store() {
    let store = provisioning(2).generation(3).build();
    let t = turn(
        store,
        Step::Provision(ConditionType::ReleaseInstalled),
        StepOutcome::Fatal {
            reason: "ReleaseImpossible",
            message: "engine chart /opt/storefleet/charts/nope not found".into(),
        },
        4,
    );
    assert_eq!(t.store.status.phase, Phase::Failed);
    let want =
        "release failed: the platform cannot install this engine; its operator has been told";
    assert_eq!(t.store.status.message.as_deref(), Some(want));
    assert_eq!(t.events[0].message, want);
    assert_eq!(t.store.status.observed_generation, 3);
    assert_eq!(t.attempts, 0);
    assert_eq!(t.next, Next::Settle);
    assert_eq!(reasons(&t), vec![(EventKind::Warning, "ReleaseImpossible")]);
    assert_eq!(
        t.store
            .status
            .conditions
            .reason_of(ConditionType::ReleaseInstalled),
        Some("ReleaseImpossible")
    );
}

#[test]
fn past_the_deadline_the_store_fails_with_its_last_state() {
    let cases = [
        (Some("0/2 ready"), "last state: 0/2 ready"),
        (None, "last state: no step had finished"),
    ];
    for (message, want) in cases {
        let mut builder = provisioning(3).generation(2);
        if let Some(m) = message {
            builder = builder.message(m);
        }
        let t = concluded(builder.build(), Conclusion::DeadlinePassed);
        assert_eq!(t.store.status.phase, Phase::Failed);
        let got = t.store.status.message.clone().unwrap_or_default();
        assert!(
            got.starts_with("provisioning did not finish before its deadline")
                && got.ends_with(want),
            "{got}"
        );
        assert_eq!(
            reasons(&t),
            vec![(EventKind::Warning, "ProvisioningTimeout")]
        );
        assert_eq!(
            (t.next, t.store.status.observed_generation),
            (Next::Settle, 2)
        );
    }
}

#[test]
fn conclusions_without_a_cluster_settle() {
    let ready = concluded(provisioning(6).message("x").build(), Conclusion::Ready);
    assert_eq!(ready.store.status.phase, Phase::Ready);
    assert_eq!(ready.store.status.message, None);
    assert_eq!(reasons(&ready), vec![(EventKind::Normal, "Ready")]);

    let gone = concluded(
        StoreBuilder::new("shop").phase(Phase::Deleting).build(),
        Conclusion::Deleted,
    );
    assert_eq!(gone.store.status.phase, Phase::Deleted);
    assert_eq!(
        gone.events[0].message,
        "store deleted: nothing was created in the cluster"
    );

    let before = provisioning(6).phase(Phase::Ready).build();
    let nothing = concluded(before.clone(), Conclusion::Nothing);
    assert!(nothing.events.is_empty());
    assert_eq!(nothing.store.status.phase, before.status.phase);
    for t in [ready, gone, nothing] {
        assert_eq!((t.next, t.attempts), (Next::Settle, 0));
        assert_eq!(t.store.status.observed_generation, t.store.generation);
    }
}

#[test]
fn deletion_requests_the_namespace_then_settles_once_it_is_gone() {
    let deleting = StoreBuilder::new("shop")
        .phase(Phase::Deleting)
        .touched_cluster()
        .done_through(6)
        .build();
    let requested = turn(
        deleting,
        Step::Delete(DeletionStep::DeleteNamespace),
        done("NamespaceDeleting", "namespace is being deleted"),
        0,
    );
    assert_eq!(requested.next, Next::Continue);
    assert_eq!(
        requested.store.status.deletion_done,
        Some(DeletionStep::DeleteNamespace),
        "deletion progress is explicit state"
    );
    assert_eq!(
        requested
            .store
            .status
            .conditions
            .get(ConditionType::NamespaceReady)
            .map(|c| (c.status, c.reason.as_str())),
        Some((ConditionStatus::False, "Deleting")),
        "and shows on the condition as before, for people"
    );
    assert_eq!(
        decide(&requested.store, at(100)),
        Decision::Take(Step::Delete(DeletionStep::AwaitNamespaceGone)),
        "the next decision knows the namespace deletion was requested"
    );
    assert_eq!(
        reasons(&requested),
        vec![(EventKind::Normal, "NamespaceDeleting")]
    );

    let still_there = turn(
        requested.store.clone(),
        Step::Delete(DeletionStep::AwaitNamespaceGone),
        StepOutcome::Waiting {
            reason: "NamespaceTerminating",
            message: "waiting for namespace to be removed".into(),
            retry_after: Duration::from_secs(2),
        },
        0,
    );
    assert_eq!(still_there.store.status.phase, Phase::Deleting);
    assert!(matches!(still_there.next, Next::Wait { .. }));

    let gone = turn(
        requested.store,
        Step::Delete(DeletionStep::AwaitNamespaceGone),
        done("NamespaceGone", "namespace store-shop-1 is gone"),
        0,
    );
    assert_eq!(gone.store.status.phase, Phase::Deleted);
    assert_eq!(gone.next, Next::Settle);
    assert_eq!(reasons(&gone), vec![(EventKind::Normal, "Deleted")]);
    assert_eq!(
        gone.events[0].message,
        "store deleted: namespace store-shop-1 is gone"
    );
}

#[test]
fn what_comes_next_decides_when_the_store_is_due_again() {
    let store = provisioning(1).build();
    let cases = [
        (Next::Continue, at(100)),
        (
            Next::Wait {
                until: at(130),
                watch: None,
            },
            at(130),
        ),
        (Next::Settle, at(100) + SETTLED_RECHECK),
    ];
    for (next, due) in cases {
        let t = Transition {
            status: store.status.clone(),
            events: Vec::new(),
            attempts: 2,
            next: next.clone(),
        };
        let (progress, back) = t.into_progress(store.id, at(100));
        assert_eq!(progress.next_attempt_at, due, "{next:?}");
        assert_eq!((back, progress.attempts), (next, 2));
    }
}
