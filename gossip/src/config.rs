//! Gossip settings and their translation into foca's [`foca::Config`].

use std::num::{NonZeroU32, NonZeroU8, NonZeroUsize};
use std::time::Duration;

use crate::error::{GossipError, GossipResult};

/// Bytes of every datagram taken by ZeroDB's own frame header
/// (protocol version byte and frame kind byte).
pub const FRAME_HEADER_BYTES: usize = 2;

/// Bytes of a datagram reserved for foca's header and broadcast framing when
/// deciding whether node metadata fits into one broadcast.
pub const BROADCAST_OVERHEAD_BYTES: usize = 256;

/// Smallest datagram limit accepted: below this, metadata with a useful
/// number of tokens cannot be gossiped.
pub const DATAGRAM_LIMIT_BYTES_MIN: usize = 512;

/// Tunable settings of one gossip instance. All durations are milliseconds of
/// the driver's clock.
///
/// The defaults are tuned with `gossip_sim` for clusters up to 1,000 nodes on
/// a data-centre network: a crash is seen by every node within about 5 s and
/// 5% packet loss causes no false down events (see the crate docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipConfig {
    /// Largest datagram produced or accepted, frame header included (QUIC
    /// datagrams: about 1,200 bytes).
    pub datagram_limit_bytes: usize,
    /// SWIM probe period: each node probes one member per period.
    pub probe_period_ms: u64,
    /// Wait for a direct ack before asking others to probe indirectly.
    pub probe_rtt_ms: u64,
    /// How long a suspect may refute before it is declared down.
    pub suspect_to_down_ms: u64,
    /// Members asked to probe indirectly.
    pub indirect_probes: usize,
    /// Period of foca's extra dissemination round (only when updates wait).
    pub gossip_period_ms: u64,
    /// Members contacted per dissemination round.
    pub gossip_fanout: usize,
    /// Period of the digest exchange with the clockwise successor.
    pub digest_period_ms: u64,
    /// Period of join retries while the node is not active.
    pub join_retry_ms: u64,
    /// Period at which a prober repeats its suspicion to the suspect itself
    /// (Lifeguard's buddy system), so the suspect can refute in time.
    pub suspect_notice_period_ms: u64,
    /// Period of announces to members believed down, so that partitions heal.
    pub announce_to_down_period_ms: u64,
    /// Expected cluster size; sets how often an update is retransmitted.
    pub expected_cluster_size: u32,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            datagram_limit_bytes: 1200,
            probe_period_ms: 500,
            probe_rtt_ms: 200,
            suspect_to_down_ms: 1200,
            indirect_probes: 5,
            gossip_period_ms: 200,
            gossip_fanout: 3,
            digest_period_ms: 1000,
            join_retry_ms: 1000,
            suspect_notice_period_ms: 200,
            announce_to_down_period_ms: 10_000,
            expected_cluster_size: 1000,
        }
    }
}

impl GossipConfig {
    /// The defaults with every period scaled so that the probe period is
    /// `probe_period_ms` (the defaults are tuned for 500 ms; the ratios
    /// between the timers are kept). Validate the result.
    pub fn with_probe_period(probe_period_ms: u64) -> GossipConfig {
        let base = GossipConfig::default();
        let scale = |ms: u64| (ms * probe_period_ms / base.probe_period_ms).max(1);
        GossipConfig {
            probe_period_ms,
            probe_rtt_ms: scale(base.probe_rtt_ms),
            suspect_to_down_ms: scale(base.suspect_to_down_ms),
            gossip_period_ms: scale(base.gossip_period_ms),
            digest_period_ms: scale(base.digest_period_ms),
            join_retry_ms: scale(base.join_retry_ms),
            suspect_notice_period_ms: scale(base.suspect_notice_period_ms),
            announce_to_down_period_ms: scale(base.announce_to_down_period_ms),
            ..base
        }
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> GossipResult<()> {
        fn bad(key: &'static str, value: impl ToString, expected: &'static str) -> GossipError {
            GossipError::Config {
                key,
                value: value.to_string(),
                expected,
            }
        }
        if self.datagram_limit_bytes < DATAGRAM_LIMIT_BYTES_MIN
            || self.datagram_limit_bytes > usize::from(u16::MAX)
        {
            return Err(bad(
                "datagram_limit_bytes",
                self.datagram_limit_bytes,
                "between 512 and 65535",
            ));
        }
        if self.probe_rtt_ms == 0 || self.probe_rtt_ms >= self.probe_period_ms {
            return Err(bad(
                "probe_rtt_ms",
                self.probe_rtt_ms,
                "above 0 and below probe_period_ms",
            ));
        }
        let positive = [
            ("suspect_to_down_ms", self.suspect_to_down_ms),
            ("gossip_period_ms", self.gossip_period_ms),
            ("digest_period_ms", self.digest_period_ms),
            ("join_retry_ms", self.join_retry_ms),
            ("suspect_notice_period_ms", self.suspect_notice_period_ms),
            (
                "announce_to_down_period_ms",
                self.announce_to_down_period_ms,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(bad(key, value, "a positive number of milliseconds"));
            }
        }
        if self.indirect_probes == 0 {
            return Err(bad("indirect_probes", 0, "at least 1"));
        }
        if self.gossip_fanout == 0 {
            return Err(bad("gossip_fanout", 0, "at least 1"));
        }
        if self.expected_cluster_size == 0 {
            return Err(bad("expected_cluster_size", 0, "at least 1"));
        }
        Ok(())
    }

    /// Largest foca packet: the datagram limit minus ZeroDB's frame header.
    pub fn foca_packet_bytes(&self) -> usize {
        self.datagram_limit_bytes - FRAME_HEADER_BYTES
    }

    /// Largest encoded node metadata that still fits into one broadcast.
    pub fn metadata_budget_bytes(&self) -> usize {
        self.datagram_limit_bytes - BROADCAST_OVERHEAD_BYTES
    }

    /// foca's configuration: memberlist's LAN profile for the expected size,
    /// with the periods of this config (validated first).
    pub fn foca_config(&self) -> GossipResult<foca::Config> {
        self.validate()?;
        let size = NonZeroU32::new(self.expected_cluster_size).unwrap_or(NonZeroU32::MIN);
        let mut config = foca::Config::new_lan(size);
        config.probe_period = Duration::from_millis(self.probe_period_ms);
        config.probe_rtt = Duration::from_millis(self.probe_rtt_ms);
        config.suspect_to_down_after = Duration::from_millis(self.suspect_to_down_ms);
        config.num_indirect_probes =
            NonZeroUsize::new(self.indirect_probes).unwrap_or(NonZeroUsize::MIN);
        config.max_packet_size =
            NonZeroUsize::new(self.foca_packet_bytes()).unwrap_or(NonZeroUsize::MIN);
        config.notify_down_members = true;
        config.periodic_gossip = Some(foca::PeriodicParams {
            frequency: Duration::from_millis(self.gossip_period_ms),
            num_members: NonZeroUsize::new(self.gossip_fanout).unwrap_or(NonZeroUsize::MIN),
        });
        config.periodic_announce_to_down_members = Some(foca::PeriodicParams {
            frequency: Duration::from_millis(self.announce_to_down_period_ms),
            num_members: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        });
        // Updates must outlive a few dissemination rounds even in small
        // clusters, where memberlist's log10 rule gives too few.
        let transmissions = config.max_transmissions.get().max(6);
        config.max_transmissions = NonZeroU8::new(transmissions).unwrap_or(NonZeroU8::MIN);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_scaled_config_keeps_the_ratios_and_is_valid() {
        assert_eq!(
            GossipConfig::with_probe_period(500),
            GossipConfig::default()
        );
        let fast = GossipConfig::with_probe_period(100);
        assert_eq!(fast.probe_period_ms, 100);
        assert_eq!(fast.probe_rtt_ms, 40);
        assert_eq!(fast.suspect_to_down_ms, 240);
        assert!(fast.validate().is_ok());
        assert!(GossipConfig::with_probe_period(10).validate().is_ok());
        assert!(GossipConfig::with_probe_period(60_000).validate().is_ok());
    }

    use super::*;

    #[test]
    fn default_config_is_valid_and_maps_to_foca() {
        let config = GossipConfig::default();
        let foca = config.foca_config().unwrap();
        assert_eq!(foca.max_packet_size.get(), 1198);
        assert_eq!(foca.probe_period, Duration::from_millis(500));
        assert_eq!(foca.suspect_to_down_after, Duration::from_millis(1200));
    }

    #[test]
    fn bad_values_are_named() {
        let config = GossipConfig {
            probe_rtt_ms: 2000,
            ..GossipConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("probe_rtt_ms"), "{error}");
        let config = GossipConfig {
            datagram_limit_bytes: 100,
            ..GossipConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("datagram_limit_bytes"));
    }
}
