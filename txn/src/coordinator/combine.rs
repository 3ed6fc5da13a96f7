//! Strong single-key writes of one key that meet at one coordinator commit
//! together (issue 15: hot keys).
//!
//! A strong `Put` or `Delete` of a key for which this coordinator already
//! runs such a write *joins* that run while the run has not fixed its value
//! (it is backing off before another attempt; a blind prepare carries the
//! value, so a run that is locking has fixed it, protocol v2): the run
//! now writes the newcomer's value, and every writer that joined gets the
//! run's answer. Once the run decides, newcomers wait for it and then run
//! together, the same way. The writes that commit together were all in
//! flight at the commit, so taking them in arrival order at that one
//! instant is a valid linearization: none of the earlier values could be
//! read by anyone, and every writer learns the one version that holds the
//! last value. A hot key then costs one lock round per batch of writes
//! instead of one per write, and its writers stop fighting over its locks
//! (wait-die would make every younger one back off and retry).

use std::collections::BTreeMap;

use zerodb_storage::Engine;

use super::txn::{Phase, ReplyKind};
use crate::error::ClientError;
use crate::node::TxnNode;
use crate::request::{ClientId, Op, Response};
use crate::types::KeyExt;

/// The writes of one storage key at this coordinator.
#[derive(Clone, Debug)]
pub(crate) struct KeyWrites {
    /// The client whose run writes the key now.
    leader: ClientId,
    /// Writers answered with the leader's answer.
    joined: Vec<ClientId>,
    /// The newest write that came after the run fixed its value, and every
    /// writer waiting with it: they run together once the leader's answer
    /// is out.
    next: Option<(Op, Vec<ClientId>)>,
}

/// Single-key writes by storage key, and the key of each leading client.
#[derive(Clone, Debug, Default)]
pub(crate) struct Combiner {
    keys: BTreeMap<Vec<u8>, KeyWrites>,
    leaders: BTreeMap<ClientId, Vec<u8>>,
}

impl Combiner {
    /// Writers that joined or wait for a leader (the leaders' runs are
    /// counted with the transactions).
    pub(crate) fn followers(&self) -> usize {
        self.keys
            .values()
            .map(|k| k.joined.len() + k.next.as_ref().map_or(0, |(_, c)| c.len()))
            .sum()
    }
}

impl<E: Engine> TxnNode<E> {
    /// A strong `Put` or `Delete` (`op`) from `client`.
    pub(crate) fn start_single_write(
        &mut self,
        client: ClientId,
        op: Op,
    ) -> Result<(), ClientError> {
        debug_assert!(matches!(op, Op::Put(..) | Op::PutTtl(..) | Op::Delete(_)));
        let skey = op.key().storage_key();
        let Some(writes) = self.coord.combiner.keys.get(&skey) else {
            return self.lead_write(client, op, Vec::new());
        };
        let leader = writes.leader;
        let open = self
            .coord
            .txns
            .values_mut()
            .find(|run| run.client == leader)
            .filter(|run| matches!(run.phase, Phase::Backoff { .. }));
        let writes = self
            .coord
            .combiner
            .keys
            .get_mut(&skey)
            .expect("looked up above");
        match open {
            Some(run) => {
                run.ops = vec![op];
                writes.joined.push(client);
            }
            None => {
                let (next, waiting) = writes.next.get_or_insert_with(|| (op.clone(), Vec::new()));
                *next = op;
                waiting.push(client);
            }
        }
        Ok(())
    }

    /// Starts the run of `op` for `client`, answering `joined` with it.
    fn lead_write(
        &mut self,
        client: ClientId,
        op: Op,
        joined: Vec<ClientId>,
    ) -> Result<(), ClientError> {
        let skey = op.key().storage_key();
        self.start_txn(client, ReplyKind::Written, vec![op])?;
        self.coord.combiner.leaders.insert(client, skey.clone());
        let writes = KeyWrites {
            leader: client,
            joined,
            next: None,
        };
        self.coord.combiner.keys.insert(skey, writes);
        Ok(())
    }

    /// `client` is answered: if it led writes of a key, answers the
    /// writers that joined it the same way and starts the writers that
    /// waited.
    pub(crate) fn on_answered(&mut self, client: ClientId, response: &Response) {
        let Some(skey) = self.coord.combiner.leaders.remove(&client) else {
            return;
        };
        let writes = self
            .coord
            .combiner
            .keys
            .remove(&skey)
            .expect("a leader's key has its writes");
        debug_assert_eq!(writes.leader, client);
        for joined in writes.joined {
            self.reply(joined, response.clone());
        }
        let Some((op, mut waiting)) = writes.next else {
            return;
        };
        let leader = waiting.remove(0);
        if let Err(error) = self.lead_write(leader, op, waiting.clone()) {
            for client in std::iter::once(leader).chain(waiting) {
                self.reply(client, Response::Error(error.clone()));
            }
        }
    }
}
