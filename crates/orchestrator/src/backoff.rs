//! Retry delays: exponential from one second, capped, so a broken cluster is not hammered.

use std::time::Duration;

pub const FIRST: Duration = Duration::from_secs(1);
pub const CAP: Duration = Duration::from_secs(60);

/// Delay before attempt `attempts + 1`, after `attempts` failures in a row.
pub fn delay(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
    FIRST.saturating_mul(2u32.saturating_pow(exponent)).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_one_second_up_to_the_cap() {
        let secs: Vec<u64> = (1..=8).map(|n| delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(delay(0), FIRST);
        assert_eq!(delay(i64::MAX), CAP);
    }
}
