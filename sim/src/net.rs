//! The simulated network between nodes: latency with a long tail (which
//! reorders messages), loss, duplication and partitions that heal.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::RngExt;

use crate::history::Micros;

/// Network behaviour of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Smallest one-way latency.
    pub latency_min_us: Micros,
    /// Mean of the exponential part added to the minimum.
    pub latency_mean_us: Micros,
    /// Probability that a message is a straggler, delayed by up to
    /// `straggler_max_us` more (strong reordering).
    pub straggler: f64,
    /// Largest extra straggler delay.
    pub straggler_max_us: Micros,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
}

impl NetConfig {
    /// A network that delivers everything once with a fixed latency.
    pub fn reliable() -> NetConfig {
        NetConfig {
            latency_min_us: 200,
            latency_mean_us: 300,
            straggler: 0.0,
            straggler_max_us: 0,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// The network: its configuration and the links currently cut.
#[derive(Clone, Debug)]
pub struct Network {
    /// Latency, loss and duplication.
    pub config: NetConfig,
    /// Directed links (from, to) currently cut by a partition.
    cut: BTreeSet<(u32, u32)>,
    /// Messages lost so far (randomly or to a partition).
    pub lost: u64,
    /// Messages duplicated so far.
    pub duplicated: u64,
}

impl Network {
    /// A network with no partition.
    pub fn new(config: NetConfig) -> Network {
        Network {
            config,
            cut: BTreeSet::new(),
            lost: 0,
            duplicated: 0,
        }
    }

    /// One latency sample.
    pub fn latency_us(&self, rng: &mut StdRng) -> Micros {
        let uniform: f64 = rng.random_range(f64::EPSILON..1.0);
        let tail = (-uniform.ln() * self.config.latency_mean_us as f64) as Micros;
        let mut latency = self.config.latency_min_us + tail.min(self.config.latency_mean_us * 20);
        if self.config.straggler > 0.0 && rng.random_bool(self.config.straggler) {
            latency += rng.random_range(0..=self.config.straggler_max_us);
        }
        latency
    }

    /// Delivery delays for one message from `from` to `to`: empty when it is
    /// lost, two entries when it is duplicated.
    pub fn delays(&mut self, rng: &mut StdRng, from: u32, to: u32) -> Vec<Micros> {
        if self.is_cut(from, to) || (self.config.loss > 0.0 && rng.random_bool(self.config.loss)) {
            self.lost += 1;
            return Vec::new();
        }
        let mut delays = vec![self.latency_us(rng)];
        if self.config.duplicate > 0.0 && rng.random_bool(self.config.duplicate) {
            self.duplicated += 1;
            delays.push(self.latency_us(rng));
        }
        delays
    }

    /// True when the link from `from` to `to` is cut.
    pub fn is_cut(&self, from: u32, to: u32) -> bool {
        from != to && self.cut.contains(&(from, to))
    }

    /// Cuts every link between the two sides, both ways.
    pub fn partition(&mut self, side_a: &[u32], side_b: &[u32]) {
        for &a in side_a {
            for &b in side_b {
                self.cut.insert((a, b));
                self.cut.insert((b, a));
            }
        }
    }

    /// Cuts one direction only (an asymmetric fault).
    pub fn cut_one_way(&mut self, from: u32, to: u32) {
        self.cut.insert((from, to));
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// True when some link is cut.
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn partitions_cut_both_ways_and_heal() {
        let mut net = Network::new(NetConfig::reliable());
        let mut rng = StdRng::seed_from_u64(1);
        net.partition(&[0, 1], &[2]);
        assert!(net.delays(&mut rng, 0, 2).is_empty());
        assert!(net.delays(&mut rng, 2, 1).is_empty());
        assert_eq!(net.delays(&mut rng, 0, 1).len(), 1);
        net.heal();
        assert_eq!(net.delays(&mut rng, 0, 2).len(), 1);
        assert_eq!(net.lost, 2);
    }

    #[test]
    fn loss_and_duplication_follow_their_rates() {
        let config = NetConfig {
            loss: 0.2,
            duplicate: 0.1,
            ..NetConfig::reliable()
        };
        let mut net = Network::new(config);
        let mut rng = StdRng::seed_from_u64(7);
        let delivered: usize = (0..10_000).map(|_| net.delays(&mut rng, 0, 1).len()).sum();
        assert!((1_500..2_500).contains(&net.lost), "lost {}", net.lost);
        assert!(
            (600..1_000).contains(&net.duplicated),
            "duplicated {}",
            net.duplicated
        );
        assert_eq!(delivered as u64, 10_000 - net.lost + net.duplicated);
    }
}
