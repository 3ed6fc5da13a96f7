//! Tunables of the transaction layer, with their units, and the test-only
//! fault switches.

/// Limits and timeouts. Every duration is in milliseconds of the driver's
/// clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnOptions {
    /// Period of the node's tick timer.
    pub tick_ms: u64,
    /// Lease a lock is granted for; after it a replica recovers the lock.
    pub lease_ms: u64,
    /// How long a coordinator waits for lock replies before retrying.
    pub lock_timeout_ms: u64,
    /// How long a coordinator waits for accepts before asking for the
    /// outcome.
    pub decide_timeout_ms: u64,
    /// Total time a request may take before `Timeout`.
    pub request_timeout_ms: u64,
    /// Attempts of a transaction before reporting a conflict.
    pub attempts_max: u32,
    /// Base of the jittered exponential retry backoff.
    pub backoff_base_ms: u64,
    /// Cap of the retry backoff.
    pub backoff_max_ms: u64,
    /// Lock requests waiting (wait-die) at one replica, at most.
    pub wait_queue_max: usize,
    /// How long an older transaction waits for a lock before `LockBusy`.
    pub wait_max_ms: u64,
    /// How long a blind transaction's coordinator, holding a quorum of
    /// prepares in its partition, waits for the rest before it takes the
    /// classic path (DESIGN.md 6.1 step 2).
    pub fast_path_wait_ms: u64,
    /// How long a recovery waits for Paxos replies before a new round.
    pub recovery_timeout_ms: u64,
    /// How often hints are replayed.
    pub hint_replay_ms: u64,
    /// Entries per lost-state copy page.
    pub sync_page_entries: usize,
    /// How long a lost-state copy waits for a page before asking again.
    pub sync_retry_ms: u64,
    /// How often a replica starts an anti-entropy exchange with one of
    /// its successors (eventual namespaces only); 0 turns anti-entropy off
    /// (replicas that missed a write then differ until it is overwritten).
    pub anti_entropy_ms: u64,
    /// How often a node reports its low for the released watermark (see
    /// `crate::watermark`); 0 turns the cleanup of decision records off.
    pub watermark_ms: u64,
    /// How far below its clock a node's low stays, so that transactions
    /// from coordinators whose clocks lag by less are not refused.
    pub watermark_margin_ms: u64,
    /// Checker validation only: locks live only in memory, so a crash loses
    /// them. Never set in production.
    pub unsafe_skip_lock_durability: bool,
    /// Checker validation only: strong reads skip read-time repair: a
    /// commit learned from a lock holder's decision is neither counted as a
    /// reply nor applied, and the highest version is not written back to a
    /// quorum. (The write-back alone is not observable: every committed
    /// write is applied or still locked at a quorum, so a quorum of replies
    /// always shows it or its lock.) Never set in production.
    pub unsafe_skip_read_repair: bool,
    /// Checker validation only: a replica with lost state votes at once
    /// instead of copying from peers. Never set in production.
    pub unsafe_skip_lost_state_recovery: bool,
    /// Checker validation only: strong reads ignore write locks (no
    /// decision lookup). Never set in production.
    pub unsafe_ignore_read_locks: bool,
    /// Checker validation only: a node's low ignores the locks it holds,
    /// so decision records can be deleted while a lock still needs them.
    /// Never set in production.
    pub unsafe_watermark_ignores_locks: bool,
    /// Checker validation only: hints are kept but never replayed, so a
    /// node that was down never gets them. Never set in production.
    pub unsafe_skip_hint_replay: bool,
    /// Checker validation only: reverts the fix of issue 14 case 1. A lock
    /// request is refused as late only when a newer attempt is granted here
    /// (not when one is queued), a newer attempt leaves older queued
    /// requests queued, and a woken request is granted without being
    /// checked again, so a late older attempt can replace a newer attempt's
    /// lock. Never set in production.
    pub unsafe_grant_woken_without_recheck: bool,
    /// Checker validation only: range locks are taken and their records
    /// read, but they conflict with nothing, so a key can be inserted into
    /// a range a transaction read (a phantom). Never set in production.
    pub unsafe_skip_range_locks: bool,
    /// Checker validation only: a node's batch counts the votes and
    /// answers it sends itself inside the batch, before the sync that holds
    /// them, while its requests to peers leave before that sync (so a
    /// `Decide` can rest on a grant a crash takes back). Read by the node
    /// core's batch. Never set in production.
    pub unsafe_count_own_answers_in_batch: bool,
    /// Checker validation only: a replica prepares a blind write whose
    /// commit version is not above the version it stores (breaks I8), so
    /// a write acknowledged later can lose to an earlier one. Never set in
    /// production.
    pub unsafe_blind_ignores_stored_version: bool,
    /// Checker validation only: a replica that does not hold a blind
    /// attempt's prepare reports it refused to termination without making
    /// the refusal durable (breaks I5): termination aborts the attempt,
    /// and the prepare may still arrive and complete the fast path. Never
    /// set in production.
    pub unsafe_abort_blind_without_refusal: bool,
    /// Checker validation only: a blind transaction's coordinator takes
    /// the fast path with a quorum of prepares instead of every replica's
    /// (breaks I3). Never set in production.
    pub unsafe_fast_path_on_quorum: bool,
    /// Checker validation only: a strong read goes on without a blind
    /// prepare whose home register accepted nothing, as it may for a v1
    /// lock (breaks I7: the prepare may have committed on the fast path).
    /// Never set in production.
    pub unsafe_read_skips_blind_prepare: bool,
    /// Checker validation only: a replica whose lock lease expired removes
    /// the lock (a prepare) without a decided outcome or a `Finished`
    /// marker, instead of terminating it through the register (breaks I4).
    /// Never set in production.
    pub unsafe_drop_expired_prepares: bool,
    /// Checker validation only: `Assert(_, Expired)` is judged by the
    /// coordinator's own clock instead of the lowest clock of the replicas
    /// it read from, so one clock ahead deletes a strong record early
    /// (DESIGN.md 6.3). Never set in production.
    pub unsafe_expire_on_coordinator_clock: bool,
    /// Checker validation only: a replica does not move its clock past
    /// the timestamps of the transactions it votes on, so a peer that lost
    /// its disk can lift its vote fence below a transaction it coordinated
    /// with its clock ahead (`replica/fence.rs`). Never set in production.
    pub unsafe_skip_request_clock: bool,
}

impl Default for TxnOptions {
    fn default() -> TxnOptions {
        TxnOptions {
            tick_ms: 10,
            lease_ms: 2_000,
            lock_timeout_ms: 300,
            decide_timeout_ms: 300,
            request_timeout_ms: 5_000,
            attempts_max: 10,
            backoff_base_ms: 10,
            backoff_max_ms: 300,
            wait_queue_max: 16,
            wait_max_ms: 150,
            fast_path_wait_ms: 5,
            recovery_timeout_ms: 300,
            hint_replay_ms: 200,
            sync_page_entries: 256,
            sync_retry_ms: 300,
            anti_entropy_ms: 10_000,
            watermark_ms: 1_000,
            watermark_margin_ms: 10_000,
            unsafe_skip_lock_durability: false,
            unsafe_skip_read_repair: false,
            unsafe_skip_lost_state_recovery: false,
            unsafe_ignore_read_locks: false,
            unsafe_watermark_ignores_locks: false,
            unsafe_skip_hint_replay: false,
            unsafe_grant_woken_without_recheck: false,
            unsafe_skip_range_locks: false,
            unsafe_count_own_answers_in_batch: false,
            unsafe_blind_ignores_stored_version: false,
            unsafe_abort_blind_without_refusal: false,
            unsafe_fast_path_on_quorum: false,
            unsafe_read_skips_blind_prepare: false,
            unsafe_drop_expired_prepares: false,
            unsafe_expire_on_coordinator_clock: false,
            unsafe_skip_request_clock: false,
        }
    }
}
