//! How the simulator drives each node core: the runtime's batch semantics
//! over the simulated network, clocks and disks.
//!
//! - An input due for a node (a message, a datagram, a request, an ask's
//!   answer, a timer) goes to the node's inbox; the first one due at an
//!   instant schedules a [`SimEvent::Batch`] at that same instant, so that
//!   everything due for the node at that instant shares one batch (at most
//!   [`BATCH_INPUTS_MAX`] inputs; the rest go to a batch right after). A
//!   paused node's inputs wait until it resumes and then form one batch.
//! - The batch goes to [`NodeCore::handle_batch`], which handles the
//!   node's messages to itself inside the batch; the engine syncs once,
//!   which takes [`SYNC_US`] (inputs arriving meanwhile wait and form the
//!   next batch, as they do in the runtime); only then are the outputs
//!   released. A crash during the sync, or one armed for the node's next
//!   input, loses the unsynced writes and every output of the batch
//!   together.
//! - Asks (forwards, local scans) travel like messages; the driver carries
//!   the peer's answer back, or reports `None` when the peer is down (a
//!   refused connection). A lost request or answer reports nothing: the
//!   asker's own timer decides.
//!
//! [`NodeCore::handle_batch`]: zerodb_node::core::NodeCore::handle_batch

use zerodb_node::api::ClientResponse;
use zerodb_node::core::batch::BATCH_INPUTS_MAX;
use zerodb_node::core::metadata::Caller;
use zerodb_node::core::{before_sync, Input, Output, Timer};
use zerodb_ring::NodeId;
use zerodb_txn::{ClientId, ReplicaStatus};

use crate::cluster::{Cluster, SimDisk, SimEvent, CLIENT_LATENCY_US, SYNC_US};

/// An input waiting in a node's inbox for its next batch.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) input: Input,
    /// For a timer, the reading of the node's clock it waits for.
    pub(crate) due_ms: Option<u64>,
}

impl<D: SimDisk> Cluster<D> {
    /// Processes one node-bound event: its input joins the node's inbox.
    pub fn handle_node_event(&mut self, event: SimEvent) {
        let index = match &event {
            SimEvent::Deliver { to, .. } | SimEvent::Datagram { to, .. } => *to,
            SimEvent::Timer { node, .. }
            | SimEvent::Request { node, .. }
            | SimEvent::Answer { node, .. }
            | SimEvent::Batch { node, .. }
            | SimEvent::Synced { node, .. } => *node,
            _ => return,
        };
        let now_us = self.now_us;
        let slot = &self.nodes[index];
        if slot.paused_until_us > now_us {
            // A paused process handles its input when it resumes.
            self.queue.push(slot.paused_until_us, event);
            return;
        }
        if !slot.is_up() {
            if let SimEvent::Request { client, .. } = event {
                self.refuse_carried(client);
            }
            return;
        }
        let generation = slot.generation;
        let clock = slot.clock.clone();
        let due_ms = match &event {
            SimEvent::Timer { at_ms, .. } => Some(*at_ms),
            _ => None,
        };
        let input = match event {
            SimEvent::Batch {
                generation: set_by, ..
            } => {
                if set_by == generation {
                    self.run_batch(index);
                }
                return;
            }
            SimEvent::Synced {
                generation: set_by,
                outputs,
                ..
            } => {
                if set_by == generation {
                    self.finish_sync(index, outputs);
                }
                return;
            }
            SimEvent::Deliver { from, msg, .. } => Input::Message { from, msg },
            SimEvent::Datagram { from, bytes, .. } => Input::Datagram { from, bytes },
            SimEvent::Request {
                client,
                caller,
                request,
                ..
            } => Input::Request {
                client,
                caller,
                request,
            },
            SimEvent::Answer {
                generation: asked_by,
                id,
                from,
                answer,
                ..
            } => {
                if asked_by != generation {
                    return;
                }
                Input::Answer { id, from, answer }
            }
            SimEvent::Timer {
                generation: set_by,
                at_ms,
                timer,
                ..
            } => {
                if set_by != generation {
                    return;
                }
                if clock.now_ms(now_us) < at_ms {
                    // The clock jumped back: wait until it reads `at_ms`.
                    self.requeue_timer(index, at_ms, timer);
                    return;
                }
                Input::Timer(timer)
            }
            _ => unreachable!("filtered above"),
        };
        if self.trace {
            eprintln!("{now_us} n{} <- {input:?}", index + 1);
        }
        self.enqueue(index, Inbound { input, due_ms });
    }

    /// Delivers timer `timer` of node `index` once its clock reads `at_ms`.
    fn requeue_timer(&mut self, index: usize, at_ms: u64, timer: Timer) {
        let slot = &self.nodes[index];
        let at_us = slot.clock.true_us_at(at_ms, self.now_us + 1);
        let timer = SimEvent::Timer {
            node: index,
            generation: slot.generation,
            at_ms,
            timer,
        };
        self.queue.push(at_us, timer);
    }

    /// Adds `inbound` to the node's inbox and makes sure a batch will take
    /// it at this instant (or once the sync in progress completes).
    fn enqueue(&mut self, index: usize, inbound: Inbound) {
        let slot = &mut self.nodes[index];
        slot.inbox.push(inbound);
        if !slot.batch_scheduled && !slot.syncing {
            slot.batch_scheduled = true;
            let batch = SimEvent::Batch {
                node: index,
                generation: slot.generation,
            };
            self.queue.push(self.now_us, batch);
        }
    }

    /// Hands the node its inbox (bounded) as one batch and starts its
    /// sync (or crashes before it).
    fn run_batch(&mut self, index: usize) {
        let now_us = self.now_us;
        let slot = &mut self.nodes[index];
        slot.batch_scheduled = false;
        if slot.syncing {
            // The sync in progress schedules the next batch when it ends.
            return;
        }
        let rest = slot.inbox.split_off(slot.inbox.len().min(BATCH_INPUTS_MAX));
        let inbound = std::mem::replace(&mut slot.inbox, rest);
        let now_ms = slot.read_clock(now_us);
        // A timer that waited in the inbox for a sync may meet a clock that
        // jumped back meanwhile: the core is handed a timer only once its
        // clock reads the timer's time (a core that re-arms only after its
        // deadline would otherwise never be woken again: seed 1732 of
        // `--workload ranges`), so it waits again.
        let mut inputs = Vec::with_capacity(inbound.len());
        let mut early = Vec::new();
        for Inbound { input, due_ms } in inbound {
            match (input, due_ms) {
                (Input::Timer(timer), Some(at_ms)) if at_ms > now_ms => early.push((at_ms, timer)),
                (input, _) => inputs.push(input),
            }
        }
        for (at_ms, timer) in early {
            self.requeue_timer(index, at_ms, timer);
        }
        if inputs.is_empty() {
            return;
        }
        let Some(node) = self.nodes[index].node.as_mut() else {
            return;
        };
        self.batches.0 += 1;
        self.batches.1 += inputs.len() as u64;
        let outputs = node.handle_batch(now_ms, inputs);
        // A batch that raised the HLC floor holds everything until its sync.
        let hold = node.take_floor_raised();
        let goes_first = |output: &Output| {
            if self.unsafe_release_votes_before_sync {
                !matches!(output, Output::Reply { .. })
            } else {
                !hold && before_sync(output)
            }
        };
        let (early, late): (Vec<Output>, Vec<Output>) = outputs.into_iter().partition(goes_first);
        if late.is_empty() {
            self.skip_sync(index, early);
        } else {
            self.begin_sync_after(index, early, late);
        }
    }

    /// A batch whose outputs all go [`before_sync`] (an `Apply`, a timer,
    /// requests) leaves its writes to the next sync (DESIGN.md 6.1 step
    /// 5): its outputs are carried out at once, and a crash until the next
    /// sync loses its writes. A crash armed for this batch strikes after
    /// the outputs left.
    fn skip_sync(&mut self, index: usize, outputs: Vec<Output>) {
        if self.nodes[index].crash_mid_batch {
            self.nodes[index].syncing = true;
            self.release(index, outputs);
            self.strike_armed_crash(index);
            return;
        }
        self.after_batch(index, outputs);
    }

    /// The crash armed for the node's current batch strikes, if one is:
    /// its outputs that go before the sync have left, its writes are lost.
    /// Returns whether it struck.
    fn strike_armed_crash(&mut self, index: usize) -> bool {
        let slot = &mut self.nodes[index];
        if !slot.crash_mid_batch {
            return false;
        }
        slot.crash_mid_batch = false;
        slot.syncing = false;
        self.counts.crashes_mid_batch += 1;
        self.crash_now(index, false);
        self.schedule_restart(index);
        true
    }

    /// Starts the sync of a batch whose outputs are `outputs`: they are
    /// released when it completes ([`SYNC_US`] later), unless a crash
    /// armed for this batch strikes first.
    pub(crate) fn begin_sync(&mut self, index: usize, outputs: Vec<Output>) {
        self.begin_sync_after(index, Vec::new(), outputs);
    }

    /// Releases `early` (requests, timers: [`before_sync`]), then starts
    /// the batch's sync; `late` is released when it completes, unless a
    /// crash armed for this batch strikes first (after `early` left).
    fn begin_sync_after(&mut self, index: usize, early: Vec<Output>, late: Vec<Output>) {
        self.nodes[index].syncing = true;
        self.release(index, early);
        if self.strike_armed_crash(index) {
            return;
        }
        let slot = &mut self.nodes[index];
        let synced = SimEvent::Synced {
            node: index,
            generation: slot.generation,
            outputs: late,
        };
        self.queue.push(self.now_us + SYNC_US, synced);
    }

    /// The durability rule: the sync completes, then the batch's outputs
    /// are released, then the next batch may start.
    fn finish_sync(&mut self, index: usize, outputs: Vec<Output>) {
        let slot = &mut self.nodes[index];
        slot.syncing = false;
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        if let Err(error) = node.sync() {
            // The batch's outputs are dropped with the node: none of them
            // may leave before the sync that holds them.
            let error = error.to_string();
            if !self.disk_fault_struck(index, &error) {
                let id = self.nodes[index].id;
                self.errors
                    .push(format!("node {id} failed to sync: {error}"));
                self.crash_now(index, false);
            }
            return;
        }
        self.after_batch(index, outputs);
    }

    /// Releases a batch's outputs and schedules the next batch.
    fn after_batch(&mut self, index: usize, outputs: Vec<Output>) {
        let slot = &mut self.nodes[index];
        if slot.lost_state
            && slot
                .node
                .as_ref()
                .is_some_and(|node| node.txn().status() == ReplicaStatus::Normal)
        {
            slot.lost_state = false;
            if self.trace {
                eprintln!("{} n{} RECOVERED", self.now_us, index + 1);
            }
        }
        self.release(index, outputs);
        let slot = &mut self.nodes[index];
        if !slot.inbox.is_empty() && !slot.batch_scheduled {
            slot.batch_scheduled = true;
            let batch = SimEvent::Batch {
                node: index,
                generation: slot.generation,
            };
            self.queue.push(self.now_us, batch);
        }
    }

    fn release(&mut self, index: usize, outputs: Vec<Output>) {
        let from = self.nodes[index].id;
        for output in outputs {
            match output {
                Output::Send { to, msg } if to == from => {
                    // Left over after the batch's rounds: the next batch.
                    let input = Input::Message { from, msg };
                    self.enqueue(
                        index,
                        Inbound {
                            input,
                            due_ms: None,
                        },
                    );
                }
                Output::Send { to, msg } => {
                    let Some(to_index) = self.index_of(to) else {
                        self.errors
                            .push(format!("node {from} sent to unknown node {to}"));
                        continue;
                    };
                    for delay in self.net.delays(&mut self.rng, from.0, to.0) {
                        let msg = msg.clone();
                        let deliver = SimEvent::Deliver {
                            to: to_index,
                            from,
                            msg,
                        };
                        self.queue.push(self.now_us + delay, deliver);
                    }
                }
                Output::Datagram { to, bytes, .. } => {
                    let Some(to_index) = self.index_of(to) else {
                        continue;
                    };
                    for delay in self.net.delays(&mut self.rng, from.0, to.0) {
                        let bytes = bytes.clone();
                        let datagram = SimEvent::Datagram {
                            to: to_index,
                            from,
                            bytes,
                        };
                        self.queue.push(self.now_us + delay, datagram);
                    }
                }
                Output::Reply { client, response } => self.reply(index, client, response),
                Output::Ask { to, id, request } => {
                    let Some(to_index) = self.index_of(to) else {
                        self.errors
                            .push(format!("node {from} asked unknown node {to}"));
                        continue;
                    };
                    let client = ClientId(self.next_carried);
                    self.next_carried += 1;
                    let generation = self.nodes[index].generation;
                    self.carried.insert(client, (index, generation, id, to));
                    // Asks travel on the transport's reliable streams: one
                    // delivery at most (loss only to partitions and drops).
                    if let Some(delay) = self.net.delays(&mut self.rng, from.0, to.0).first() {
                        let request = SimEvent::Request {
                            node: to_index,
                            client,
                            caller: Caller::Node,
                            request,
                        };
                        self.queue.push(self.now_us + delay, request);
                    }
                }
                Output::SetTimer { at_ms, timer } => {
                    let slot = &self.nodes[index];
                    let at_us = slot.clock.true_us_at(at_ms, self.now_us);
                    let timer = SimEvent::Timer {
                        node: index,
                        generation: slot.generation,
                        at_ms,
                        timer,
                    };
                    self.queue.push(at_us, timer);
                }
            }
        }
    }

    /// An answer from node `index`: to the asker of a carried request, or
    /// to a simulated client.
    fn reply(&mut self, index: usize, client: ClientId, response: ClientResponse) {
        if self.trace {
            eprintln!("{} n{} -> {client:?}: {response:?}", self.now_us, index + 1);
        }
        if let Some((asker, generation, id, asked)) = self.carried.remove(&client) {
            let from = self.nodes[index].id;
            let to = self.nodes[asker].id;
            if let Some(delay) = self.net.delays(&mut self.rng, from.0, to.0).first() {
                let answer = SimEvent::Answer {
                    node: asker,
                    generation,
                    id,
                    from: asked,
                    answer: Some(response),
                };
                self.queue.push(self.now_us + delay, answer);
            }
            return;
        }
        let reply = SimEvent::Reply { client, response };
        self.queue.push(self.now_us + CLIENT_LATENCY_US, reply);
    }

    /// A carried request reached a node that is down: the asker learns
    /// that the peer could not be reached (a refused connection).
    fn refuse_carried(&mut self, client: ClientId) {
        let Some((asker, generation, id, asked)) = self.carried.remove(&client) else {
            return;
        };
        let (from, to) = (asked, self.nodes[asker].id);
        if let Some(delay) = self.net.delays(&mut self.rng, from.0, to.0).first() {
            let answer = SimEvent::Answer {
                node: asker,
                generation,
                id,
                from: NodeId(from.0),
                answer: None,
            };
            self.queue.push(self.now_us + delay, answer);
        }
    }
}
