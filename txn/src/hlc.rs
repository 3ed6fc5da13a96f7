//! Hybrid logical clock (DESIGN.md section 5): timestamps
//! `(physical ms, logical, node)` that never go backwards on a node and move
//! past every timestamp the node has seen.

use zerodb_storage::Version;

/// One node's hybrid logical clock. `now_ms` is passed in by the driver.
#[derive(Clone, Debug)]
pub struct Hlc {
    node: u32,
    last: Version,
}

impl Hlc {
    /// A clock for `node` that has seen nothing.
    pub fn new(node: u32) -> Hlc {
        Hlc {
            node,
            last: Version {
                physical_ms: 0,
                logical: 0,
                node,
            },
        }
    }

    /// A fresh timestamp, strictly above every earlier one from this clock
    /// and every observed one.
    pub fn now(&mut self, now_ms: u64) -> Version {
        let next = if now_ms > self.last.physical_ms {
            Version {
                physical_ms: now_ms,
                logical: 0,
                node: self.node,
            }
        } else if self.last.logical == u32::MAX {
            // The logical counter is exhausted: borrow a millisecond.
            Version {
                physical_ms: self.last.physical_ms + 1,
                logical: 0,
                node: self.node,
            }
        } else {
            Version {
                physical_ms: self.last.physical_ms,
                logical: self.last.logical + 1,
                node: self.node,
            }
        };
        debug_assert!(next > self.last);
        self.last = next;
        next
    }

    /// Moves the clock past a timestamp seen in a message, so the next
    /// `now` is above it.
    pub fn observe(&mut self, seen: Version) {
        if (seen.physical_ms, seen.logical) > (self.last.physical_ms, self.last.logical) {
            self.last = Version {
                physical_ms: seen.physical_ms,
                logical: seen.logical,
                node: self.node,
            };
        }
    }

    /// The last timestamp issued or observed.
    pub fn last(&self) -> Version {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_increase_even_when_time_stands_still() {
        let mut hlc = Hlc::new(3);
        let a = hlc.now(100);
        let b = hlc.now(100);
        let c = hlc.now(99);
        assert!(a < b && b < c);
        assert_eq!(c.node, 3);
    }

    #[test]
    fn observe_moves_past_a_remote_clock_ahead_of_ours() {
        let mut hlc = Hlc::new(1);
        let remote = Version {
            physical_ms: 5_000,
            logical: 7,
            node: 9,
        };
        hlc.observe(remote);
        let next = hlc.now(10);
        assert!(next > remote);
        assert_eq!(next.physical_ms, 5_000);
        assert_eq!(next.logical, 8);
    }

    #[test]
    fn logical_overflow_borrows_a_millisecond() {
        let mut hlc = Hlc::new(1);
        hlc.observe(Version {
            physical_ms: 10,
            logical: u32::MAX,
            node: 2,
        });
        let next = hlc.now(10);
        assert_eq!(next.physical_ms, 11);
    }
}
