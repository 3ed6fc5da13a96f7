//! How [`NodeCore`] runs client requests through the catalog gate
//! ([`Metadata::admit`]) and carries out the node's own catalog requests:
//! their replies are taken out of the action list here and never reach
//! the driver.

use zerodb_storage::Engine;
use zerodb_txn::{Action, ClientId, Request, Response};

use super::expiry::Sweeper;
use super::metadata::{Admission, Caller, Metadata};
use super::{NodeCore, Output};

impl<E: Engine> NodeCore<E> {
    /// A data request from `caller`: admitted, parked until the catalog
    /// is refreshed, or refused (see [`Metadata::admit`]).
    pub fn handle_data_request(
        &mut self,
        now_ms: u64,
        client: ClientId,
        caller: Caller,
        request: Request,
    ) -> Vec<Output> {
        let mut actions = Vec::new();
        if Metadata::is_internal(client) {
            let reason = format!("client id {} is reserved for the node", client.0);
            actions.push(refusal(client, reason));
            return self.finish(now_ms, actions);
        }
        self.gate(now_ms, client, caller, request, false, &mut actions);
        self.finish(now_ms, actions)
    }

    fn gate(
        &mut self,
        now_ms: u64,
        client: ClientId,
        caller: Caller,
        request: Request,
        replay: bool,
        actions: &mut Vec<Action>,
    ) {
        match self
            .metadata
            .admit(client, &caller, request, &self.ring, replay)
        {
            Admission::Pass(request) => {
                let target = match caller {
                    // Forwarded requests arrive from nodes: never again.
                    Caller::User(_) => self.forward_target(now_ms, client, &request),
                    Caller::Node => None,
                };
                match target {
                    Some(to) => self.forward(now_ms, client, to, request),
                    None => actions.extend(self.txn.handle_request(now_ms, client, request)),
                }
            }
            Admission::Refuse(error) => actions.push(Action::Reply {
                client,
                response: Response::Error(error),
            }),
            Admission::Park(request) => match self.metadata.park(now_ms, client, caller, request) {
                Ok(Some((internal, read))) => {
                    actions.extend(self.txn.handle_request(now_ms, internal, read));
                }
                Ok(None) => {}
                Err(error) => actions.push(Action::Reply {
                    client,
                    response: Response::Error(*error),
                }),
            },
        }
    }

    /// Catalog housekeeping on every timer: due refreshes, expired waits,
    /// a step of the background purge of dropped namespaces.
    pub(super) fn tick_metadata(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        self.purge_dropped();
        self.sweep_expired(now_ms, actions);
        let (requests, expired) = self.metadata.tick(now_ms);
        for (internal, request) in requests {
            actions.extend(self.txn.handle_request(now_ms, internal, request));
        }
        for (client, response) in expired {
            actions.push(Action::Reply { client, response });
        }
    }

    /// Takes the node's own replies out of `actions` and handles them (which
    /// may issue more requests and admit parked ones); installs committed
    /// catalog writes; counts what is left. Returns the outputs of the
    /// call: what is left of `actions`, then the outbox, then the gossip
    /// timer if its deadline moved earlier.
    pub(super) fn finish(&mut self, now_ms: u64, actions: Vec<Action>) -> Vec<Output> {
        let actions = self.settle_internal(now_ms, actions);
        let mut outputs: Vec<Output> = actions.into_iter().map(Output::from).collect();
        outputs.append(&mut self.outbox);
        self.arm_gossip(&mut outputs);
        outputs
    }

    fn settle_internal(&mut self, now_ms: u64, mut actions: Vec<Action>) -> Vec<Action> {
        let mut out = Vec::with_capacity(actions.len());
        let mut changed = false;
        // Bounded: each round handles replies that arrived synchronously;
        // real answers need messages, so this ends after a round or two.
        for _round in 0..16 {
            if actions.is_empty() {
                break;
            }
            let mut next = Vec::new();
            let mut loaded_any = false;
            for action in actions {
                match action {
                    Action::Reply { client, response } if Metadata::is_internal(client) => {
                        let (requests, loaded) =
                            self.metadata.internal_reply(now_ms, client, response);
                        changed |= loaded;
                        loaded_any = true;
                        for (internal, request) in requests {
                            next.extend(self.txn.handle_request(now_ms, internal, request));
                        }
                    }
                    Action::Reply { client, response } if Sweeper::owns(client) => {
                        self.expiry_answered(client, &response);
                    }
                    Action::Reply { client, response } => {
                        changed |= self.metadata.client_reply(client, &response);
                        out.push(Action::Reply { client, response });
                    }
                    other => out.push(other),
                }
            }
            if changed {
                self.install_policies(now_ms);
                changed = false;
            }
            if loaded_any {
                for parked in self.metadata.take_ready() {
                    self.gate(
                        now_ms,
                        parked.client,
                        parked.caller,
                        parked.request,
                        true,
                        &mut next,
                    );
                }
            }
            actions = next;
        }
        out.extend(actions);
        self.count(&out);
        out
    }

    /// The catalog version this node holds (0 before the first load): what
    /// its gossip record advertises once loaded.
    pub fn catalog_version(&self) -> u64 {
        self.metadata.version()
    }

    /// Hands the catalog's policies to the transaction layer and advertises
    /// the new version in gossip (peers holding less fetch it).
    fn install_policies(&mut self, now_ms: u64) {
        self.policies = self.metadata.policies();
        self.txn.set_view(
            self.ring.clone(),
            self.down_set(now_ms),
            self.policies.clone(),
        );
        let version = self.metadata.version();
        let step = self
            .gossip
            .advertise_cluster_metadata_version(now_ms, version);
        self.apply_gossip(now_ms, step);
    }
}

fn refusal(client: ClientId, reason: String) -> Action {
    Action::Reply {
        client,
        response: Response::Error(zerodb_txn::ClientError::BadRequest { reason }),
    }
}
