//! Live event streams (Server-Sent Events): at most a few open per user, each ending after a
//! maximum lifetime (the client reconnects with `Last-Event-ID` and is authenticated again),
//! and each ending early once its caller's token stops being valid (rotated or removed).

use crate::error::ApiError;
use crate::event_view::EventView;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::sse::Event;
use futures::StreamExt;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use storefleet_domain::{Phase, StoreId};
use tokio::time::Instant;

/// How long a live event stream waits for a change before it looks anyway: changes made in
/// this process, or announced by PostgreSQL NOTIFY, wake it at once; this only bounds the delay
/// for writers that cannot announce (an orchestrator process sharing a SQLite file), and how
/// soon a rotated token ends the stream.
const EVENT_FALLBACK: Duration = Duration::from_secs(1);

/// Open streams per user, shared by every handler of this process.
#[derive(Default)]
pub(crate) struct StreamSlots {
    open: Mutex<HashMap<String, usize>>,
}

/// One user's open stream; dropping it (the stream ended or the client went away) frees it.
pub(crate) struct Slot {
    slots: Arc<StreamSlots>,
    user: String,
}

impl StreamSlots {
    /// A slot for `user`, unless they already hold `max` open streams.
    pub(crate) fn take(self: &Arc<Self>, user: &str, max: usize) -> Result<Slot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user.to_owned()).or_default();
        if *count >= max {
            return Err(ApiError::Rejected {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "too_many_streams",
                message: format!(
                    "you already have {max} live event streams open, the most allowed; close one first"
                ),
            });
        }
        *count += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            user: user.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Who opened a stream and with which credential, to check again while it is open.
pub(crate) struct Viewer {
    pub user: String,
    pub credential: crate::auth::Credential,
}

struct StreamState {
    app: AppState,
    store_id: StoreId,
    after: i64,
    finished: bool,
    viewer: Viewer,
    ends_at: Instant,
    _slot: Slot,
}

/// New events as they are recorded: the stream looks at the state store when its change version
/// moves (or after [`EVENT_FALLBACK`]); it ends once the store is deleted and drained, at its
/// maximum lifetime, or when the viewer's token no longer names the viewer.
pub(crate) fn event_stream(
    app: AppState,
    store_id: StoreId,
    after: i64,
    viewer: Viewer,
    slot: Slot,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    let ends_at = Instant::now() + app.config().stream_max_lifetime;
    let state = StreamState {
        app,
        store_id,
        after,
        finished: false,
        viewer,
        ends_at,
        _slot: slot,
    };
    futures::stream::unfold(state, |mut s| async move {
        if s.finished {
            return None;
        }
        loop {
            // Ending without an `end` event: EventSource reconnects on its own and the new
            // request is authenticated and counted like any other.
            if Instant::now() >= s.ends_at || !still_valid(&s.app, &s.viewer).await {
                return None;
            }
            let seen = s.app.state().changes().current();
            // Phase before events: the Deleted phase commits together with the last events,
            // so a store seen deleted here has all its events visible to the read below.
            // (Read the other way round, a delete committed between the two reads would end
            // the stream without its Deleted event.)
            // A failed read is retried at the next change or fallback tick; it is logged so a
            // stream that stalls on a sick database says why.
            let gone = match s.app.state().get_store(s.store_id).await {
                Ok(store) => store.is_some_and(|store| store.status.phase == Phase::Deleted),
                Err(e) => {
                    tracing::warn!(store = %s.store_id, error = %e, "event stream: reading the store failed; retrying");
                    false
                }
            };
            let events = match s.app.state().events(s.store_id, s.after, 100).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(store = %s.store_id, error = %e, "event stream: reading events failed; retrying");
                    Vec::new()
                }
            };
            if !events.is_empty() {
                let out: Vec<_> = events
                    .into_iter()
                    .map(|e| {
                        s.after = e.id;
                        let data = serde_json::to_string(&EventView::from(e)).unwrap_or_else(|err| {
                            tracing::warn!(error = %err, "event stream: an event could not be encoded; sent empty");
                            String::new()
                        });
                        Ok(Event::default()
                            .id(s.after.to_string())
                            .event("store-event")
                            .data(data))
                    })
                    .collect();
                return Some((futures::stream::iter(out), s));
            }
            if gone {
                let end = Event::default().event("end").data("store deleted");
                s.finished = true;
                return Some((futures::stream::iter(vec![Ok(end)]), s));
            }
            let wait = EVENT_FALLBACK.min(s.ends_at.saturating_duration_since(Instant::now()));
            let _ = tokio::time::timeout(wait, s.app.state().changes().changed_since(seen)).await;
        }
    })
    .flatten()
}

/// Whether the viewer's token or session still belongs to the viewer. A database that cannot
/// answer right now does not end the stream; a token or session that is gone (rotated, logged
/// out, user removed) does.
async fn still_valid(app: &AppState, viewer: &Viewer) -> bool {
    match crate::auth::user_for(app, &viewer.credential).await {
        Ok(user) => viewer.user == user.name,
        Err(e) => !matches!(*e, ApiError::Unauthenticated(_)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_user_and_freed_on_drop() {
        let slots = Arc::new(StreamSlots::default());
        let a1 = slots.take("alice", 2).expect("first");
        let _a2 = slots.take("alice", 2).expect("second");
        assert!(slots.take("alice", 2).is_err(), "third over the cap");
        let _b = slots.take("bob", 2).expect("bob has his own");
        drop(a1);
        let _a3 = slots.take("alice", 2).expect("a freed slot is taken again");
        assert!(slots.take("alice", 2).is_err());
    }
}
