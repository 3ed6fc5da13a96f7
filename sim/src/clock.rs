//! Node clocks derived from true simulated time, with skew, drift and jumps.
//!
//! A node never reads true time: its `now_ms` is
//! `CLOCK_ORIGIN_MS + skew + true_time * (1 + drift)`. Drift keeps each clock
//! monotonic; a jump (a changed skew) can move it backwards, which the node
//! must tolerate (clocks affect only liveness, DESIGN.md section 5).

/// Every node clock starts near this wall-clock-like value, so that
/// timestamps are far from zero even with negative skew.
pub const CLOCK_ORIGIN_MS: u64 = 1_700_000_000_000;

/// One node's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeClock {
    /// Offset from true time, in milliseconds.
    pub skew_ms: i64,
    /// Rate error in parts per million (positive: runs fast).
    pub drift_ppm: i64,
}

impl NodeClock {
    /// A clock with this skew and drift.
    pub fn new(skew_ms: i64, drift_ppm: i64) -> NodeClock {
        NodeClock {
            skew_ms,
            drift_ppm: drift_ppm.clamp(-500_000, 500_000),
        }
    }

    /// The node's reading at true time `true_us` (simulated microseconds).
    pub fn now_ms(&self, true_us: u64) -> u64 {
        let scaled = i128::from(true_us) * i128::from(1_000_000 + self.drift_ppm) / 1_000_000_000;
        let reading = i128::from(CLOCK_ORIGIN_MS) + i128::from(self.skew_ms) + scaled;
        reading.max(0) as u64
    }

    /// The earliest true time, not before `not_before_us`, at which the node
    /// reads at least `at_ms`.
    pub fn true_us_at(&self, at_ms: u64, not_before_us: u64) -> u64 {
        if self.now_ms(not_before_us) >= at_ms {
            return not_before_us;
        }
        let elapsed_ms = i128::from(at_ms) - i128::from(CLOCK_ORIGIN_MS) - i128::from(self.skew_ms);
        let rate = i128::from(1_000_000 + self.drift_ppm);
        let mut true_us = (elapsed_ms * 1_000_000_000 + rate - 1) / rate;
        true_us = true_us.max(i128::from(not_before_us));
        let mut true_us = true_us as u64;
        // Integer rounding can leave the reading one short.
        while self.now_ms(true_us) < at_ms {
            true_us += 1;
        }
        true_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_and_drift_shape_the_reading() {
        let exact = NodeClock::new(0, 0);
        assert_eq!(exact.now_ms(5_000), CLOCK_ORIGIN_MS + 5);
        let behind_fast = NodeClock::new(-100, 1_000);
        assert_eq!(
            behind_fast.now_ms(1_000_000_000),
            CLOCK_ORIGIN_MS - 100 + 1_001_000
        );
    }

    #[test]
    fn timers_fire_when_the_node_clock_reaches_them() {
        for clock in [
            NodeClock::new(0, 0),
            NodeClock::new(250, -300),
            NodeClock::new(-40, 777),
        ] {
            let start = 123_456;
            let at_ms = clock.now_ms(start) + 17;
            let fire = clock.true_us_at(at_ms, start);
            assert!(clock.now_ms(fire) >= at_ms);
            assert!(clock.now_ms(fire - 1) < at_ms);
            // Already due: fire now.
            assert_eq!(clock.true_us_at(clock.now_ms(start), start), start);
        }
    }
}
