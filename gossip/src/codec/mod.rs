//! The one place where gossip touches bincode: the wire shapes, foca's
//! [`foca::Codec`] for SWIM packets, node metadata records, and ZeroDB's own
//! control messages (join handshake, digest exchange, suspicion notices).
//!
//! Every datagram starts with two bytes: the protocol version
//! ([`PROTOCOL_VERSION`]) and the frame kind ([`FrameKind`]). Decoding is
//! bounded by [`DECODE_LIMIT_BYTES`], so a hostile length prefix cannot make
//! the decoder allocate more than a datagram's worth.

use std::net::SocketAddr;

use bincode::{Decode, Encode};
use zerodb_ring::{NodeId, NodeStatus, Token};

use crate::config::FRAME_HEADER_BYTES;
use crate::error::{GossipError, GossipResult};
use crate::identity::GossipId;
use crate::metadata::NodeMetadata;

mod control;
mod swim;

pub use control::DigestEntry;
pub(crate) use control::{
    chunk_by_size, decode_control, digest_entry_len, encode_control, item_budget, metadata_len,
    Control,
};
pub(crate) use swim::CodecTap;
pub use swim::{SwimCodec, SwimCodecError};

/// Version byte at the start of every gossip datagram.
pub const PROTOCOL_VERSION: u8 = 1;

/// Upper bound on the bytes one decode may consume (and thus allocate).
pub const DECODE_LIMIT_BYTES: usize = 65_536;

pub(crate) type WireConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<DECODE_LIMIT_BYTES>,
>;

pub(crate) fn wire_config() -> WireConfig {
    bincode::config::standard().with_limit::<DECODE_LIMIT_BYTES>()
}

pub(crate) fn encode<T: Encode>(value: &T) -> GossipResult<Vec<u8>> {
    bincode::encode_to_vec(value, wire_config()).map_err(|error| GossipError::Encode {
        reason: error.to_string(),
    })
}

pub(crate) fn decode<T: Decode<()>>(bytes: &[u8]) -> GossipResult<(T, usize)> {
    bincode::decode_from_slice(bytes, wire_config()).map_err(|error| GossipError::Decode {
        reason: error.to_string(),
    })
}

/// What a datagram carries after the two header bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A SWIM packet for foca.
    Swim = 0,
    /// A ZeroDB control message.
    Control = 1,
}

/// Prefixes a payload with the frame header.
pub(crate) fn frame(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + FRAME_HEADER_BYTES);
    out.push(PROTOCOL_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(payload);
    out
}

/// Splits a datagram into its kind and payload, checking the header.
pub(crate) fn unframe(from: SocketAddr, bytes: &[u8]) -> GossipResult<(FrameKind, &[u8])> {
    let [version, kind, payload @ ..] = bytes else {
        return Err(GossipError::Truncated {
            from,
            len: bytes.len(),
        });
    };
    if *version != PROTOCOL_VERSION {
        return Err(GossipError::ProtocolVersion {
            from,
            version: *version,
            expected: PROTOCOL_VERSION,
        });
    }
    let kind = match kind {
        0 => FrameKind::Swim,
        1 => FrameKind::Control,
        other => return Err(GossipError::UnknownFrameKind { from, kind: *other }),
    };
    Ok((kind, payload))
}

// ---------------------------------------------------------------------------
// Wire shapes shared by SWIM packets and control messages. Ring types live
// in another crate, so they are mirrored here.

#[derive(Encode, Decode, Clone, Copy)]
pub(crate) struct WireId {
    pub(crate) node: u32,
    pub(crate) addr: SocketAddr,
    pub(crate) generation: u64,
}

impl From<&GossipId> for WireId {
    fn from(id: &GossipId) -> WireId {
        WireId {
            node: id.node.0,
            addr: id.addr,
            generation: id.generation,
        }
    }
}

impl From<WireId> for GossipId {
    fn from(id: WireId) -> GossipId {
        GossipId::new(NodeId(id.node), id.addr, id.generation)
    }
}

#[derive(Encode, Decode, Clone, Copy)]
enum WireStatus {
    Joining,
    Normal,
    Recovering,
    Leaving,
    Left,
}

impl From<NodeStatus> for WireStatus {
    fn from(status: NodeStatus) -> WireStatus {
        match status {
            NodeStatus::Joining => WireStatus::Joining,
            NodeStatus::Normal => WireStatus::Normal,
            NodeStatus::Recovering => WireStatus::Recovering,
            NodeStatus::Leaving => WireStatus::Leaving,
            NodeStatus::Left => WireStatus::Left,
        }
    }
}

impl From<WireStatus> for NodeStatus {
    fn from(status: WireStatus) -> NodeStatus {
        match status {
            WireStatus::Joining => NodeStatus::Joining,
            WireStatus::Normal => NodeStatus::Normal,
            WireStatus::Recovering => NodeStatus::Recovering,
            WireStatus::Leaving => NodeStatus::Leaving,
            WireStatus::Left => NodeStatus::Left,
        }
    }
}

#[derive(Encode, Decode)]
pub(crate) struct WireMetadata {
    id: WireId,
    counter: u64,
    region: String,
    zone: String,
    tokens: Vec<u64>,
    status: WireStatus,
    cluster_metadata_version: u64,
}

impl From<&NodeMetadata> for WireMetadata {
    fn from(metadata: &NodeMetadata) -> WireMetadata {
        WireMetadata {
            id: (&metadata.id).into(),
            counter: metadata.counter,
            region: metadata.region.clone(),
            zone: metadata.zone.clone(),
            tokens: metadata.tokens.iter().map(|token| token.0).collect(),
            status: metadata.status.into(),
            cluster_metadata_version: metadata.cluster_metadata_version,
        }
    }
}

impl From<WireMetadata> for NodeMetadata {
    fn from(wire: WireMetadata) -> NodeMetadata {
        NodeMetadata {
            id: wire.id.into(),
            counter: wire.counter,
            region: wire.region,
            zone: wire.zone,
            tokens: wire.tokens.into_iter().map(Token).collect(),
            status: wire.status.into(),
            cluster_metadata_version: wire.cluster_metadata_version,
        }
    }
}

/// Encodes one metadata record (the payload of a custom broadcast).
pub fn encode_metadata(metadata: &NodeMetadata) -> GossipResult<Vec<u8>> {
    encode(&WireMetadata::from(metadata))
}

/// Decodes one metadata record; trailing bytes are an error.
pub fn decode_metadata(bytes: &[u8]) -> GossipResult<NodeMetadata> {
    let (wire, used) = decode::<WireMetadata>(bytes)?;
    if used != bytes.len() {
        return Err(GossipError::Decode {
            reason: format!("metadata record has {} trailing bytes", bytes.len() - used),
        });
    }
    Ok(wire.into())
}

/// The identity a datagram claims as its sender: the source of a SWIM
/// packet's header, or the `from` of a control message. Drivers compare its
/// node id with the one the transport authenticated (a certificate) and
/// drop datagrams whose claim does not match. `from` only labels errors.
pub fn claimed_sender(from: SocketAddr, bytes: &[u8]) -> GossipResult<GossipId> {
    let (kind, payload) = unframe(from, bytes)?;
    match kind {
        FrameKind::Swim => {
            let (header, _) = decode::<swim::WireHeader>(payload)?;
            Ok(header.src.into())
        }
        FrameKind::Control => Ok(decode_control(payload)?.sender()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(node: u32) -> GossipId {
        GossipId::new(
            NodeId(node),
            format!("10.0.0.{node}:7000").parse().unwrap(),
            2,
        )
    }

    fn metadata(node: u32, tokens: usize) -> NodeMetadata {
        NodeMetadata {
            id: id(node),
            counter: 5,
            region: "eu-west".into(),
            zone: "eu-west-1a".into(),
            tokens: (0..tokens as u64)
                .map(|i| Token(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
                .collect(),
            status: NodeStatus::Normal,
            cluster_metadata_version: 9,
        }
    }

    #[test]
    fn metadata_round_trips_and_64_tokens_fit_a_broadcast() {
        let record = metadata(3, 64);
        let bytes = encode_metadata(&record).unwrap();
        assert!(bytes.len() < 1200 - crate::config::BROADCAST_OVERHEAD_BYTES);
        assert_eq!(decode_metadata(&bytes).unwrap(), record);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_metadata(&longer).is_err());
    }

    #[test]
    fn the_claimed_sender_is_read_from_both_frame_kinds() {
        let from = id(4).addr;
        let control = encode_control(&Control::JoinRequest { from: id(4) }).unwrap();
        assert_eq!(claimed_sender(from, &control).unwrap(), id(4));
        let header = swim::WireHeader {
            src: (&id(6)).into(),
            src_incarnation: 3,
            dst: (&id(1)).into(),
            message: swim::WireMessage::Announce,
        };
        let swim = frame(FrameKind::Swim, &encode(&header).unwrap());
        assert_eq!(claimed_sender(from, &swim).unwrap(), id(6));
        assert!(claimed_sender(from, &[PROTOCOL_VERSION, 0, 0xff]).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let from = id(1).addr;
        assert!(unframe(from, &[]).is_err());
        assert!(unframe(from, &[PROTOCOL_VERSION]).is_err());
        assert!(unframe(from, &[9, 0, 1]).is_err());
        assert!(unframe(from, &[PROTOCOL_VERSION, 7]).is_err());
        // A huge length prefix must not allocate.
        let mut hostile = vec![2u8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        hostile.extend_from_slice(&[0xff; 16]);
        assert!(decode_control(&hostile).is_err());
        for seed in 0..500u32 {
            let bytes: Vec<u8> = (0..(seed % 60))
                .map(|i| (seed.wrapping_mul(31).wrapping_add(i * 17) % 251) as u8)
                .collect();
            let _ = decode_control(&bytes);
            let _ = decode_metadata(&bytes);
            let _ = claimed_sender(from, &bytes);
        }
    }
}
