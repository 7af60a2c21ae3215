//! Retry timing: exponential back-off with jitter, from `backon`'s [`ExponentialBuilder`].
//!
//! Every delay here is `base × 2ⁿ` plus a random jitter of up to as much again (so in
//! `[d, 2d)`), never more than a cap. Jitter spreads the retries of many workers, or of many
//! messages that failed together, instead of letting them hit a struggling service at once.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The longest visibility timeout SQS accepts: 12 hours.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// Doubling more often than this reaches any cap (1 ns × 2⁶⁴ is centuries).
const MAX_DOUBLINGS: u32 = 64;

/// An exponential schedule with jitter from `base`, capped at `cap`: the un-jittered delay
/// doubles up to half the cap, the jitter adds up to as much again, and a final clamp
/// keeps a `base` above the cap at the cap.
fn schedule(base: Duration, cap: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(base)
        .with_max_delay(cap / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .map(move |d| d.min(cap))
}

/// How long a message that failed on its `receive_count`-th delivery stays invisible before
/// the next one: `base × 2^(receive_count − 1)` with jitter, capped at [`MAX_VISIBILITY`].
/// A zero `base` is always zero (embedded mode retries at once).
pub fn retry_delay(base: Duration, receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(MAX_DOUBLINGS);
    schedule(base, MAX_VISIBILITY)
        .nth(doublings as usize)
        .unwrap_or(MAX_VISIBILITY)
}

/// Waits between failing calls (a worker's receives): the `n`-th consecutive failure waits
/// `base × 2^(n − 1)` with jitter, at most `cap`; a success [resets](Backoff::reset) it.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// A back-off starting at `base`, never waiting longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let doublings = self.failures.min(MAX_DOUBLINGS);
        self.failures = self.failures.saturating_add(1);
        schedule(self.base, self.cap)
            .nth(doublings as usize)
            .unwrap_or(self.cap)
    }

    /// After a success: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// Many draws, to see the jitter's range.
    fn draws(f: impl FnMut() -> Duration) -> Vec<Duration> {
        std::iter::repeat_with(f).take(200).collect()
    }

    #[test]
    fn retry_delay_grows_exponentially_with_jitter() {
        for count in 1..=6 {
            let d = SECOND * 2u32.pow(count - 1);
            let got = draws(|| retry_delay(SECOND, count));
            assert!(
                got.iter().all(|g| (d..=2 * d).contains(g)),
                "{count}: {got:?}"
            );
            let mut distinct = got.clone();
            distinct.sort();
            distinct.dedup();
            assert!(distinct.len() > 100, "jittered: {count}: {distinct:?}");
        }
        let first = retry_delay(SECOND, 0);
        assert!(
            (SECOND..=2 * SECOND).contains(&first),
            "count 0 is count 1: {first:?}"
        );
    }

    #[test]
    fn retry_delay_is_capped_at_the_sqs_maximum() {
        for count in [17, 20, 100, u32::MAX] {
            let got = draws(|| retry_delay(SECOND, count));
            assert!(
                got.iter()
                    .all(|g| (MAX_VISIBILITY / 2..=MAX_VISIBILITY).contains(g)),
                "{count}: {got:?}"
            );
        }
        assert_eq!(retry_delay(MAX_VISIBILITY * 3, 1), MAX_VISIBILITY);
    }

    #[test]
    fn zero_base_retries_at_once() {
        for count in [0, 1, 5, 1000] {
            assert_eq!(retry_delay(Duration::ZERO, count), Duration::ZERO);
        }
    }

    #[test]
    fn backoff_grows_caps_and_resets() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(20);
        let mut backoff = Backoff::new(base, cap);
        let first: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
        for (n, got) in first.iter().enumerate() {
            let d = (base * 2u32.pow(n as u32)).min(cap / 2);
            assert!((d..=(2 * d).min(cap)).contains(got), "failure {n}: {got:?}");
        }
        assert!(first[11] >= cap / 2, "reached the cap: {first:?}");
        backoff.reset();
        let again = backoff.next_delay();
        assert!((base..=2 * base).contains(&again), "reset: {again:?}");
    }
}
