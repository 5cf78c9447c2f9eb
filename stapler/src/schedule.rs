//! When to ask the responder again: the refresh point of a good response
//! (a fraction of its validity, as RFC 5019 §6 and nginx's hourly refresh
//! suggest, within bounds and always before its nextUpdate) and the backoff
//! after a failure (exponential, with jitter so that many servers do not
//! retry in step). Pure functions of their inputs: the jitter is a value the
//! caller draws, so that tests are deterministic.

use std::time::{Duration, SystemTime};

use rand::Rng;

use crate::config::ServeArgs;

/// The timing settings (`--refresh-fraction`, `--min-refresh`, `--max-refresh`,
/// `--backoff-min`, `--backoff-max`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Refresh when this fraction of a response's validity has passed.
    pub refresh_fraction: f64,
    /// Shortest time between two refreshes of a good response.
    pub min_refresh: Duration,
    /// Longest time between two refreshes.
    pub max_refresh: Duration,
    /// First retry delay after a failure.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl Schedule {
    /// The schedule the server's options ask for.
    pub fn of(options: &ServeArgs) -> Self {
        Schedule {
            refresh_fraction: options.refresh_fraction,
            min_refresh: options.min_refresh,
            max_refresh: options.max_refresh,
            backoff_min: options.backoff_min,
            backoff_max: options.backoff_max,
        }
    }

    /// When to refresh a response valid from `this_update` to `next_update`,
    /// received at `now`: at the configured fraction of its validity, within
    /// the minimum and maximum intervals, and before it expires.
    pub fn refresh_point(
        &self,
        this_update: SystemTime,
        next_update: SystemTime,
        now: SystemTime,
    ) -> SystemTime {
        let validity = next_update
            .duration_since(this_update)
            .unwrap_or(Duration::ZERO);
        let planned = this_update + validity.mul_f64(self.refresh_fraction);
        let at = planned.clamp(now + self.min_refresh, now + self.max_refresh);
        // A refresh after expiry would leave a gap: go halfway to it instead.
        if at >= next_update {
            now + time_left(next_update, now) / 2
        } else {
            at
        }
    }

    /// The delay before retrying after `failures` failures in a row (at least
    /// one): `--backoff-min` doubled per failure up to `--backoff-max`, then
    /// scaled by the jitter into between half and all of that step.
    pub fn backoff(&self, failures: u32, jitter: Jitter) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let step = self
            .backoff_min
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max);
        step.mul_f64(jitter.factor())
    }

    /// When to retry after a failure at `now`: after the backoff, but while
    /// a staple is still held (valid until `held_until`), no later than
    /// halfway to its expiry (and not sooner than a second from now), so
    /// that a backoff never outlasts the last good staple.
    pub fn retry_at(
        &self,
        failures: u32,
        jitter: Jitter,
        held_until: Option<SystemTime>,
        now: SystemTime,
    ) -> SystemTime {
        let after_backoff = now + self.backoff(failures, jitter);
        match held_until {
            Some(end) => {
                let before_expiry = now + (time_left(end, now) / 2).max(Duration::from_secs(1));
                after_backoff.min(before_expiry)
            }
            None => after_backoff,
        }
    }
}

fn time_left(end: SystemTime, now: SystemTime) -> Duration {
    end.duration_since(now).unwrap_or(Duration::ZERO)
}

/// Where a retry falls within its backoff step: 0 is the earliest (half the
/// step), 1 the latest (the whole step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter(f64);

impl Jitter {
    /// A position in the step, clamped to 0..=1 (NaN counts as 0).
    pub fn new(position: f64) -> Self {
        Jitter(if position.is_nan() {
            0.0
        } else {
            position.clamp(0.0, 1.0)
        })
    }

    /// A random position, for the server.
    pub fn random() -> Self {
        Jitter(rand::rng().random_range(0.0..=1.0))
    }

    /// The factor applied to the step: between 0.5 and 1.
    fn factor(self) -> f64 {
        0.5 + self.0 / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn schedule() -> Schedule {
        Schedule {
            refresh_fraction: 0.5,
            min_refresh: Duration::from_secs(5),
            max_refresh: HOUR,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }

    #[test]
    fn refresh_at_the_fraction_of_the_validity() {
        // Valid 10 minutes from t=0, received at t=0: refresh at t=5 min.
        assert_eq!(schedule().refresh_point(at(0), at(600), at(0)), at(300));
        let quarter = Schedule {
            refresh_fraction: 0.25,
            ..schedule()
        };
        assert_eq!(quarter.refresh_point(at(0), at(600), at(0)), at(150));
    }

    #[test]
    fn refresh_no_later_than_the_maximum_interval() {
        // A week-long response (RFC 5019 typical) is still refreshed hourly.
        let week = 7 * 24 * 3600;
        assert_eq!(
            schedule().refresh_point(at(0), at(week), at(0)),
            at(0) + HOUR
        );
    }

    #[test]
    fn refresh_no_sooner_than_the_minimum_interval() {
        // Received late in its life: the fraction point has passed already.
        assert_eq!(
            schedule().refresh_point(at(0), at(600), at(400)),
            at(400) + Duration::from_secs(5)
        );
    }

    #[test]
    fn refresh_halfway_to_expiry_when_the_bounds_would_miss_it() {
        // 8 s left and a 1-minute minimum interval: go at 4 s, before the gap.
        let slow = Schedule {
            min_refresh: MIN,
            ..schedule()
        };
        assert_eq!(slow.refresh_point(at(0), at(600), at(592)), at(596));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let s = schedule();
        let latest = Jitter::new(1.0);
        let steps: Vec<u64> = (1..=10).map(|n| s.backoff(n, latest).as_secs()).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        // No overflow after very many failures.
        assert_eq!(s.backoff(u32::MAX, latest), Duration::from_secs(300));
    }

    #[test]
    fn jitter_spreads_a_step_between_half_and_all_of_it() {
        let s = schedule();
        assert_eq!(s.backoff(4, Jitter::new(0.0)), Duration::from_secs(4));
        assert_eq!(s.backoff(4, Jitter::new(0.5)), Duration::from_secs(6));
        assert_eq!(s.backoff(4, Jitter::new(1.0)), Duration::from_secs(8));
        // Out-of-range draws are clamped, never outside the step.
        assert_eq!(s.backoff(4, Jitter::new(7.0)), Duration::from_secs(8));
        assert_eq!(s.backoff(4, Jitter::new(f64::NAN)), Duration::from_secs(4));
        for _ in 0..100 {
            let d = s.backoff(4, Jitter::random());
            assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(8));
        }
    }

    #[test]
    fn a_retry_never_outlasts_the_staple_held() {
        let s = schedule();
        let late = Jitter::new(1.0);
        // No staple: the backoff alone (9th failure: 256 s).
        assert_eq!(s.retry_at(9, late, None, at(0)), at(256));
        // A staple valid 100 s more: retry at half of that.
        assert_eq!(s.retry_at(9, late, Some(at(100)), at(0)), at(50));
        // A short backoff comes first anyway.
        assert_eq!(s.retry_at(1, late, Some(at(100)), at(0)), at(1));
        // Almost expired: not sooner than a second.
        assert_eq!(s.retry_at(9, late, Some(at(1)), at(0)), at(1));
    }
}
