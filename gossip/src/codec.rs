//! The one place where gossip touches bincode: the wire shapes, foca's
//! [`foca::Codec`] for SWIM packets, node metadata records, and ZeroDB's own
//! control messages (join handshake, digest exchange, suspicion notices).
//!
//! Every datagram starts with two bytes: the protocol version
//! ([`PROTOCOL_VERSION`]) and the frame kind ([`FrameKind`]). Decoding is
//! bounded by [`DECODE_LIMIT_BYTES`], so a hostile length prefix cannot make
//! the decoder allocate more than a datagram's worth.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bincode::{Decode, Encode};
use bytes::{Buf, BufMut};
use zerodb_ring::{NodeId, NodeStatus, Token};

use crate::config::FRAME_HEADER_BYTES;
use crate::error::{GossipError, GossipResult};
use crate::identity::GossipId;
use crate::metadata::{MetadataVersion, NodeMetadata};

/// Version byte at the start of every gossip datagram.
pub const PROTOCOL_VERSION: u8 = 1;

/// Upper bound on the bytes one decode may consume (and thus allocate).
pub const DECODE_LIMIT_BYTES: usize = 65_536;

/// Bytes left free in a control datagram for the list length prefix.
const LENGTH_PREFIX_BYTES_MAX: usize = 9;

type WireConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<DECODE_LIMIT_BYTES>,
>;

fn wire_config() -> WireConfig {
    bincode::config::standard().with_limit::<DECODE_LIMIT_BYTES>()
}

fn encode<T: Encode>(value: &T) -> GossipResult<Vec<u8>> {
    bincode::encode_to_vec(value, wire_config()).map_err(|error| GossipError::Encode {
        reason: error.to_string(),
    })
}

fn decode<T: Decode<()>>(bytes: &[u8]) -> GossipResult<(T, usize)> {
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
// Wire shapes. Ring types live in another crate, so they are mirrored here.

#[derive(Encode, Decode, Clone, Copy)]
struct WireId {
    node: u32,
    addr: SocketAddr,
    generation: u64,
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

#[derive(Encode, Decode)]
enum WireMessage {
    Ping(u8),
    Ack(u8),
    PingReq { target: WireId, probe_number: u8 },
    IndirectPing { origin: WireId, probe_number: u8 },
    IndirectAck { target: WireId, probe_number: u8 },
    ForwardedAck { origin: WireId, probe_number: u8 },
    Announce,
    Feed,
    Gossip,
    Broadcast,
    TurnUndead,
}

impl From<&foca::Message<GossipId>> for WireMessage {
    fn from(message: &foca::Message<GossipId>) -> WireMessage {
        use foca::Message as M;
        match message {
            M::Ping(n) => WireMessage::Ping(*n),
            M::Ack(n) => WireMessage::Ack(*n),
            M::PingReq {
                target,
                probe_number,
            } => WireMessage::PingReq {
                target: target.into(),
                probe_number: *probe_number,
            },
            M::IndirectPing {
                origin,
                probe_number,
            } => WireMessage::IndirectPing {
                origin: origin.into(),
                probe_number: *probe_number,
            },
            M::IndirectAck {
                target,
                probe_number,
            } => WireMessage::IndirectAck {
                target: target.into(),
                probe_number: *probe_number,
            },
            M::ForwardedAck {
                origin,
                probe_number,
            } => WireMessage::ForwardedAck {
                origin: origin.into(),
                probe_number: *probe_number,
            },
            M::Announce => WireMessage::Announce,
            M::Feed => WireMessage::Feed,
            M::Gossip => WireMessage::Gossip,
            M::Broadcast => WireMessage::Broadcast,
            M::TurnUndead => WireMessage::TurnUndead,
        }
    }
}

impl From<WireMessage> for foca::Message<GossipId> {
    fn from(message: WireMessage) -> foca::Message<GossipId> {
        use foca::Message as M;
        match message {
            WireMessage::Ping(n) => M::Ping(n),
            WireMessage::Ack(n) => M::Ack(n),
            WireMessage::PingReq {
                target,
                probe_number,
            } => M::PingReq {
                target: target.into(),
                probe_number,
            },
            WireMessage::IndirectPing {
                origin,
                probe_number,
            } => M::IndirectPing {
                origin: origin.into(),
                probe_number,
            },
            WireMessage::IndirectAck {
                target,
                probe_number,
            } => M::IndirectAck {
                target: target.into(),
                probe_number,
            },
            WireMessage::ForwardedAck {
                origin,
                probe_number,
            } => M::ForwardedAck {
                origin: origin.into(),
                probe_number,
            },
            WireMessage::Announce => M::Announce,
            WireMessage::Feed => M::Feed,
            WireMessage::Gossip => M::Gossip,
            WireMessage::Broadcast => M::Broadcast,
            WireMessage::TurnUndead => M::TurnUndead,
        }
    }
}

#[derive(Encode, Decode)]
struct WireHeader {
    src: WireId,
    src_incarnation: u16,
    dst: WireId,
    message: WireMessage,
}

#[derive(Encode, Decode)]
enum WireState {
    Alive,
    Suspect,
    Down,
}

#[derive(Encode, Decode)]
struct WireMember {
    id: WireId,
    incarnation: u16,
    state: WireState,
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
struct WireMetadata {
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

// ---------------------------------------------------------------------------
// Control messages.

/// One entry of a digest: a node and the metadata version held for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestEntry {
    /// The node.
    pub node: NodeId,
    /// The version of its metadata held by the sender.
    pub version: MetadataVersion,
}

/// ZeroDB's own gossip messages, carried beside foca's SWIM packets.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Control {
    /// A joining node asks a seed (known only by address) for its identity.
    JoinRequest { from: GossipId },
    /// The seed's identity, so the joiner can announce to it through foca.
    JoinAccept { from: GossipId },
    /// Per-bucket hashes of the sender's metadata versions.
    DigestSummary { from: GossipId, hashes: Vec<u64> },
    /// The sender's entries for buckets whose hashes differed.
    DigestEntries {
        from: GossipId,
        buckets: Vec<u16>,
        entries: Vec<DigestEntry>,
    },
    /// Metadata records newer than (or unknown to) the receiver.
    MetadataPush {
        from: GossipId,
        records: Vec<NodeMetadata>,
    },
    /// Nodes whose metadata the sender wants.
    MetadataRequest { from: GossipId, nodes: Vec<NodeId> },
    /// "I suspect you": lets the suspect refute before it is declared down.
    SuspectNotice {
        from: GossipId,
        target: GossipId,
        incarnation: u16,
    },
    /// "I am alive at this incarnation", the answer to a suspect notice.
    Refute { from: GossipId, incarnation: u16 },
}

#[derive(Encode, Decode)]
struct WireDigestEntry {
    node: u32,
    generation: u64,
    counter: u64,
}

#[derive(Encode, Decode)]
enum WireControl {
    JoinRequest {
        from: WireId,
    },
    JoinAccept {
        from: WireId,
    },
    DigestSummary {
        from: WireId,
        hashes: Vec<u64>,
    },
    DigestEntries {
        from: WireId,
        buckets: Vec<u16>,
        entries: Vec<WireDigestEntry>,
    },
    MetadataPush {
        from: WireId,
        records: Vec<WireMetadata>,
    },
    MetadataRequest {
        from: WireId,
        nodes: Vec<u32>,
    },
    SuspectNotice {
        from: WireId,
        target: WireId,
        incarnation: u16,
    },
    Refute {
        from: WireId,
        incarnation: u16,
    },
}

fn to_wire_entry(entry: &DigestEntry) -> WireDigestEntry {
    WireDigestEntry {
        node: entry.node.0,
        generation: entry.version.generation,
        counter: entry.version.counter,
    }
}

impl From<&Control> for WireControl {
    fn from(control: &Control) -> WireControl {
        match control {
            Control::JoinRequest { from } => WireControl::JoinRequest { from: from.into() },
            Control::JoinAccept { from } => WireControl::JoinAccept { from: from.into() },
            Control::DigestSummary { from, hashes } => WireControl::DigestSummary {
                from: from.into(),
                hashes: hashes.clone(),
            },
            Control::DigestEntries {
                from,
                buckets,
                entries,
            } => WireControl::DigestEntries {
                from: from.into(),
                buckets: buckets.clone(),
                entries: entries.iter().map(to_wire_entry).collect(),
            },
            Control::MetadataPush { from, records } => WireControl::MetadataPush {
                from: from.into(),
                records: records.iter().map(WireMetadata::from).collect(),
            },
            Control::MetadataRequest { from, nodes } => WireControl::MetadataRequest {
                from: from.into(),
                nodes: nodes.iter().map(|node| node.0).collect(),
            },
            Control::SuspectNotice {
                from,
                target,
                incarnation,
            } => WireControl::SuspectNotice {
                from: from.into(),
                target: target.into(),
                incarnation: *incarnation,
            },
            Control::Refute { from, incarnation } => WireControl::Refute {
                from: from.into(),
                incarnation: *incarnation,
            },
        }
    }
}

impl From<WireControl> for Control {
    fn from(wire: WireControl) -> Control {
        match wire {
            WireControl::JoinRequest { from } => Control::JoinRequest { from: from.into() },
            WireControl::JoinAccept { from } => Control::JoinAccept { from: from.into() },
            WireControl::DigestSummary { from, hashes } => Control::DigestSummary {
                from: from.into(),
                hashes,
            },
            WireControl::DigestEntries {
                from,
                buckets,
                entries,
            } => Control::DigestEntries {
                from: from.into(),
                buckets,
                entries: entries
                    .into_iter()
                    .map(|entry| DigestEntry {
                        node: NodeId(entry.node),
                        version: MetadataVersion {
                            generation: entry.generation,
                            counter: entry.counter,
                        },
                    })
                    .collect(),
            },
            WireControl::MetadataPush { from, records } => Control::MetadataPush {
                from: from.into(),
                records: records.into_iter().map(NodeMetadata::from).collect(),
            },
            WireControl::MetadataRequest { from, nodes } => Control::MetadataRequest {
                from: from.into(),
                nodes: nodes.into_iter().map(NodeId).collect(),
            },
            WireControl::SuspectNotice {
                from,
                target,
                incarnation,
            } => Control::SuspectNotice {
                from: from.into(),
                target: target.into(),
                incarnation,
            },
            WireControl::Refute { from, incarnation } => Control::Refute {
                from: from.into(),
                incarnation,
            },
        }
    }
}

/// Encodes a control message as a complete datagram (frame header included).
pub(crate) fn encode_control(control: &Control) -> GossipResult<Vec<u8>> {
    Ok(frame(
        FrameKind::Control,
        &encode(&WireControl::from(control))?,
    ))
}

/// Decodes a control message payload (after the frame header).
pub(crate) fn decode_control(payload: &[u8]) -> GossipResult<Control> {
    let (wire, used) = decode::<WireControl>(payload)?;
    if used != payload.len() {
        return Err(GossipError::Decode {
            reason: format!(
                "control message has {} trailing bytes",
                payload.len() - used
            ),
        });
    }
    Ok(wire.into())
}

/// Encoded size of one digest entry.
pub(crate) fn digest_entry_len(entry: &DigestEntry) -> GossipResult<usize> {
    Ok(encode(&to_wire_entry(entry))?.len())
}

/// Encoded size of one metadata record inside a push.
pub(crate) fn metadata_len(metadata: &NodeMetadata) -> GossipResult<usize> {
    Ok(encode(&WireMetadata::from(metadata))?.len())
}

/// Bytes left for list items in a control datagram whose empty form is
/// `empty`, under `datagram_limit` bytes.
pub(crate) fn item_budget(empty: &Control, datagram_limit: usize) -> GossipResult<usize> {
    let base = encode_control(empty)?.len() + LENGTH_PREFIX_BYTES_MAX;
    Ok(datagram_limit.saturating_sub(base))
}

/// Splits `items` into runs whose encoded sizes fit `budget` bytes each.
/// An item larger than the budget travels alone (the caller checks the final
/// datagram size).
pub(crate) fn chunk_by_size<T>(
    items: Vec<T>,
    budget: usize,
    size_of: impl Fn(&T) -> GossipResult<usize>,
) -> GossipResult<Vec<Vec<T>>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut used = 0;
    for item in items {
        let size = size_of(&item)?;
        if !current.is_empty() && used + size > budget {
            chunks.push(std::mem::take(&mut current));
            used = 0;
        }
        used += size;
        current.push(item);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    Ok(chunks)
}

// ---------------------------------------------------------------------------
// foca's codec.

/// What the SWIM codec observed about the local node while encoding and
/// decoding; the gossip state machine reads it after every foca call.
#[derive(Debug, Default)]
pub(crate) struct CodecTap {
    /// The local node (to recognise packets about it).
    pub(crate) local: Option<GossipId>,
    /// Incarnation foca last put into a header it sent.
    pub(crate) local_incarnation: u16,
    /// Highest generation seen for the local node id in anyone's packets.
    pub(crate) highest_local_generation_seen: u64,
}

impl CodecTap {
    fn observe(&mut self, id: &GossipId) {
        if let Some(local) = &self.local {
            if local.node == id.node && id.generation > self.highest_local_generation_seen {
                self.highest_local_generation_seen = id.generation;
            }
        }
    }
}

/// Error of the SWIM codec.
#[derive(Debug, thiserror::Error)]
pub enum SwimCodecError {
    /// The output buffer cannot hold the item; nothing was written.
    #[error("SWIM item needs {needed} bytes but only {left} are left in the packet")]
    NoSpace {
        /// Encoded size of the item.
        needed: usize,
        /// Room left.
        left: usize,
    },
    /// bincode failed.
    #[error("{0}")]
    Bincode(String),
}

/// foca's [`foca::Codec`] over bincode.
pub struct SwimCodec {
    tap: Arc<Mutex<CodecTap>>,
}

impl SwimCodec {
    pub(crate) fn new(tap: Arc<Mutex<CodecTap>>) -> SwimCodec {
        SwimCodec { tap }
    }

    fn with_tap(&self, action: impl FnOnce(&mut CodecTap)) {
        let mut tap = self.tap.lock().unwrap_or_else(|poison| poison.into_inner());
        action(&mut tap);
    }

    fn put<T: Encode>(value: &T, mut buf: impl BufMut) -> Result<(), SwimCodecError> {
        let bytes = bincode::encode_to_vec(value, wire_config())
            .map_err(|error| SwimCodecError::Bincode(error.to_string()))?;
        if bytes.len() > buf.remaining_mut() {
            return Err(SwimCodecError::NoSpace {
                needed: bytes.len(),
                left: buf.remaining_mut(),
            });
        }
        buf.put_slice(&bytes);
        Ok(())
    }

    fn take<T: Decode<()>>(mut buf: impl Buf) -> Result<T, SwimCodecError> {
        let (value, used) = bincode::decode_from_slice(buf.chunk(), wire_config())
            .map_err(|error| SwimCodecError::Bincode(error.to_string()))?;
        buf.advance(used);
        Ok(value)
    }
}

impl foca::Codec<GossipId> for SwimCodec {
    type Error = SwimCodecError;

    fn encode_header(
        &mut self,
        header: &foca::Header<GossipId>,
        buf: impl BufMut,
    ) -> Result<(), Self::Error> {
        self.with_tap(|tap| {
            if tap.local.as_ref() == Some(&header.src) {
                tap.local_incarnation = header.src_incarnation;
            }
        });
        let wire = WireHeader {
            src: (&header.src).into(),
            src_incarnation: header.src_incarnation,
            dst: (&header.dst).into(),
            message: (&header.message).into(),
        };
        Self::put(&wire, buf)
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<foca::Header<GossipId>, Self::Error> {
        let wire: WireHeader = Self::take(buf)?;
        let header = foca::Header {
            src: wire.src.into(),
            src_incarnation: wire.src_incarnation,
            dst: wire.dst.into(),
            message: wire.message.into(),
        };
        self.with_tap(|tap| tap.observe(&header.src));
        Ok(header)
    }

    fn encode_member(
        &mut self,
        member: &foca::Member<GossipId>,
        buf: impl BufMut,
    ) -> Result<(), Self::Error> {
        let wire = WireMember {
            id: member.id().into(),
            incarnation: member.incarnation(),
            state: match member.state() {
                foca::State::Alive => WireState::Alive,
                foca::State::Suspect => WireState::Suspect,
                foca::State::Down => WireState::Down,
            },
        };
        Self::put(&wire, buf)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<foca::Member<GossipId>, Self::Error> {
        let wire: WireMember = Self::take(buf)?;
        let id: GossipId = wire.id.into();
        self.with_tap(|tap| tap.observe(&id));
        let state = match wire.state {
            WireState::Alive => foca::State::Alive,
            WireState::Suspect => foca::State::Suspect,
            WireState::Down => foca::State::Down,
        };
        Ok(foca::Member::new(id, wire.incarnation, state))
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
    fn control_round_trips() {
        let message = Control::DigestEntries {
            from: id(1),
            buckets: vec![1, 5],
            entries: vec![DigestEntry {
                node: NodeId(5),
                version: MetadataVersion {
                    generation: 2,
                    counter: 7,
                },
            }],
        };
        let datagram = encode_control(&message).unwrap();
        let (kind, payload) = unframe(id(1).addr, &datagram).unwrap();
        assert_eq!(kind, FrameKind::Control);
        assert_eq!(decode_control(payload).unwrap(), message);
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
        }
    }

    #[test]
    fn chunks_respect_the_budget() {
        let chunks = chunk_by_size((0..10u32).collect(), 7, |_| Ok(3)).unwrap();
        assert_eq!(chunks.len(), 5);
        assert!(chunks.iter().all(|chunk| chunk.len() == 2));
    }
}
