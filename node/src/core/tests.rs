//! Story tests of the node core: three cores exchanging messages through a
//! queue, the way the runtime drives them (sync per batch, then release).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use zerodb_storage::{Incarnation, MemoryEngine};
use zerodb_txn::{Key, Level, Op, OpResult};

use crate::api::{ClientRequest, ClientResponse, ScanEntry, ScanQuery};

use super::membership::MemberSpec;
use super::*;

/// `n` members in one region, one zone each, 8 tokens (addresses are
/// values only: nothing binds them).
pub(super) fn cluster(n: u32) -> ClusterSpec {
    ClusterSpec {
        tokens_per_node: 8,
        members: (1..=n)
            .map(|id| MemberSpec {
                id,
                address: SocketAddr::from(([127, 0, 0, 1], 9000 + id as u16)),
                region: "r".into(),
                zone: format!("z{id}"),
            })
            .collect(),
    }
}

/// Cores exchanging node messages (in order, without delay) and gossip
/// datagrams (delivered at the next time step) while simulated time runs
/// in steps of [`HARNESS_STEP_MS`].
pub(super) struct Harness {
    pub(super) nodes: BTreeMap<NodeId, NodeCore<MemoryEngine>>,
    pub(super) queue: VecDeque<(NodeId, NodeId, NodeMessage)>,
    replies: BTreeMap<ClientId, ClientResponse>,
    timers: Vec<(u64, NodeId, Timer)>,
    /// Asks to deliver: (asker, ask, node asked, request).
    asks: VecDeque<(NodeId, AskId, NodeId, ClientRequest)>,
    /// Requests the harness made for an ask: client id at the node asked
    /// -> (asker, ask, node asked).
    asked: BTreeMap<ClientId, (NodeId, AskId, NodeId)>,
    next_ask_client: u64,
    /// Every ask released so far: (asker, node asked).
    pub(super) asks_sent: Vec<(NodeId, NodeId)>,
    /// True: asks are lost (neither delivered nor reported failed).
    pub(super) drop_asks: bool,
    pub(super) now_ms: u64,
    /// Gossip datagrams (from, to, bytes) for the next time step.
    datagrams: Vec<(NodeId, NodeId, Vec<u8>)>,
    /// False: gossip datagrams are dropped.
    pub(super) gossip: bool,
    /// Nodes cut off: every message and datagram to or from them is lost.
    pub(super) isolated: std::collections::BTreeSet<NodeId>,
    /// How far ahead of `now_ms` a node's clock runs (none: exact).
    pub(super) ahead_ms: BTreeMap<NodeId, u64>,
}

/// Time step of the harness.
pub(super) const HARNESS_STEP_MS: u64 = 10;

/// Client ids the harness gives the requests it carries for asks.
const HARNESS_ASK_CLIENT_BASE: u64 = 1 << 40;

impl Harness {
    pub(super) fn new(n: u32) -> Harness {
        Harness::with_cluster(cluster(n))
    }

    pub(super) fn with_cluster(spec: ClusterSpec) -> Harness {
        Harness::with_options(spec, CoreOptions::default())
    }

    pub(super) fn with_options(spec: ClusterSpec, options: CoreOptions) -> Harness {
        let n = spec.members.len() as u32;
        let mut harness = Harness {
            nodes: BTreeMap::new(),
            queue: VecDeque::new(),
            replies: BTreeMap::new(),
            timers: Vec::new(),
            asks: VecDeque::new(),
            asked: BTreeMap::new(),
            next_ask_client: HARNESS_ASK_CLIENT_BASE,
            asks_sent: Vec::new(),
            drop_asks: false,
            now_ms: 1_000,
            datagrams: Vec::new(),
            gossip: true,
            isolated: Default::default(),
            ahead_ms: BTreeMap::new(),
        };
        for id in 1..=n {
            let engine = MemoryEngine::new(Incarnation(u64::from(id)));
            let mut core = NodeCore::open(
                NodeId(id),
                spec.clone(),
                NamespacePolicy::default(),
                engine,
                u64::from(id),
                options.clone(),
                true,
            )
            .unwrap();
            let outputs = core.start(harness.now_ms);
            harness.nodes.insert(NodeId(id), core);
            harness.release(NodeId(id), outputs);
        }
        harness
    }

    /// What `node`'s clock reads now.
    pub(super) fn clock(&self, node: NodeId) -> u64 {
        self.now_ms + self.ahead_ms.get(&node).copied().unwrap_or(0)
    }

    pub(super) fn release(&mut self, node: NodeId, outputs: Vec<Output>) {
        let core = self.nodes.get_mut(&node).unwrap();
        core.sync().unwrap();
        for output in outputs {
            match output {
                Output::Send { to, msg } => {
                    if !self.cut(node, to) {
                        self.queue.push_back((node, to, msg));
                    }
                }
                Output::Reply { client, response } => match self.asked.remove(&client) {
                    Some((asker, id, asked)) => {
                        let now_ms = self.clock(asker);
                        let outputs = self.nodes.get_mut(&asker).unwrap().handle_answer(
                            now_ms,
                            id,
                            asked,
                            Some(response),
                        );
                        self.release(asker, outputs);
                    }
                    None => {
                        self.replies.insert(client, response);
                    }
                },
                Output::Datagram { to, bytes, .. } => self.datagrams.push((node, to, bytes)),
                Output::Ask { to, id, request } => {
                    self.asks_sent.push((node, to));
                    if !self.cut(node, to) && !self.drop_asks {
                        self.asks.push_back((node, id, to, request));
                    }
                }
                Output::SetTimer { at_ms, timer } => self.timers.push((at_ms, node, timer)),
            }
        }
    }

    /// Sends `request` to `node` as `caller` and runs until it is
    /// answered.
    pub(super) fn call(
        &mut self,
        node: u32,
        client: u64,
        caller: Caller,
        request: ClientRequest,
    ) -> ClientResponse {
        let (node, client) = (NodeId(node), ClientId(client));
        let now_ms = self.clock(node);
        let outputs = self
            .nodes
            .get_mut(&node)
            .unwrap()
            .handle_client_request(now_ms, client, caller, request);
        self.release(node, outputs);
        for _ in 0..10_000 {
            if let Some(response) = self.replies.remove(&client) {
                return response;
            }
            self.step();
        }
        panic!("no answer for {client:?}");
    }

    /// The answer to the data request `client` sent, once it came.
    pub(super) fn take_reply(&mut self, client: ClientId) -> Option<Response> {
        self.replies.remove(&client).map(|response| match response {
            ClientResponse::Data(response) => response,
            other => panic!("a data request was answered with {other:?}"),
        })
    }

    pub(super) fn request(&mut self, node: u32, client: u64, req: Request) -> Response {
        self.request_as(node, client, Caller::Node, req)
    }

    pub(super) fn request_as(
        &mut self,
        node: u32,
        client: u64,
        caller: Caller,
        req: Request,
    ) -> Response {
        let node = NodeId(node);
        let client = ClientId(client);
        let now_ms = self.clock(node);
        let outputs = self
            .nodes
            .get_mut(&node)
            .unwrap()
            .handle_data_request(now_ms, client, caller, req);
        self.release(node, outputs);
        for _ in 0..10_000 {
            if let Some(response) = self.take_reply(client) {
                return response;
            }
            self.step();
        }
        panic!("no reply for {client:?}");
    }

    /// Whether the link between `a` and `b` is cut.
    fn cut(&self, a: NodeId, b: NodeId) -> bool {
        a != b && (self.isolated.contains(&a) || self.isolated.contains(&b))
    }

    /// Runs until the message queue is empty and `ms` of simulated time
    /// have passed.
    pub(super) fn run(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end || !self.queue.is_empty() {
            self.step();
        }
    }

    pub(super) fn step(&mut self) {
        if let Some((from, to, msg)) = self.queue.pop_front() {
            let now_ms = self.clock(to);
            let core = self.nodes.get_mut(&to).unwrap();
            let outputs = core.handle_message(now_ms, from, msg);
            self.release(to, outputs);
            return;
        }
        if let Some((asker, id, to, request)) = self.asks.pop_front() {
            let client = ClientId(self.next_ask_client);
            self.next_ask_client += 1;
            self.asked.insert(client, (asker, id, to));
            let now_ms = self.clock(to);
            let core = self.nodes.get_mut(&to).unwrap();
            let outputs = core.handle_client_request(now_ms, client, Caller::Node, request);
            self.release(to, outputs);
            return;
        }
        self.now_ms += HARNESS_STEP_MS;
        for (from, to, bytes) in std::mem::take(&mut self.datagrams) {
            if self.gossip && !self.cut(from, to) {
                let now = self.clock(to);
                let outputs = self
                    .nodes
                    .get_mut(&to)
                    .unwrap()
                    .handle_datagram(now, from, &bytes);
                self.release(to, outputs);
            }
        }
        let timers = std::mem::take(&mut self.timers);
        let (due, later) = timers
            .into_iter()
            .partition(|(at, node, _)| *at <= self.clock(*node));
        self.timers = later;
        let due: Vec<(u64, NodeId, Timer)> = due;
        for (_, node, timer) in due {
            let now = self.clock(node);
            let outputs = self.nodes.get_mut(&node).unwrap().handle_timer(now, timer);
            self.release(node, outputs);
        }
    }
}

fn key(id: &str) -> Key {
    Key::new("default", "db", "t", id)
}

#[test]
fn three_cores_write_read_and_commit_a_transaction() {
    let mut harness = Harness::new(3);
    let put = Request::Put {
        key: key("a"),
        value: b"1".to_vec(),
        level: Level::One,
        ttl_ms: None,
    };
    assert!(matches!(
        harness.request(1, 1, put),
        Response::Written { .. }
    ));
    let get = Request::Get {
        key: key("a"),
        level: Level::One,
    };
    match harness.request(2, 2, get) {
        Response::Value(Some(found)) => assert_eq!(found.value, Some(b"1".to_vec())),
        other => panic!("unexpected {other:?}"),
    }
    let txn = Request::Txn {
        ops: vec![Op::Incr(key("n"), 5), Op::Get(key("a"))],
    };
    match harness.request(3, 3, txn) {
        Response::Committed { results, .. } => assert_eq!(results[0], OpResult::Int(5)),
        other => panic!("unexpected {other:?}"),
    }
    let tally = harness.nodes[&NodeId(1)].tally();
    assert_eq!((tally.committed, tally.errors), (1, 0));
}

#[test]
fn status_reports_every_member_with_its_share_and_liveness() {
    let mut harness = Harness::new(3);
    let now = harness.now_ms;
    let core = harness.nodes.get_mut(&NodeId(1)).unwrap();
    core.peer_unreachable(now, NodeId(3));
    let status = core.status(now);
    assert_eq!(status.members.len(), 3);
    assert_eq!(status.ring_epoch, membership::INITIAL_RING_EPOCH);
    // RF 3 on 3 nodes: every node replicates the whole ring.
    for member in &status.members {
        assert!(member.ownership_ppm > 999_000, "{member:?}");
        assert_eq!(member.tokens, 8);
    }
    let up: Vec<bool> = status.members.iter().map(|m| m.up).collect();
    assert_eq!(up, vec![true, true, false]);
    // Hearing from node 3 brings it back.
    let outputs = core.handle_message(now, NodeId(3), NodeMessage::Hello { boot: 7 });
    assert!(outputs.is_empty());
    assert!(core.status(now).members.iter().all(|m| m.up));
}

#[test]
fn a_node_outside_the_cluster_is_refused() {
    let error = NodeCore::open(
        NodeId(9),
        cluster(3),
        NamespacePolicy::default(),
        MemoryEngine::new(Incarnation(1)),
        1,
        CoreOptions::default(),
        true,
    )
    .err()
    .unwrap();
    assert!(error.to_string().contains("id 9"), "{error}");
}

/// Every node's local scan of table `t`, at most `limit` live records each.
fn local_scans(harness: &mut Harness, limit: u32) -> Vec<Vec<ScanEntry>> {
    let query = ScanQuery {
        namespace: "default".into(),
        database: "db".into(),
        table: "t".into(),
        start: Vec::new(),
        end: None,
        limit,
    };
    harness
        .nodes
        .values_mut()
        .map(|core| core.local_scan(&query).unwrap())
        .collect()
}

#[test]
fn scans_merge_by_version_and_hide_tombstones() {
    let mut harness = Harness::new(3);
    for (i, id) in ["b", "a", "c"].iter().enumerate() {
        let put = Request::Put {
            key: key(id),
            value: id.as_bytes().to_vec(),
            level: Level::One,
            ttl_ms: None,
        };
        harness.request(1, 10 + i as u64, put);
    }
    let del = Request::Delete {
        key: key("c"),
        level: Level::One,
    };
    harness.request(1, 20, del);
    // The reply comes once the decision is accepted; let the applies land.
    while !harness.queue.is_empty() {
        harness.step();
    }
    let answers = local_scans(&mut harness, 100);
    let merged = merge_scans(answers, 100);
    let ids: Vec<&[u8]> = merged.iter().map(|e| e.id.as_slice()).collect();
    assert_eq!(ids, vec![b"a".as_slice(), b"b".as_slice()]);
    assert_eq!(merge_scans(vec![merged.clone()], 1).len(), 1);
}

#[test]
fn a_limited_scan_counts_live_records_only_so_deletes_do_not_hide_later_records() {
    let mut harness = Harness::new(3);
    for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let put = Request::Put {
            key: key(id),
            value: id.as_bytes().to_vec(),
            level: Level::One,
            ttl_ms: None,
        };
        harness.request(1, 10 + i as u64, put);
    }
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let del = Request::Delete {
            key: key(id),
            level: Level::One,
        };
        harness.request(1, 20 + i as u64, del);
    }
    while !harness.queue.is_empty() {
        harness.step();
    }
    let answers = local_scans(&mut harness, 2);
    // Each node answers the three tombstones it met and two live records.
    assert!(answers.iter().all(|a| a.len() == 5), "{answers:?}");
    let merged = merge_scans(answers, 2);
    let ids: Vec<&[u8]> = merged.iter().map(|e| e.id.as_slice()).collect();
    assert_eq!(ids, vec![b"d".as_slice(), b"e".as_slice()]);
}
