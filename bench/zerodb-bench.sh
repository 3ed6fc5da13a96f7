#!/usr/bin/env bash
# `zerodb bench` against a fresh `zerodb dev` cluster (3 nodes on loopback,
# one process, strong default namespace): a matrix of client counts and
# read ratios, each cell run RUNS times; prints one Markdown table of the
# medians: throughput, p50/p99/p99.9, and the cluster's engine syncs per
# committed write (from the nodes' metrics endpoints, and fsync system
# calls of the process counted with `perf stat` when perf is installed).
#
#   bench/zerodb-bench.sh                       # release build of this tree
#   ZERODB=path/to/zerodb bench/zerodb-bench.sh # another binary
#
# Environment: CARGO_TARGET_DIR (build dir), ZERODB (binary; built when
# unset), CLIENTS (default 1,16,128), RATIOS (read ratios, default
# 0,0.5,0.95), RUNS (default 3), DURATION (seconds per run, default 10),
# KEYS (default 10000), DIST (uniform or zipfian, default uniform).
set -euo pipefail

CLIENTS=${CLIENTS:-1,16,128}
RATIOS=${RATIOS:-0,0.5,0.95}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
KEYS=${KEYS:-10000}
DIST=${DIST:-uniform}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${ZERODB:-}" ]; then
    echo "building zerodb (release)..." >&2
    (cd "$ROOT" && cargo build --release -q -p zerodb-cli --bin zerodb)
    ZERODB=${CARGO_TARGET_DIR:-$ROOT/target}/release/zerodb
fi

WORK=$(mktemp -d /tmp/zerodb-bench.XXXXXX)
DEV_PID=
cleanup() {
    if [ -n "$DEV_PID" ]; then
        kill "$DEV_PID" 2>/dev/null || true
        wait "$DEV_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ZDIR=$WORK/dev
"$ZERODB" dev --dir "$ZDIR" --no-shell </dev/null >"$WORK/dev.log" 2>&1 &
DEV_PID=$!
for _ in $(seq 1 100); do
    "$ZERODB" --dir "$ZDIR" status >/dev/null 2>&1 && break
    sleep 0.2
done

# Sum of one Prometheus counter over the three nodes' metrics endpoints.
metric() {
    local total=0 value
    for port in 9401 9402 9403; do
        value=$(curl -s "http://127.0.0.1:$port/metrics" | awk -v m="zerodb_$1" '$1 ~ "^"m"[{]" {print $2}')
        total=$((total + ${value:-0}))
    done
    echo "$total"
}

echo "loading $KEYS keys..." >&2
"$ZERODB" --dir "$ZDIR" bench --clients 16 --ops 1 --keys "$KEYS" --distribution "$DIST" >/dev/null 2>&1

PERF=0
command -v perf >/dev/null && PERF=1

# One run: prints "ops p50 p99 p999 syncs_per_write fsyncs_per_write
# fast_path_percent" (blind writes committed on the fast path, of those
# committed on either path).
run_once() {
    local clients=$1 ratio=$2 out synced0 synced1 committed0 committed1 fsyncs=NA perf_pid=
    local fast0 fast1 classic0 classic1
    synced0=$(metric batches_synced_total)
    committed0=$(metric committed_total)
    fast0=$(metric fast_path_commits_total)
    classic0=$(metric classic_path_commits_total)
    if [ "$PERF" = 1 ]; then
        perf stat -x, -e 'syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync' -p "$DEV_PID" \
            -o "$WORK/perf.txt" 2>/dev/null &
        perf_pid=$!
    fi
    out=$("$ZERODB" --dir "$ZDIR" bench --no-load --clients "$clients" --duration "$DURATION" \
        --read-ratio "$ratio" --keys "$KEYS" --distribution "$DIST" 2>/dev/null || true)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        fsyncs=$(awk -F, '/sys_enter_f/ {n += $1} END {print n + 0}' "$WORK/perf.txt")
    fi
    synced1=$(metric batches_synced_total)
    committed1=$(metric committed_total)
    fast1=$(metric fast_path_commits_total)
    classic1=$(metric classic_path_commits_total)
    echo "$out" | awk -v s="$((synced1 - synced0))" -v c="$((committed1 - committed0))" -v f="$fsyncs" \
        -v fast="$((fast1 - fast0))" -v classic="$((classic1 - classic0))" '
        /^throughput/ {
            gsub(/[;,]/, " ");
            ops = $2; p50 = $6; p99 = $9; p999 = $12;
        }
        END {
            if (c > 0) { spw = sprintf("%.2f", s / c); fpw = (f == "NA") ? "NA" : sprintf("%.2f", f / c) }
            else { spw = "-"; fpw = "-" }
            fast_pct = (fast + classic > 0) ? sprintf("%.1f", 100 * fast / (fast + classic)) : "-"
            printf "%s %s %s %s %s %s %s\n", ops, p50, p99, p999, spw, fpw, fast_pct
        }'
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "-")}'; }

echo "| read ratio | clients | ops/s | p50 ms | p99 ms | p99.9 ms | syncs/write | fsyncs/write | fast path % | runs |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for ratio in ${RATIOS//,/ }; do
    for clients in ${CLIENTS//,/ }; do
        : >"$WORK/cell.txt"
        for _ in $(seq 1 "$RUNS"); do
            run_once "$clients" "$ratio" >>"$WORK/cell.txt"
            echo "  ratio $ratio clients $clients: $(tail -1 "$WORK/cell.txt")" >&2
        done
        row="| $ratio | $clients"
        for column in 1 2 3 4 5 6 7; do
            row="$row | $(awk -v c=$column '{print $c}' "$WORK/cell.txt" | median)"
        done
        echo "$row | $RUNS |"
    done
done
