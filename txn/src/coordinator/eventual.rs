//! Eventual reads and writes (DESIGN.md 7): writes take the coordinator's
//! HLC time as version and succeed after `W` acks; a down replica's copy
//! goes to the next healthy node clockwise as a hint (sloppy quorum). Reads
//! answer from `R` replies and repair stale replicas in the background.

use crate::types::ver;
use crate::types::KeyExt;
use std::collections::{BTreeMap, BTreeSet};

use zerodb_storage::Engine;

use crate::error::ClientError;
use crate::error::Refusal;
use crate::membership::NodeId;
use crate::message::{Message, ReqId};
use crate::node::TxnNode;
use crate::request::{ClientId, Level, Response};
use crate::types::{Epoch, Key, Versioned};

#[derive(Clone, Debug)]
enum Kind {
    Write {
        record: Versioned,
        /// The namespace's epoch the write was sent with.
        epoch: Epoch,
    },
    Read {
        replies: BTreeMap<NodeId, Option<Versioned>>,
    },
}

/// One eventual operation in flight.
#[derive(Clone, Debug)]
pub(crate) struct EventualOp {
    client: ClientId,
    skey: Vec<u8>,
    kind: Kind,
    needed: usize,
    targets: BTreeSet<NodeId>,
    acks: BTreeSet<NodeId>,
    answered: bool,
    deadline_ms: u64,
}

impl EventualOp {
    pub(crate) fn answered(&self) -> bool {
        self.answered
    }
}

impl<E: Engine> TxnNode<E> {
    pub(crate) fn start_eventual_write(
        &mut self,
        client: ClientId,
        key: Key,
        value: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
        level: Level,
    ) -> Result<(), ClientError> {
        let view = &self.view;
        let partition = view.partition_of(&key);
        let replicas = view.replicas(&partition);
        let needed = level.needed(replicas.len());
        let mut spare = view
            .failover(&partition)
            .into_iter()
            .filter(|n| !view.is_down(*n));
        // (target, intended replica when it is a hint)
        let mut sends: Vec<(NodeId, Option<u32>)> = Vec::new();
        let mut missing = Vec::new();
        for r in &replicas {
            if !view.is_down(*r) {
                sends.push((*r, None));
            } else if let Some(s) = spare.next() {
                sends.push((s, Some(r.0)));
            } else {
                missing.push(r.0);
            }
        }
        if replicas.is_empty() || sends.len() < needed {
            return Err(ClientError::Unavailable {
                partition,
                missing,
                needed,
                replicas: replicas.len(),
            });
        }
        let policy = Some(view.policies.version_of(&key.namespace));
        let epoch = view.namespace_epoch(&key.namespace);
        let version = ver(self.timestamp());
        let record = Versioned {
            version,
            value,
            expires_at_ms: ttl_ms.map(|ttl| version.physical_ms.saturating_add(ttl)),
        };
        let req = self.next_req();
        for (to, hint_for) in &sends {
            self.send(
                *to,
                Message::Store {
                    req,
                    key: key.storage_key(),
                    record: record.clone(),
                    hint_for: *hint_for,
                    policy,
                },
            );
        }
        let op = EventualOp {
            client,
            skey: key.storage_key(),
            kind: Kind::Write { record, epoch },
            needed,
            targets: sends.iter().map(|(n, _)| *n).collect(),
            acks: BTreeSet::new(),
            answered: false,
            deadline_ms: self.now_ms + self.options.request_timeout_ms,
        };
        self.coord.eventual.insert(req, op);
        Ok(())
    }

    pub(crate) fn start_eventual_read(
        &mut self,
        client: ClientId,
        key: Key,
        level: Level,
    ) -> Result<(), ClientError> {
        let view = &self.view;
        let partition = view.partition_of(&key);
        let replicas = view.replicas(&partition);
        let needed = level.needed(replicas.len());
        let targets: BTreeSet<NodeId> = replicas
            .iter()
            .copied()
            .filter(|n| !view.is_down(*n))
            .collect();
        if replicas.is_empty() || targets.len() < needed {
            return Err(ClientError::Unavailable {
                partition,
                missing: replicas
                    .iter()
                    .filter(|n| !targets.contains(n))
                    .map(|n| n.0)
                    .collect(),
                needed,
                replicas: replicas.len(),
            });
        }
        let req = self.next_req();
        for to in &targets {
            self.send(
                *to,
                Message::ReadEventual {
                    req,
                    key: key.storage_key(),
                },
            );
        }
        let op = EventualOp {
            client,
            skey: key.storage_key(),
            kind: Kind::Read {
                replies: BTreeMap::new(),
            },
            needed,
            targets,
            acks: BTreeSet::new(),
            answered: false,
            deadline_ms: self.now_ms + self.options.request_timeout_ms,
        };
        self.coord.eventual.insert(req, op);
        Ok(())
    }

    pub(crate) fn eventual_on_stored(&mut self, from: NodeId, req: ReqId) {
        let Some(op) = self.coord.eventual.get_mut(&req) else {
            return;
        };
        let Kind::Write { record, .. } = &op.kind else {
            return;
        };
        if !op.targets.contains(&from) {
            return;
        }
        let version = record.version;
        op.acks.insert(from);
        let answer = op.acks.len() >= op.needed && !op.answered;
        if answer {
            op.answered = true;
        }
        let (client, all) = (op.client, op.acks.len() == op.targets.len());
        if answer {
            self.reply(client, Response::Written { version });
        }
        if all {
            self.coord.eventual.remove(&req);
        }
    }

    pub(crate) fn eventual_on_read_reply(
        &mut self,
        from: NodeId,
        req: ReqId,
        value: Option<Versioned>,
    ) {
        let Some(op) = self.coord.eventual.get_mut(&req) else {
            return;
        };
        let Kind::Read { replies } = &mut op.kind else {
            return;
        };
        if !op.targets.contains(&from) {
            return;
        }
        replies.insert(from, value);
        let best = best_of(replies);
        let (count, all) = (replies.len(), replies.len() == op.targets.len());
        if count >= op.needed && !op.answered {
            op.answered = true;
            let client = op.client;
            // Tombstones and records whose TTL ran out (by this
            // coordinator's clock: eventual reads promise no more) read as
            // absent.
            let now_ms = self.now_ms;
            let value = best.filter(|v| v.value.is_some() && !v.expired_at(now_ms));
            self.reply(client, Response::Value(value));
        }
        if all {
            self.finish_eventual_read(req);
        }
    }

    pub(crate) fn eventual_on_refused(&mut self, from: NodeId, req: ReqId, reason: Refusal) {
        let Some(op) = self.coord.eventual.get_mut(&req) else {
            return;
        };
        if let (Kind::Write { epoch, .. }, Refusal::WrongEpoch { replica }) = (&op.kind, &reason) {
            // The replica's catalog says something else of the namespace
            // (it may be strong now): no retry here can be right, the node
            // must refresh its catalog first.
            let error = ClientError::WrongEpoch {
                coordinator: *epoch,
                replica: *replica,
            };
            let (client, answered) = (op.client, op.answered);
            self.coord.eventual.remove(&req);
            if !answered {
                self.reply(client, Response::Error(error));
            }
            return;
        }
        op.targets.remove(&from);
        if op.targets.len() < op.needed && !op.answered {
            op.answered = true;
            let client = op.client;
            let is_write = matches!(op.kind, Kind::Write { .. });
            self.reply(
                client,
                Response::Error(ClientError::Timeout {
                    outcome_unknown: is_write,
                }),
            );
        }
    }

    /// Background read repair: stale repliers get the highest version.
    fn finish_eventual_read(&mut self, req: ReqId) {
        let Some(op) = self.coord.eventual.remove(&req) else {
            return;
        };
        let Kind::Read { replies } = &op.kind else {
            return;
        };
        let Some(best) = best_of(replies) else { return };
        if self.options.unsafe_skip_read_repair {
            return;
        }
        for (node, v) in replies {
            if v.as_ref().is_none_or(|v| v.version < best.version) {
                let repair = self.next_req();
                self.send(
                    *node,
                    Message::Store {
                        req: repair,
                        key: op.skey.clone(),
                        record: best.clone(),
                        hint_for: None,
                        policy: None,
                    },
                );
            }
        }
    }

    pub(crate) fn eventual_tick(&mut self) {
        let now = self.now_ms;
        let expired: Vec<ReqId> = self
            .coord
            .eventual
            .iter()
            .filter(|(_, op)| op.deadline_ms <= now)
            .map(|(r, _)| *r)
            .collect();
        for req in expired {
            let Some(op) = self.coord.eventual.get(&req) else {
                continue;
            };
            let (answered, client) = (op.answered, op.client);
            let is_write = matches!(op.kind, Kind::Write { .. });
            if !answered {
                self.reply(
                    client,
                    Response::Error(ClientError::Timeout {
                        outcome_unknown: is_write,
                    }),
                );
            }
            if !is_write {
                self.finish_eventual_read(req);
            }
            self.coord.eventual.remove(&req);
        }
    }
}

fn best_of(replies: &BTreeMap<NodeId, Option<Versioned>>) -> Option<Versioned> {
    replies
        .values()
        .flatten()
        .max_by_key(|v| v.version)
        .cloned()
}
