//! ZeroDB's own gossip messages beside foca's SWIM packets: the join
//! handshake, the digest exchange, metadata pushes and suspicion notices,
//! with their wire shapes and the helpers that keep them under the datagram
//! limit.

use bincode::{Decode, Encode};
use zerodb_ring::NodeId;

use super::{decode, encode, frame, FrameKind, WireId, WireMetadata};
use crate::error::{GossipError, GossipResult};
use crate::identity::GossipId;
use crate::metadata::{MetadataVersion, NodeMetadata};

/// Bytes left free in a control datagram for the list length prefix.
const LENGTH_PREFIX_BYTES_MAX: usize = 9;

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

impl Control {
    /// The identity the message claims as its sender.
    pub(crate) fn sender(&self) -> GossipId {
        match self {
            Control::JoinRequest { from }
            | Control::JoinAccept { from }
            | Control::DigestSummary { from, .. }
            | Control::DigestEntries { from, .. }
            | Control::MetadataPush { from, .. }
            | Control::MetadataRequest { from, .. }
            | Control::SuspectNotice { from, .. }
            | Control::Refute { from, .. } => *from,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::unframe;
    use super::*;

    fn id(node: u32) -> GossipId {
        GossipId::new(
            NodeId(node),
            format!("10.0.0.{node}:7000").parse().unwrap(),
            2,
        )
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
        assert_eq!(message.sender(), id(1));
    }

    #[test]
    fn chunks_respect_the_budget() {
        let chunks = chunk_by_size((0..10u32).collect(), 7, |_| Ok(3)).unwrap();
        assert_eq!(chunks.len(), 5);
        assert!(chunks.iter().all(|chunk| chunk.len() == 2));
    }
}
