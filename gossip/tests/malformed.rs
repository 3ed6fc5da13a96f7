//! Bad datagrams are rejected with an error and never panic.

use zerodb_gossip::{Gossip, GossipConfig, GossipError, GossipId};
use zerodb_ring::NodeId;

fn gossip() -> Gossip {
    let id = GossipId::new(NodeId(1), "10.0.0.1:7000".parse().unwrap(), 1);
    Gossip::new(id, GossipConfig::default(), 7).unwrap()
}

#[test]
fn malformed_datagrams_are_errors() {
    let mut node = gossip();
    let from = "10.0.0.2:7000".parse().unwrap();
    let too_big = vec![1u8; 5000];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one byte", vec![1]),
        ("wrong version", vec![9, 0, 0, 0]),
        ("unknown kind", vec![1, 9, 0]),
        ("swim garbage", vec![1, 0, 0xff, 0xff, 0xff, 0x13]),
        ("control garbage", vec![1, 1, 0xfe, 0x01]),
        ("huge length prefix", {
            let mut bytes = vec![1, 1, 2, 1];
            bytes.extend_from_slice(&[0xff; 20]);
            bytes
        }),
        ("too large", too_big),
    ];
    for (name, bytes) in cases {
        let result = node.handle_datagram(0, from, &bytes);
        assert!(result.is_err(), "{name} was accepted");
    }
    assert!(matches!(
        node.handle_datagram(0, from, &[]),
        Err(GossipError::Truncated { .. })
    ));
}

#[test]
fn random_bytes_never_panic() {
    let mut node = gossip();
    let from = "10.0.0.2:7000".parse().unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..3000u64 {
        let len = (round % 200) as usize;
        let mut bytes = Vec::with_capacity(len);
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push(state as u8);
        }
        if len >= 2 {
            bytes[0] = 1;
            bytes[1] = (round % 2) as u8;
        }
        let _ = node.handle_datagram(round, from, &bytes);
    }
}

#[test]
fn oversized_metadata_is_refused_with_a_clear_error() {
    let mut node = gossip();
    let local = zerodb_gossip::LocalMetadata {
        region: "r".into(),
        zone: "z".into(),
        tokens: (0..400u64)
            .map(|i| zerodb_ring::Token(u64::MAX - i))
            .collect(),
        status: zerodb_ring::NodeStatus::Normal,
        cluster_metadata_version: 0,
    };
    let error = node.set_local_metadata(0, local).unwrap_err();
    assert!(
        matches!(error, GossipError::MetadataTooLarge { .. }),
        "{error}"
    );
}
