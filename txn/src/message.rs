//! Node-to-node protocol messages (DESIGN.md 6.1, 6.2, 7 and lost-state
//! recovery). Encoded only through [`crate::codec`].

use bincode::{Decode, Encode};

use crate::error::Refusal;
use crate::quorum::Voter;
use crate::types::{
    Attempt, Ballot, Decision, Epoch, LockMode, PartitionId, TxnId, Ver, Versioned, Write,
};

/// A request id chosen by the sender, echoed in replies. Unique over the
/// sender's lives: `(store nonce, life, sequence)` (see
/// `TxnNode::open`), so a reply to a request sent before a restart is never
/// taken for the reply to a new one.
pub type ReqId = u128;

/// One key a `LockRead` asks for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LockKey {
    /// Storage key.
    pub key: Vec<u8>,
    /// Its partition.
    pub partition: PartitionId,
    /// Shared for reads, exclusive for writes.
    pub mode: LockMode,
}

/// A range of one table a `LockRead` share-locks (6.1 step 1: the shared
/// range mode of scans). While it is held no other transaction is granted
/// an exclusive lock on a key inside it, so nothing can be inserted into
/// it or deleted from it (no phantoms).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LockRange {
    /// First storage key of the range (included).
    pub start: Vec<u8>,
    /// First storage key after the range (excluded).
    pub end: Vec<u8>,
    /// The partition holding the whole range.
    pub partition: PartitionId,
}

impl LockRange {
    /// Whether storage key `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && key < self.end.as_slice()
    }
}

/// One record of a locked range as a replica answers it: what a range
/// assert compares (the value is not needed, so large ranges stay small).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RangeEntry {
    /// Storage key.
    pub key: Vec<u8>,
    /// Version of the record.
    pub version: Ver,
    /// False for a tombstone.
    pub live: bool,
}

/// The writes and commit version of a blind transaction (no get, incr or
/// assert), carried by its prepare (DESIGN.md 6.1 step 1): a replica that
/// grants it holds a durable prepare of exactly these writes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlindWrites {
    /// The commit version, above every stored version of the keys at each
    /// replica that prepares it (I8).
    pub version: Ver,
    /// Every write of the transaction (one partition: its home).
    pub writes: Vec<Write>,
}

/// What a replica knows of one attempt's prepare, reported with a Paxos
/// promise (termination, 6.1 step 6) and a register query (reads, 6.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub enum PrepareState {
    /// The replica cannot say (it does not vote, or only reports).
    #[default]
    Unknown,
    /// It holds the attempt's prepare; `self_granted`: it granted it
    /// itself (a prepare copied from peers is a lock, never a vote).
    Prepared {
        /// Granted by this replica, not copied.
        self_granted: bool,
    },
    /// It resolved the attempt `Committed`.
    Committed,
    /// It durably refused the attempt, or resolved it `Aborted`: it never
    /// prepares it (again).
    Refused,
}

/// Fetch-and-lock (6.1 step 1): lock every key or none, reply with values.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LockRead {
    /// The transaction.
    pub txn: TxnId,
    /// Its attempt.
    pub attempt: Attempt,
    /// Partition holding the decision register.
    pub home: PartitionId,
    /// Sender's `(ring epoch, policy version)`.
    pub epoch: Epoch,
    /// Lease after which the replica recovers the lock, in ms.
    pub lease_ms: u64,
    /// The keys of this replica.
    pub keys: Vec<LockKey>,
    /// The ranges of this replica, share-locked.
    pub ranges: Vec<LockRange>,
    /// For a blind transaction of one partition: its writes and commit
    /// version, prepared with the locks (protocol v2's fast path).
    pub blind: Option<BlindWrites>,
}

/// A write lock a replica reports with a read (6.2).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LockInfo {
    /// Holder.
    pub txn: TxnId,
    /// Holder's attempt.
    pub attempt: Attempt,
    /// Holder's home partition.
    pub home: PartitionId,
    /// The holder's prepare is blind (protocol v2): it may have committed
    /// on the fast path with an empty register.
    pub blind: bool,
}

/// What an acceptor reports about a decision register.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RegisterStatus {
    /// Highest ballot promised.
    pub promised: Ballot,
    /// Highest-ballot value accepted, if any.
    pub accepted: Option<(Ballot, Decision)>,
    /// The decided value, if learned.
    pub decided: Option<Decision>,
    /// The answering replica's prepare of the attempt (not stored in the
    /// register; filled in by the handler that answers).
    pub prepare: PrepareState,
}

/// Every node-to-node message.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Message {
    /// Fetch and lock (coordinator -> replica).
    LockRead(LockRead),
    /// All locks granted; the current value of each key.
    LockGranted {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// `(storage key, record)` per requested key; `None`: never written.
        values: Vec<(Vec<u8>, Option<Versioned>)>,
        /// Per requested range, in order: every record in it, deleted ones
        /// (tombstones) included, in key order, without values.
        ranges: Vec<Vec<RangeEntry>>,
        /// The replica granted the locks itself (a lock copied from peers
        /// during lost-state recovery is not a vote of the fast path).
        self_granted: bool,
        /// The replica's clock when it read the values (ms since the Unix
        /// epoch): an expiry holds only once every read replica passed it.
        clock_ms: u64,
    },
    /// Wait-die said die: a conflicting holder is older (or the wait queue
    /// is full or timed out).
    LockBusy {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Contended key.
        key: Vec<u8>,
        /// Holder.
        holder: TxnId,
        /// The replica durably refused the attempt: it never prepares it
        /// (evidence that a blind attempt took no fast path).
        refused: bool,
    },
    /// The replica refused the request.
    LockRefused {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Why.
        reason: Refusal,
        /// The replica durably refused the attempt (see `LockBusy`).
        refused: bool,
    },
    /// Paxos phase 2 (accept): coordinator with ballot `(0, coordinator)`, or
    /// a recovering replica with its own ballot.
    Decide {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Ballot.
        ballot: Ballot,
        /// Proposed value.
        value: Decision,
        /// Sender's epoch.
        epoch: Epoch,
        /// The register's home partition (a fenced replica votes only in
        /// a ring of two, see `crate::quorum`).
        home: PartitionId,
    },
    /// The acceptor accepted `ballot`.
    Accepted {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Ballot accepted.
        ballot: Ballot,
        /// Who accepted (see `crate::quorum`).
        voter: Voter,
    },
    /// Paxos phase 1 (recovery).
    Prepare {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Ballot.
        ballot: Ballot,
        /// Sender's epoch.
        epoch: Epoch,
        /// The register's home partition.
        home: PartitionId,
    },
    /// Promise for `ballot` with the register's state.
    Promise {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Ballot promised.
        ballot: Ballot,
        /// Register state.
        status: RegisterStatus,
        /// Who promised (see `crate::quorum`).
        voter: Voter,
    },
    /// `ballot` was refused: a higher one was promised, or the register
    /// is decided (then `status.decided` says so).
    PaxosNack {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Ballot refused.
        ballot: Ballot,
        /// Register state.
        status: RegisterStatus,
    },
    /// A Paxos message refused for a reason other than the ballot.
    PaxosRefused {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Why.
        reason: Refusal,
    },
    /// The decision is known: apply it (writes of this replica's
    /// partitions), record it in the register if home, release the locks.
    Apply {
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
        /// Home partition (its replicas record the decision).
        home: PartitionId,
        /// The decided value.
        decision: Decision,
    },
    /// Read a register without voting (6.2 lock handling).
    QueryDecision {
        /// Request id.
        req: ReqId,
        /// Transaction.
        txn: TxnId,
        /// Attempt.
        attempt: Attempt,
    },
    /// Answer to `QueryDecision`.
    DecisionStatus {
        /// Request id.
        req: ReqId,
        /// Register state (`None`: refused, e.g. recovering).
        status: Option<RegisterStatus>,
    },
    /// Strong single-key read (6.2).
    Read {
        /// Request id.
        req: ReqId,
        /// Storage key.
        key: Vec<u8>,
        /// Sender's epoch.
        epoch: Epoch,
    },
    /// Answer to `Read`.
    ReadReply {
        /// Request id.
        req: ReqId,
        /// Stored record.
        value: Option<Versioned>,
        /// Every write lock on the key. Usually at most one; a replica that
        /// copied locks from peers after losing its state can hold several
        /// (see `replica::sync::merge_lock`), and a reader must learn each.
        locks: Vec<LockInfo>,
    },
    /// Refusal of a request-id message (`Read`, `WriteBack`, `ERead`...).
    Refused {
        /// Request id.
        req: ReqId,
        /// Why.
        reason: Refusal,
    },
    /// Read repair / eventual write: store if newer (version rule).
    /// `hint_for`: keep it as a hint for that node and replay it later.
    Store {
        /// Request id.
        req: ReqId,
        /// Storage key.
        key: Vec<u8>,
        /// The record.
        record: Versioned,
        /// Intended replica when this is a sloppy-quorum hint.
        hint_for: Option<u32>,
        /// For an eventual write (and a hint's replay): the sender's policy
        /// version of the key's namespace (`Policies::version_of`); a
        /// replica that holds another one, or holds the namespace strong,
        /// refuses it with `WrongEpoch`. `None` for read repair, which
        /// writes a version some replica already holds.
        policy: Option<u64>,
    },
    /// `Store` is durable (sent after the batch syncs).
    Stored {
        /// Request id.
        req: ReqId,
    },
    /// Eventual read of one key.
    ReadEventual {
        /// Request id.
        req: ReqId,
        /// Storage key.
        key: Vec<u8>,
    },
    /// Lost-state copy: send up to a page of `space_tag` entries after
    /// `after`.
    SyncRequest {
        /// `b'd'` data or `b's'` system.
        space_tag: u8,
        /// Exclusive lower bound; `None` from the start.
        after: Option<Vec<u8>>,
    },
    /// A page of copied entries.
    SyncChunk {
        /// Space of the entries.
        space_tag: u8,
        /// The request's `after`, echoed so stale pages are ignored.
        after: Option<Vec<u8>>,
        /// `(key, version, value)` entries in key order.
        entries: Vec<(Vec<u8>, Versioned)>,
        /// Whether this is the last page of the space.
        done: bool,
    },
    /// Anti-entropy step 1 (DESIGN.md 7): hashes of the sender's top
    /// buckets over the eventual data both nodes replicate.
    AeDigest {
        /// One hash per top bucket (`anti_entropy::TOP_BUCKETS`).
        top: Vec<u64>,
    },
    /// Anti-entropy step 2: for each top bucket whose hash differs, the
    /// hashes of its leaves.
    AeLeaves {
        /// `(top bucket, one hash per leaf of it)`.
        buckets: Vec<(u8, Vec<u64>)>,
    },
    /// Anti-entropy steps 3 and 4: the sender's records in leaves that
    /// differ. The receiver stores the newer ones (version rule) and, when
    /// `reply` is set, answers with its own records the sender lacks.
    AeEntries {
        /// Leaves compared (`top << 8 | leaf`).
        leaves: Vec<u16>,
        /// `(key, version, value)` of the sender in those leaves.
        entries: Vec<(Vec<u8>, Versioned)>,
        /// Whether the receiver should send its newer records back.
        reply: bool,
    },
    /// The sender's low (see `crate::watermark`): below every transaction
    /// it still has a stake in and every id it will issue; it refuses lock
    /// requests of older transactions from now on.
    Low {
        /// The bound.
        low: Ver,
        /// The sender is copying lost state (its low is then zero).
        recovering: bool,
    },
    /// A replica that copied lost state asks for the highest HLC the
    /// receiver has seen (the vote fence, `replica::fence`).
    ClockAsk {
        /// Request id, echoed.
        req: ReqId,
    },
    /// Answer to `ClockAsk`.
    ClockSeen {
        /// The request's id.
        req: ReqId,
        /// The highest HLC the sender has seen.
        hlc: Ver,
        /// The sender's engine incarnation.
        incarnation: u64,
        /// Whether the sender votes normally (a fenced replica vouches
        /// only for such peers, see `crate::quorum`).
        voting: bool,
    },
}

impl Message {
    /// The transaction a request asks this replica to vote on (a lock or
    /// prepare, a Paxos `Prepare`, a `Decide`); the replica's clock moves
    /// past its timestamp (`TxnNode::observe_request`).
    pub fn vote_request_txn(&self) -> Option<TxnId> {
        match self {
            Message::LockRead(req) => Some(req.txn),
            Message::Decide { txn, .. } | Message::Prepare { txn, .. } => Some(*txn),
            _ => None,
        }
    }

    /// Whether the message is a request that may leave its sender before
    /// the sync of the batch that produced it (group commit, DESIGN.md 6.1:
    /// a node writes its own prepare while its peers write theirs).
    ///
    /// A request carries nothing the sender's unsynced writes could take
    /// back: lock requests, reads and decision queries ask; a `Decide`, a
    /// Paxos `Prepare` and an `Apply` carry a value chosen from votes the
    /// sender counted, and a driver counts a vote of the node itself only
    /// in a batch after the sync that holds it (`NodeCore::handle_batch`
    /// defers the node's answers to itself). Everything else, answers and
    /// votes above all, rests on the sender's own state and waits for the
    /// sync. Writes that travel (`Store`, anti-entropy, copies) wait too,
    /// as do reports (`Low`).
    pub fn is_request(&self) -> bool {
        match self {
            Message::LockRead(_)
            | Message::Decide { .. }
            | Message::Prepare { .. }
            | Message::Apply { .. }
            | Message::QueryDecision { .. }
            | Message::Read { .. }
            | Message::ReadEventual { .. }
            | Message::SyncRequest { .. }
            | Message::ClockAsk { .. } => true,
            Message::LockGranted { .. }
            | Message::LockBusy { .. }
            | Message::LockRefused { .. }
            | Message::Accepted { .. }
            | Message::Promise { .. }
            | Message::PaxosNack { .. }
            | Message::PaxosRefused { .. }
            | Message::DecisionStatus { .. }
            | Message::ReadReply { .. }
            | Message::Refused { .. }
            | Message::Store { .. }
            | Message::Stored { .. }
            | Message::SyncChunk { .. }
            | Message::AeDigest { .. }
            | Message::AeLeaves { .. }
            | Message::AeEntries { .. }
            | Message::Low { .. }
            | Message::ClockSeen { .. } => false,
        }
    }
}
