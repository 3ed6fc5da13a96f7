//! ZeroDB membership and failure detection on SWIM (foca), node metadata
//! and the clockwise digest exchange (DESIGN.md section 4).
//!
//! What this crate owns:
//! - [`GossipId`]: node id, address and a generation counter; foca renews
//!   it (generation + 1) when the cluster declared the node down, and the
//!   higher generation always wins.
//! - [`Gossip`]: the sans-IO state machine. Inputs: [`Gossip::join`],
//!   [`Gossip::leave`], [`Gossip::set_local_metadata`],
//!   [`Gossip::handle_datagram`], [`Gossip::handle_timer`]. Outputs: a list
//!   of [`Output`]s (datagrams, timers, [`GossipEvent`]s).
//! - Node metadata ([`NodeMetadata`]) disseminated as foca custom
//!   broadcasts; a newer [`MetadataVersion`] replaces an older one.
//! - A digest exchange with the clockwise successor that repairs views when
//!   broadcasts are lost, and suspicion notices sent to the suspect itself
//!   (Lifeguard's buddy system) so lossy links do not cause false downs.
//! - The view: [`Gossip::members`], [`Gossip::down_nodes`] and
//!   [`Gossip::ring`] (Normal members; a down node is never removed).
//!
//! What it does not own: sockets, the clock and persistence. The driver
//! passes `now_ms` (its millisecond clock) into every call and persists the
//! generation, adding one on every start. foca 2 takes no `Instant`s; it asks
//! for timers as durations, which become absolute `at_ms` deadlines here.
//! No call reads a clock, spawns a thread or uses a thread RNG; all
//! randomness comes from the seed passed to [`Gossip::new`].
//!
//! Wire format: every datagram is `[protocol version][frame kind][payload]`
//! encoded with bincode through [`codec`] only.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod absorb;
pub mod codec;
pub mod config;
mod digest;
pub mod error;
mod gossip;
pub mod identity;
mod inbound;
mod joining;
pub mod metadata;
pub mod output;
pub mod simulation;
mod store;
pub mod view;

pub use config::GossipConfig;
pub use digest::{METADATA_PUSH_RECORDS_MAX, SUCCESSOR_RETRY_TICKS};
pub use error::{GossipError, GossipResult};
pub use gossip::Gossip;
pub use identity::GossipId;
pub use metadata::{LocalMetadata, MetadataVersion, NodeMetadata};
pub use output::{GossipEvent, GossipTimer, Output};
pub use store::DIGEST_BUCKETS;
pub use view::{Liveness, MemberView};
