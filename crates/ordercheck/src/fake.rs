//! A scripted order check for tests (feature `test-support`): answers from its script, or
//! with a placed order once the script is used up, and remembers every target it was given.

use crate::{OrderCheck, OrderCheckError, OrderCheckFailure, OrderReport, Target};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
struct Inner {
    script: VecDeque<Result<OrderReport, OrderCheckFailure>>,
    targets: Vec<Target>,
}

#[derive(Default)]
pub struct FakeOrderCheck {
    inner: Mutex<Inner>,
}

/// A failure of `step` with the engine's HTTP `status` and `message`, as a store would answer.
pub fn refused(step: &'static str, status: u16, message: &str) -> OrderCheckFailure {
    OrderCheckFailure {
        error: OrderCheckError::Status {
            step,
            status,
            message: message.to_owned(),
            code: None,
        },
        steps: Vec::new(),
        total: Duration::ZERO,
    }
}

impl FakeOrderCheck {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock has failed already; keep answering.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn script(
        &self,
        replies: impl IntoIterator<Item = Result<OrderReport, OrderCheckFailure>>,
    ) {
        self.lock().script.extend(replies);
    }

    /// Every target checked so far, in order.
    pub fn targets(&self) -> Vec<Target> {
        self.lock().targets.clone()
    }
}

#[async_trait]
impl OrderCheck for FakeOrderCheck {
    async fn place_test_order(&self, target: &Target) -> Result<OrderReport, OrderCheckFailure> {
        let mut inner = self.lock();
        inner.targets.push(target.clone());
        let n = inner.targets.len();
        inner.script.pop_front().unwrap_or_else(|| {
            Ok(OrderReport {
                order_id: format!("fake-order-{n}"),
                email: crate::test_order_email(),
                steps: Vec::new(),
                total: Duration::from_millis(1),
            })
        })
    }
}
