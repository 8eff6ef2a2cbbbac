//! Waiting on a store's workloads or Jobs: one list and one watch keep the objects' latest
//! state, and only a change in what the step would report ends the wait.
//!
//! A step that waits on objects used to wake at every change to them — each status update of a
//! Deployment or Job — and look again with a fresh list and a fresh watch, most of the time to
//! find the same answer. Judging the watched objects themselves costs the API server one watch
//! per wait instead of a list and a watch per status update.

use crate::{ClusterError, Readiness};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use tokio::time::Instant;

/// The latest state of one kind of object in one namespace, by name.
pub(crate) struct Latest<K> {
    api: Api<K>,
    by_name: BTreeMap<String, K>,
    version: String,
}

/// What one watch event did to a [`Latest`].
enum Applied {
    Changed,
    Unchanged,
    /// The watch cannot go on from here (for example 410 Gone): look again from the start.
    Lost,
}

impl<K> Latest<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    pub(crate) async fn list(api: Api<K>) -> Result<Self, ClusterError> {
        let list = api.list(&ListParams::default()).await?;
        let version = list.metadata.resource_version.clone().unwrap_or_default();
        let by_name = list
            .items
            .into_iter()
            .map(|object| (object.meta().name.clone().unwrap_or_default(), object))
            .collect();
        Ok(Self {
            api,
            by_name,
            version,
        })
    }

    pub(crate) fn items(&self) -> impl ExactSizeIterator<Item = &K> + Clone {
        self.by_name.values()
    }

    /// A watch from the last version seen, ended by the server no later than `deadline`.
    async fn watch(
        &self,
        deadline: Instant,
    ) -> Result<futures::stream::BoxStream<'static, kube::Result<WatchEvent<K>>>, ClusterError>
    {
        let seconds = deadline
            .saturating_duration_since(Instant::now())
            .as_secs()
            .clamp(1, 290);
        let params = WatchParams::default().timeout(u32::try_from(seconds).unwrap_or(290));
        Ok(self.api.watch(&params, &self.version).await?.boxed())
    }

    fn apply(&mut self, event: WatchEvent<K>) -> Applied {
        match event {
            WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                self.version = object.meta().resource_version.clone().unwrap_or_default();
                let name = object.meta().name.clone().unwrap_or_default();
                self.by_name.insert(name, object);
                Applied::Changed
            }
            WatchEvent::Deleted(object) => {
                self.version = object.meta().resource_version.clone().unwrap_or_default();
                let name = object.meta().name.clone().unwrap_or_default();
                self.by_name.remove(&name);
                Applied::Changed
            }
            WatchEvent::Bookmark(mark) => {
                self.version = mark.metadata.resource_version;
                Applied::Unchanged
            }
            WatchEvent::Error(_) => Applied::Lost,
        }
    }
}

/// Watches one or two kinds of objects until `judge` of their latest state differs from
/// `judge` of the state they were listed in: true then, or when a watch is lost and a fresh look
/// is due; false at `deadline`. `b` is the second kind, when the step waits on two.
pub(crate) async fn until_judged_differently<A, B>(
    mut a: Latest<A>,
    mut b: Option<Latest<B>>,
    judge: impl Fn(&Latest<A>, Option<&Latest<B>>) -> Readiness,
    deadline: Instant,
) -> Result<bool, ClusterError>
where
    A: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    B: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let listed = judge(&a, b.as_ref());
    let watch = async {
        loop {
            let mut events_a = a.watch(deadline).await?;
            let mut events_b = match &b {
                Some(b) => Some(b.watch(deadline).await?),
                None => None,
            };
            loop {
                let applied = tokio::select! {
                    event = events_a.try_next() => match event? {
                        Some(event) => a.apply(event),
                        None => break,
                    },
                    event = next_event(&mut events_b), if events_b.is_some() => {
                        match (event?, b.as_mut()) {
                            (Some(event), Some(b)) => b.apply(event),
                            _ => break,
                        }
                    },
                };
                match applied {
                    Applied::Lost => return Ok(true),
                    Applied::Changed if judge(&a, b.as_ref()) != listed => return Ok(true),
                    Applied::Changed | Applied::Unchanged => {}
                }
            }
            // The server ended a watch (its timeout): open them again from the versions seen.
        }
    };
    match tokio::time::timeout_at(deadline, watch).await {
        Ok(result) => result,
        Err(_) => Ok(false),
    }
}

async fn next_event<K>(
    events: &mut Option<futures::stream::BoxStream<'static, kube::Result<WatchEvent<K>>>>,
) -> kube::Result<Option<WatchEvent<K>>> {
    match events {
        Some(events) => events.try_next().await,
        None => Ok(None),
    }
}
