//! foca's [`foca::Codec`] for SWIM packets: the wire shapes of foca's
//! headers and members, and the tap through which the state machine learns
//! what foca said about the local node.

use std::sync::{Arc, Mutex};

use bincode::{Decode, Encode};
use bytes::{Buf, BufMut};

use super::{wire_config, WireId};
use crate::identity::GossipId;

#[derive(Encode, Decode)]
pub(crate) enum WireMessage {
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
pub(crate) struct WireHeader {
    pub(crate) src: WireId,
    pub(crate) src_incarnation: u16,
    pub(crate) dst: WireId,
    pub(crate) message: WireMessage,
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
