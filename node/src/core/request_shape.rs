//! What a data request touches and asks for, read off its shape: the
//! namespaces it names, whether it writes, and whether its kind fits each
//! namespace's consistency. Used by the metadata gate and forwarding.

use zerodb_config::Consistency;
use zerodb_txn::{Key, Level, Op, Request};

/// The namespaces a request touches, in order, without repeats.
pub fn namespaces_of(request: &Request) -> Vec<String> {
    let keys: Vec<&Key> = match request {
        Request::Get { key, .. } | Request::Put { key, .. } | Request::Delete { key, .. } => {
            vec![key]
        }
        Request::Txn { ops } => ops.iter().map(Op::key).collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for key in keys {
        if !out.contains(&key.namespace) {
            out.push(key.namespace.clone());
        }
    }
    out
}

/// Whether a request writes.
pub fn writes(request: &Request) -> bool {
    match request {
        Request::Get { .. } => false,
        Request::Put { .. } | Request::Delete { .. } => true,
        Request::Txn { ops } => ops.iter().any(Op::writes),
    }
}

/// Strong namespaces take strong operations (transactions, and reads and
/// writes without an eventual level); eventual namespaces take eventual
/// ones (single-key reads and writes).
pub(super) fn check_consistency(
    request: &Request,
    namespaces: &[(String, Consistency)],
) -> Result<(), String> {
    match request {
        Request::Txn { .. } => {
            for (namespace, consistency) in namespaces {
                if *consistency == Consistency::Eventual {
                    return Err(format!(
                        "namespace {namespace:?} is eventual: it takes single-key get/put/del, not transactions (create a strong namespace for transactions)"
                    ));
                }
            }
            Ok(())
        }
        Request::Get { level, .. } | Request::Put { level, .. } | Request::Delete { level, .. } => {
            let (namespace, consistency) = &namespaces[0];
            if *consistency == Consistency::Strong && *level != Level::One {
                return Err(format!(
                    "namespace {namespace:?} is strong: it takes strong operations only; the eventual level {level:?} is for eventual namespaces (strong reads and writes always use a quorum)"
                ));
            }
            Ok(())
        }
    }
}
