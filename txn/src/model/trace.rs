//! One line per event, with messages decoded, for violation traces.

use super::coordinator::COORDINATOR_ID_BASE;
use super::world::{Envelope, Event};
use crate::codec;
use crate::message::Message;
use crate::types::TxnId;

/// A one-line description of an event, with the message decoded.
pub(crate) fn describe(event: &Event) -> String {
    let msg = |env: &Envelope| {
        let m: Message = codec::decode(&env.2).expect("frames of this crate decode");
        format!("{} -> {}: {}", env.1, env.0, short(&m))
    };
    match event {
        Event::Deliver(e) => format!("deliver   {}", msg(e)),
        Event::Duplicate(e) => format!("duplicate {}", msg(e)),
        Event::Drop(e) => format!("drop      {}", msg(e)),
        Event::Tick(id) => format!("tick      replica {id} (clock + one lease)"),
        Event::Crash(id) => format!("crash     replica {id}, restart over its engine"),
        Event::Begin(i) => format!("begin     coordinator {i}: next attempt"),
        Event::FastCommit(i) => format!("fast      coordinator {i}: every replica prepared"),
        Event::Abort(i) => format!("abort     coordinator {i}: abandon attempt"),
        Event::Decide(i) => format!("decide    coordinator {i}: Decide(Committed) at ballot 0"),
    }
}

/// A short form of a message for traces.
fn short(msg: &Message) -> String {
    let t = |txn: &TxnId| format!("T{}", txn.coordinator - COORDINATOR_ID_BASE);
    match msg {
        Message::LockRead(r) => format!("LockRead {} attempt {}", t(&r.txn), r.attempt),
        Message::Apply {
            txn,
            attempt,
            decision,
            ..
        } => {
            let d = if decision.is_committed() {
                "Committed"
            } else {
                "Aborted"
            };
            format!("Apply {} attempt {attempt} {d}", t(txn))
        }
        Message::Decide {
            txn,
            attempt,
            ballot,
            value,
            ..
        } => format!(
            "Decide {} attempt {attempt} ballot {}.{} committed={}",
            t(txn),
            ballot.round,
            ballot.node,
            value.is_committed()
        ),
        Message::Prepare {
            txn,
            attempt,
            ballot,
            ..
        } => format!(
            "Prepare {} attempt {attempt} ballot {}.{}",
            t(txn),
            ballot.round,
            ballot.node
        ),
        Message::Promise { txn, attempt, .. } => format!("Promise {} attempt {attempt}", t(txn)),
        Message::Accepted { txn, attempt, .. } => format!("Accepted {} attempt {attempt}", t(txn)),
        other => {
            let mut s = format!("{other:?}");
            s.truncate(80);
            s
        }
    }
}
