//! Request latency as the node reports it: one histogram since start, and
//! the recent one (the last `RECENT_WINDOW` to twice that) that the
//! console charts over time and `admin info` prints. The recent figures are
//! two histograms that take turns: samples go to the current one, which
//! becomes the previous one after a window; a quantile merges both.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Largest request latency recorded, microseconds (an hour).
pub(super) const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Length of one recent window: the recent quantiles cover the last one
/// to two of them.
pub(crate) const RECENT_WINDOW: Duration = Duration::from_secs(10);

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 2).expect("static histogram bounds are valid")
}

/// Request latencies, microseconds.
pub(crate) struct Latency {
    total: Histogram<u64>,
    current: Histogram<u64>,
    previous: Histogram<u64>,
    /// When `current` started taking samples.
    current_since: Instant,
}

impl Latency {
    pub(crate) fn new(now: Instant) -> Latency {
        Latency {
            total: histogram(),
            current: histogram(),
            previous: histogram(),
            current_since: now,
        }
    }

    /// Records one request that took `micros`.
    pub(crate) fn record(&mut self, micros: u64, now: Instant) {
        self.turn(now);
        let micros = micros.clamp(1, LATENCY_MAX_US);
        // In bounds by the clamp: recording cannot fail.
        let _ = self.total.record(micros);
        let _ = self.current.record(micros);
    }

    /// Quantile `q` of every request since start.
    pub(crate) fn since_start(&self, q: f64) -> u64 {
        self.total.value_at_quantile(q)
    }

    /// Quantile `q` of the requests of the last one to two windows; 0 when
    /// there were none.
    pub(crate) fn recent(&mut self, q: f64, now: Instant) -> u64 {
        self.turn(now);
        let mut both = self.previous.clone();
        // Same bounds: adding cannot fail.
        let _ = both.add(&self.current);
        both.value_at_quantile(q)
    }

    /// Moves to the window `now` falls in: the current histogram becomes
    /// the previous one, or both are cleared when a whole window passed
    /// without a turn.
    fn turn(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.current_since);
        if elapsed < RECENT_WINDOW {
            return;
        }
        if elapsed < 2 * RECENT_WINDOW {
            std::mem::swap(&mut self.previous, &mut self.current);
        } else {
            self.previous.reset();
        }
        self.current.reset();
        let windows = (elapsed.as_nanos() / RECENT_WINDOW.as_nanos()) as u32;
        self.current_since += RECENT_WINDOW * windows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000;

    #[test]
    fn recent_quantiles_forget_requests_older_than_two_windows() {
        let start = Instant::now();
        let mut latency = Latency::new(start);
        for _ in 0..100 {
            latency.record(200 * MS, start);
        }
        let later = start + RECENT_WINDOW + Duration::from_secs(1);
        for _ in 0..100 {
            latency.record(MS, later);
        }
        // Both windows: half slow, half fast.
        assert!(latency.recent(0.99, later) >= 199 * MS);
        assert!(latency.recent(0.25, later) <= MS + MS / 50);
        // The slow window has passed out of the recent figures ...
        let after = start + 2 * RECENT_WINDOW + Duration::from_secs(1);
        assert!(latency.recent(0.99, after) <= MS + MS / 50);
        // ... but not out of the figures since start.
        assert!(latency.since_start(0.99) >= 199 * MS);
        // Nothing in the last two windows: no recent figure.
        let idle = after + 2 * RECENT_WINDOW;
        assert_eq!(latency.recent(0.5, idle), 0);
    }

    #[test]
    fn a_sample_is_counted_in_its_own_window_after_a_long_pause() {
        let start = Instant::now();
        let mut latency = Latency::new(start);
        latency.record(500 * MS, start);
        let much_later = start + 5 * RECENT_WINDOW + Duration::from_millis(300);
        latency.record(3 * MS, much_later);
        let p = latency.recent(0.99, much_later);
        assert!((3 * MS..=3 * MS + MS / 20).contains(&p), "p99 {p}");
        // Still there a window later (as the previous window).
        assert!(latency.recent(0.99, much_later + RECENT_WINDOW) >= 3 * MS);
    }
}
