//! Who is on the other end of a connection, read from its certificate.
//!
//! Naming convention (DESIGN.md section 10), fixed here and nowhere else:
//!
//! - a node certificate carries the DNS subject alternative name
//!   `n<id>.node.zerodb` (for example `n7.node.zerodb`) and the common name
//!   `n<id>`; `<id>` is the decimal node id without leading zeros;
//! - a client certificate carries the DNS subject alternative name
//!   `<user>.client.zerodb` and the common name `<user>`.
//!
//! A certificate must carry exactly one such name. The TLS layer has already
//! checked that the certificate chains to the cluster CA before anything here
//! runs, so a name read here is a name the CA vouched for.

use std::fmt;

use x509_parser::extensions::GeneralName;

/// A node's id as its certificate names it. The node converts to and from
/// the ring's `NodeId` (the same number); the transport knows no ring.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// DNS suffix of node certificate names.
pub const NODE_NAME_SUFFIX: &str = ".node.zerodb";
/// DNS suffix of client certificate names.
pub const CLIENT_NAME_SUFFIX: &str = ".client.zerodb";
/// Longest user name accepted (one DNS label).
pub const USER_NAME_LENGTH_MAX: usize = 63;

/// The authenticated identity of a peer, taken from its certificate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerIdentity {
    /// Another node of the cluster.
    Node(NodeId),
    /// A client acting for the named user.
    Client(String),
}

impl PeerIdentity {
    /// The node id when the peer is a node.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            PeerIdentity::Node(id) => Some(*id),
            PeerIdentity::Client(_) => None,
        }
    }
}

impl PeerIdentity {
    /// Checks that a peer claiming to be node `claimed` (in a hello frame or
    /// a gossip message) holds a certificate for that node; logs and refuses
    /// it otherwise.
    pub fn check_claim(&self, claimed: NodeId) -> Result<(), IdentityError> {
        if self.node() == Some(claimed) {
            return Ok(());
        }
        tracing::warn!(certified = %self, claimed = %claimed, "refusing a peer that claims another node id than its certificate names");
        Err(IdentityError::ClaimMismatch {
            certified: self.clone(),
            claimed,
        })
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerIdentity::Node(id) => write!(f, "node {id}"),
            PeerIdentity::Client(user) => write!(f, "client {user:?}"),
        }
    }
}

/// Why a certificate does not name a valid ZeroDB identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The bytes are not a DER X.509 certificate.
    #[error("peer certificate is not valid DER X.509: {0}; reissue it with `zerodb certs`")]
    Unparsable(String),
    /// No `*.node.zerodb` or `*.client.zerodb` DNS name.
    #[error("peer certificate names no ZeroDB identity (expected a DNS name ending in {NODE_NAME_SUFFIX} or {CLIENT_NAME_SUFFIX}); reissue it with `zerodb certs node|client`")]
    Missing,
    /// More than one identity name, so the peer's identity is ambiguous.
    #[error("peer certificate names several ZeroDB identities ({0:?}); a certificate must name exactly one")]
    Ambiguous(Vec<String>),
    /// A `*.node.zerodb` name whose first label is not `n<decimal id>`.
    #[error("node certificate name {0:?} is malformed: expected n<id>{NODE_NAME_SUFFIX} with a decimal u32 id and no leading zeros")]
    BadNodeName(String),
    /// A user name that is not one lowercase DNS label.
    #[error("user name {0:?} is invalid: use 1 to {USER_NAME_LENGTH_MAX} characters from a-z, 0-9 and '-', not starting or ending with '-'")]
    BadUserName(String),
    /// The common name of a client certificate is not its user.
    #[error(
        "client certificate common name {common_name:?} differs from its DNS name user {user:?}"
    )]
    CommonNameMismatch {
        /// The user named by the DNS name.
        user: String,
        /// The common name found in the subject.
        common_name: String,
    },
    /// A peer claimed (in a hello or a gossip message) to be another node
    /// than the one its certificate names.
    #[error("peer certified as {certified} claims to be node {claimed}; refusing it (a node may only speak for the id in its certificate)")]
    ClaimMismatch {
        /// The identity in the peer's certificate.
        certified: PeerIdentity,
        /// The node id it claimed.
        claimed: NodeId,
    },
}

/// The DNS name a node's certificate carries, also used as the TLS server
/// name when dialing that node: `n<id>.node.zerodb`.
pub fn node_dns_name(node: NodeId) -> String {
    format!("n{}{NODE_NAME_SUFFIX}", node.0)
}

/// The DNS name a client certificate carries: `<user>.client.zerodb`.
pub fn client_dns_name(user: &str) -> Result<String, IdentityError> {
    validate_user_name(user)?;
    Ok(format!("{user}{CLIENT_NAME_SUFFIX}"))
}

/// Checks that `user` is one lowercase DNS label, so it can sit in a
/// certificate name unchanged.
pub fn validate_user_name(user: &str) -> Result<(), IdentityError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let valid = !user.is_empty()
        && user.len() <= USER_NAME_LENGTH_MAX
        && user.chars().all(allowed)
        && !user.starts_with('-')
        && !user.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(IdentityError::BadUserName(user.to_string()))
    }
}

/// Parses the first label of a node name (`n<id>`), accepting only the
/// canonical spelling so that one node has exactly one name.
fn parse_node_label(label: &str, full_name: &str) -> Result<NodeId, IdentityError> {
    let bad = || IdentityError::BadNodeName(full_name.to_string());
    let digits = label.strip_prefix('n').ok_or_else(bad)?;
    let id: u32 = digits.parse().map_err(|_| bad())?;
    if format!("{id}") != digits {
        return Err(bad());
    }
    Ok(NodeId(id))
}

/// Reads the peer identity from a DER certificate.
///
/// Does not verify the certificate's signature or chain: call it only on
/// certificates that the TLS handshake already verified.
pub fn identity_from_certificate(der: &[u8]) -> Result<PeerIdentity, IdentityError> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|error| IdentityError::Unparsable(error.to_string()))?;
    let san = certificate
        .subject_alternative_name()
        .map_err(|error| IdentityError::Unparsable(error.to_string()))?;
    let names: Vec<String> = san
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                    _ => None,
                })
                .filter(|dns| dns.ends_with(NODE_NAME_SUFFIX) || dns.ends_with(CLIENT_NAME_SUFFIX))
                .collect()
        })
        .unwrap_or_default();
    let name = match names.as_slice() {
        [] => return Err(IdentityError::Missing),
        [one] => one.clone(),
        _ => return Err(IdentityError::Ambiguous(names)),
    };
    if let Some(label) = name.strip_suffix(NODE_NAME_SUFFIX) {
        return parse_node_label(label, &name).map(PeerIdentity::Node);
    }
    let user = name
        .strip_suffix(CLIENT_NAME_SUFFIX)
        .ok_or(IdentityError::Missing)?
        .to_string();
    validate_user_name(&user)?;
    let common_name = certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok().map(str::to_string));
    match common_name {
        Some(common_name) if common_name != user => {
            Err(IdentityError::CommonNameMismatch { user, common_name })
        }
        _ => Ok(PeerIdentity::Client(user)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_round_trip_and_reject_non_canonical_spellings() {
        assert_eq!(node_dns_name(NodeId(7)), "n7.node.zerodb");
        assert_eq!(parse_node_label("n7", "x"), Ok(NodeId(7)));
        assert_eq!(parse_node_label("n0", "x"), Ok(NodeId(0)));
        for bad in ["n07", "7", "n", "n-1", "n+1", "n4294967296", "nx"] {
            assert!(parse_node_label(bad, bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn user_names_are_single_lowercase_labels() {
        for good in ["alice", "a", "svc-1", "0"] {
            assert_eq!(validate_user_name(good), Ok(()), "{good} refused");
        }
        let long = "a".repeat(USER_NAME_LENGTH_MAX + 1);
        for bad in ["", "Alice", "a.b", "-a", "a-", "a b", long.as_str()] {
            assert!(validate_user_name(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(client_dns_name("bob").unwrap(), "bob.client.zerodb");
    }

    #[test]
    fn claims_must_match_the_certificate() {
        let node = PeerIdentity::Node(NodeId(3));
        assert_eq!(node.check_claim(NodeId(3)), Ok(()));
        assert_eq!(
            node.check_claim(NodeId(4)),
            Err(IdentityError::ClaimMismatch {
                certified: node.clone(),
                claimed: NodeId(4)
            })
        );
        let client = PeerIdentity::Client("alice".into());
        assert!(
            client.check_claim(NodeId(3)).is_err(),
            "a client never speaks for a node"
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            identity_from_certificate(b"not a certificate"),
            Err(IdentityError::Unparsable(_))
        ));
    }
}
