//! The node's figures in the Prometheus text format, served on
//! `/metrics` of `metrics.address` by the console's HTTP server
//! ([`super::console`]).

use std::fmt::Write as _;

use crate::api::InfoReport;

/// The figures in Prometheus text format.
pub fn render(info: &InfoReport) -> String {
    let mut out = String::new();
    let node = info.node;
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP zerodb_{name} {help}");
        let _ = writeln!(out, "# TYPE zerodb_{name} {kind}");
        let _ = writeln!(out, "zerodb_{name}{{node=\"{node}\"}} {value}");
    };
    metric(
        "uptime_seconds",
        "gauge",
        "Seconds since the node started.",
        info.uptime_seconds,
    );
    metric(
        "requests_total",
        "counter",
        "Client requests answered.",
        info.requests,
    );
    metric(
        "request_errors_total",
        "counter",
        "Client requests answered with an error.",
        info.request_errors,
    );
    metric(
        "request_latency_p50_microseconds",
        "gauge",
        "Median request latency.",
        info.latency_p50_us,
    );
    metric(
        "request_latency_p99_microseconds",
        "gauge",
        "99th percentile request latency.",
        info.latency_p99_us,
    );
    metric(
        "request_latency_p999_microseconds",
        "gauge",
        "99.9th percentile request latency.",
        info.latency_p999_us,
    );
    metric(
        "request_latency_recent_p50_microseconds",
        "gauge",
        "Median request latency of the last 10 to 20 seconds (0: no request).",
        info.recent_latency_p50_us,
    );
    metric(
        "request_latency_recent_p99_microseconds",
        "gauge",
        "99th percentile request latency of the last 10 to 20 seconds (0: no request).",
        info.recent_latency_p99_us,
    );
    metric(
        "committed_total",
        "counter",
        "Writes and transactions committed.",
        info.committed,
    );
    metric(
        "aborted_total",
        "counter",
        "Transactions aborted by conflicts or conditions.",
        info.aborted,
    );
    metric(
        "requests_in_flight",
        "gauge",
        "Client requests in flight at this coordinator.",
        info.in_flight,
    );
    metric(
        "locks_held",
        "gauge",
        "Lock sets held by this replica.",
        info.locks_held,
    );
    metric(
        "batches_synced_total",
        "counter",
        "Engine syncs that made writes durable (group commits; a batch that wrote nothing is not synced).",
        info.batches_synced,
    );
    metric(
        "fast_path_commits_total",
        "counter",
        "Blind writes committed on the fast path (every replica prepared; one round trip).",
        info.fast_path_commits,
    );
    metric(
        "classic_path_commits_total",
        "counter",
        "Blind writes committed on the classic path (a quorum prepared; Decide at the home replicas).",
        info.classic_path_commits,
    );
    metric(
        "inputs_handled_total",
        "counter",
        "Inputs handled by the event loop.",
        info.inputs_handled,
    );
    metric(
        "records",
        "gauge",
        "Records in the storage engine.",
        info.records,
    );
    metric("disk_bytes", "gauge", "Bytes on disk.", info.disk_bytes);
    metric(
        "file_bytes",
        "gauge",
        "Bytes of the storage engine's data file (log excluded).",
        info.file_bytes,
    );
    metric(
        "live_bytes",
        "gauge",
        "Bytes the live data takes in the data file.",
        info.live_bytes,
    );
    metric(
        "garbage_bytes",
        "gauge",
        "Bytes of the data file free for reuse.",
        info.garbage_bytes,
    );
    metric(
        "wal_bytes",
        "gauge",
        "Bytes in the write-ahead log.",
        info.wal_bytes,
    );
    metric(
        "wal_position",
        "gauge",
        "Write-ahead log position.",
        info.wal_position,
    );
    metric(
        "checkpoints_total",
        "counter",
        "Checkpoints completed.",
        info.checkpoints,
    );
    metric("cache_bytes", "gauge", "Page cache size.", info.cache_bytes);
    metric(
        "cache_hits_total",
        "counter",
        "Page cache hits.",
        info.cache_hits,
    );
    metric(
        "cache_misses_total",
        "counter",
        "Page cache misses.",
        info.cache_misses,
    );
    metric(
        "members_up",
        "gauge",
        "Members considered up.",
        u64::from(info.members_up),
    );
    metric(
        "members_down",
        "gauge",
        "Members considered down.",
        u64::from(info.members_down),
    );
    out
}
