//! The runtime's millisecond clock: wall-clock milliseconds at start plus
//! monotonic time since, so it never goes backwards within a process and
//! stays close to other nodes' clocks (the HLC's physical part).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds for the cores, and their conversion to tokio deadlines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: Instant,
    start_ms: u64,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        let start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        Clock {
            start: Instant::now(),
            start_ms,
        }
    }

    /// Now, in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        self.start_ms + self.start.elapsed().as_millis() as u64
    }

    /// The instant at which `now_ms()` reaches `at_ms`.
    pub(crate) fn deadline(&self, at_ms: u64) -> tokio::time::Instant {
        let offset = std::time::Duration::from_millis(at_ms.saturating_sub(self.start_ms));
        tokio::time::Instant::from_std(self.start + offset)
    }

    /// Entropy for seeds and boot ids: nanoseconds of the wall clock mixed
    /// with the process id.
    pub(crate) fn entropy(&self) -> u64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15
    }
}
