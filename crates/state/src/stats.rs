//! Platform numbers for admins: stores by phase, what the last day brought (created, failed,
//! how long stores took to become ready) and how many are provisioning now.

use crate::{millis, StateError, StateStore};
use chrono::{DateTime, Utc};
use sqlx::Row;
use storefleet_domain::Phase;

/// The numbers, as of `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformStats {
    /// Every phase, in lifecycle order, with its count (zeros included).
    pub by_phase: Vec<(Phase, i64)>,
    /// Stores requested in the window.
    pub created: i64,
    /// Stores failed now whose last change falls in the window.
    pub failed: i64,
    /// Stores requested or provisioning now.
    pub provisioning: i64,
    /// Time from request to the first `Ready` event, of the stores requested in the window that
    /// became ready: median and 95th percentile (nearest rank), and how many there were.
    pub time_to_ready_p50: Option<chrono::Duration>,
    pub time_to_ready_p95: Option<chrono::Duration>,
    pub ready_samples: usize,
}

/// The smallest UUIDv7 text of a store requested at or after `at`: store ids are UUIDv7, whose
/// first 48 bits are the creation time in milliseconds, so an id range is a time range that
/// the primary key serves.
fn first_id_at(at: DateTime<Utc>) -> String {
    let ms = millis(at).max(0);
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// The nearest-rank percentile `p` (0–100) of sorted `values`.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl StateStore {
    /// The platform's numbers for the window starting at `since`.
    pub async fn platform_stats(&self, since: DateTime<Utc>) -> Result<PlatformStats, StateError> {
        let rows = sqlx::query("SELECT phase, COUNT(*) AS n FROM stores GROUP BY phase")
            .fetch_all(self.pool())
            .await?;
        let mut by_phase: Vec<(Phase, i64)> = Phase::ALL.iter().map(|p| (*p, 0)).collect();
        for row in &rows {
            let phase: String = row.try_get("phase")?;
            let n: i64 = row.try_get("n")?;
            if let Some(entry) = by_phase.iter_mut().find(|(p, _)| p.as_str() == phase) {
                entry.1 = n;
            }
        }
        let count = |phase: Phase| {
            by_phase
                .iter()
                .find(|(p, _)| *p == phase)
                .map_or(0, |(_, n)| *n)
        };
        let provisioning = count(Phase::Requested) + count(Phase::Provisioning);
        let first = first_id_at(since);
        let (created,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores WHERE id >= $1")
            .bind(&first)
            .fetch_one(self.pool())
            .await?;
        let (failed,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM stores WHERE phase = $1 AND updated_at >= $2")
                .bind(Phase::Failed.as_str())
                .bind(millis(since))
                .fetch_one(self.pool())
                .await?;
        let rows = sqlx::query(
            "SELECT MIN(e.at) - s.created_at AS took FROM stores s \
             JOIN store_events e ON e.store_id = s.id \
             WHERE s.id >= $1 AND e.reason = 'Ready' GROUP BY s.id, s.created_at",
        )
        .bind(&first)
        .fetch_all(self.pool())
        .await?;
        let mut took: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get::<i64, _>("took"))
            .collect::<Result<_, _>>()?;
        took.sort_unstable();
        Ok(PlatformStats {
            by_phase,
            created,
            failed,
            provisioning,
            time_to_ready_p50: percentile(&took, 50).map(chrono::Duration::milliseconds),
            time_to_ready_p95: percentile(&took, 95).map(chrono::Duration::milliseconds),
            ready_samples: took.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let values: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), Some(10));
        assert_eq!(percentile(&values, 95), Some(19));
    }

    #[test]
    fn the_first_id_of_a_time_sorts_before_every_id_made_then_or_later() {
        let at = Utc::now();
        let id = uuid::Uuid::now_v7().to_string();
        assert!(first_id_at(at) <= id, "{} > {id}", first_id_at(at));
        let later = first_id_at(at + chrono::Duration::seconds(1));
        assert!(later > id, "{later} <= {id}");
    }
}
