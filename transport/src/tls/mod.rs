//! Mutual TLS for QUIC (DESIGN.md section 10): rustls with the `ring`
//! provider only, TLS 1.3, ALPN `zerodb/1`, and the cluster CA as the only
//! trust root on both sides.
//!
//! - [`identity`]: certificate naming rules and [`PeerIdentity`] extraction.
//! - [`config`]: [`TlsIdentity`] (our certificate, key and CA) and the quinn
//!   server/client configurations built from it.

pub mod config;
pub mod identity;

pub use config::{
    client_config, client_config_any_node, connection_identity, server_config, TlsError,
    TlsIdentity, ALPN,
};
pub use identity::{
    client_dns_name, identity_from_certificate, node_dns_name, IdentityError, NodeId, PeerIdentity,
};
