#!/usr/bin/env bash
# zeroql against the raw requests it is built from, on one fresh `zerodb
# dev` cluster (3 nodes on loopback, one process, strong default
# namespace), with the same clients, value size and key distribution
# (`zerodb bench --workload ...`, see cli/src/bench/query.rs):
#
#   create  vs put   CREATE bench:$id SET v = $v (new id)  vs  put of a new key
#   select  vs get   SELECT * FROM bench:$id (loaded id)   vs  get of a loaded key
#   indexed vs scan  SELECT * FROM people_N WHERE k = $k through the index by_k
#                    vs the same WITH NO INDEX (a table scan), N = RECORDS
#
# Each pair runs RUNS times, the two sides alternating; prints ONE Markdown
# table of medians, the ratio computed from the two medians printed beside
# it, and per operation: the data requests the nodes' cores answered (gets,
# puts, transactions; not scans) and the inputs their event loops handled
# (client requests, a query's own reads and commit, peer messages, timers;
# the idle rate measured before the runs is subtracted, and the cell is "-"
# when that estimate is half the inputs or more), from the nodes' metrics
# endpoints.
#
# When the table scan fails at RECORDS (zeroql refuses a range of more than
# the node's scan limit, or the scans time out beside each other), the
# error is shown in the table and the pair is measured again at that size
# with 1 client, then at each size of SMALLER_RECORDS, until the scan gives
# a number.
#
#   bench/query-bench.sh                        # release build of this tree
#   RUNS=3 DURATION=5 bench/query-bench.sh      # a busy machine
#   ZERODB=path/to/zerodb bench/query-bench.sh  # another binary
#
# Environment: CARGO_TARGET_DIR (build dir), ZERODB (binary; built when
# unset), RUNS (default 3), CLIENTS (default 16), DURATION (seconds per run,
# default 10), KEYS (records of bench and kv, default 10000), RECORDS
# (records of people_N, default 100000), SMALLER_RECORDS (default
# "10000 1000"), VALUE_SIZE (bytes, default 100), DIST (uniform or zipfian,
# default uniform), BASE_PORT (default 7401), METRICS_PORT (default 9401).
set -euo pipefail

RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-10}
KEYS=${KEYS:-10000}
RECORDS=${RECORDS:-100000}
SMALLER_RECORDS=${SMALLER_RECORDS:-10000 1000}
VALUE_SIZE=${VALUE_SIZE:-100}
DIST=${DIST:-uniform}
BASE_PORT=${BASE_PORT:-7401}
METRICS_PORT=${METRICS_PORT:-9401}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${ZERODB:-}" ]; then
    echo "building zerodb (release)..." >&2
    (cd "$ROOT" && cargo build --release -q -p zerodb-cli --bin zerodb)
    ZERODB=${CARGO_TARGET_DIR:-$ROOT/target}/release/zerodb
fi

WORK=$(mktemp -d /tmp/zerodb-query-bench.XXXXXX)
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
"$ZERODB" dev --dir "$ZDIR" --no-shell --base-port "$BASE_PORT" \
    --metrics-base-port "$METRICS_PORT" </dev/null >"$WORK/dev.log" 2>&1 &
DEV_PID=$!
for _ in $(seq 1 100); do
    "$ZERODB" --dir "$ZDIR" status >/dev/null 2>&1 && break
    sleep 0.2
done

# Sum of one Prometheus counter over the three nodes' metrics endpoints.
metric() {
    local total=0 value port
    for port in $METRICS_PORT $((METRICS_PORT + 1)) $((METRICS_PORT + 2)); do
        value=$(curl -s "http://127.0.0.1:$port/metrics" | awk -v m="zerodb_$1" '$1 ~ "^"m"[{]" {print $2}')
        total=$((total + ${value:-0}))
    done
    echo "$total"
}

bench() {
    "$ZERODB" --dir "$ZDIR" bench --clients "${BENCH_CLIENTS:-$CLIENTS}" --keys "$KEYS" \
        --value-size "$VALUE_SIZE" --distribution "$DIST" "$@"
}

echo "loading $KEYS keys and $KEYS zeroql records..." >&2
bench --workload get --ops 1 >/dev/null
bench --workload select --ops 1 >/dev/null

# Inputs the event loops handle per second with no load (timers, gossip).
IDLE_SECONDS=5
inputs0=$(metric inputs_handled_total)
sleep "$IDLE_SECONDS"
IDLE_RATE=$(awk -v d="$(($(metric inputs_handled_total) - inputs0))" -v s="$IDLE_SECONDS" 'BEGIN {print d / s}')
echo "idle: $IDLE_RATE inputs/s" >&2

# One run of `bench --workload $1 ...`: appends "ops p50 p99 requests/op
# inputs/op errors" to $WORK/$1.txt and the first error, if any, to
# $WORK/$1.err.
run_once() {
    local workload=$1 out requests0 inputs0 requests1 inputs1
    shift
    requests0=$(metric requests_total)
    inputs0=$(metric inputs_handled_total)
    out=$(bench --no-load --workload "$workload" --duration "$DURATION" "$@" 2>/dev/null || true)
    requests1=$(metric requests_total)
    inputs1=$(metric inputs_handled_total)
    echo "$out" | sed -n 's/^first error: //p' | head -1 >>"$WORK/$workload.err"
    echo "$out" | awk -v r="$((requests1 - requests0))" -v i="$((inputs1 - inputs0))" -v idle="$IDLE_RATE" '
        !/^first error/ && / ok, .* errors in / {
            for (f = 1; f <= NF; f++) {
                if ($(f + 1) == "ok,") ok = $f;
                if ($(f + 1) == "errors") errors = $f;
                if ($f == "in") elapsed = $(f + 1) + 0;
            }
        }
        /^throughput/ { gsub(/[;,]/, " "); ops = $2; p50 = $6; p99 = $9 }
        END {
            n = ok + errors;
            if (ok == 0) { p50 = "-"; p99 = "-" }
            rpo = "-"; ipo = "-";
            if (n > 0) rpo = sprintf("%.1f", r / n);
            # When the idle estimate is half the inputs or more, what is
            # left is too uncertain to count as work of the operations.
            if (n > 0 && idle * elapsed < i / 2) ipo = sprintf("%.0f", (i - idle * elapsed) / n);
            printf "%s %s %s %s %s %s\n", ops, p50, p99, rpo, ipo, errors
        }' >>"$WORK/$workload.txt"
    echo "  $workload $*: $(tail -1 "$WORK/$workload.txt")" >&2
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "-")}'; }
column() { awk -v c="$2" '{print $c}' "$WORK/$1.txt" | median; }

# A cell of ops/s: the median, with the errors of the runs and the first
# error's text when there were any.
ops_cell() {
    local errors message
    errors=$(awk '{n += $6} END {print n + 0}' "$WORK/$1.txt")
    if [ "$errors" = 0 ]; then
        column "$1" 1
        return
    fi
    message=$(grep -m1 . "$WORK/$1.err" | sed 's/|/\\|/g')
    echo "$(column "$1" 1) ($errors errors in $RUNS runs: $message)"
}

# Runs the pair $1 (zeroql) and $2 (peer) RUNS times, alternating, then
# prints its row, named $3; more arguments go to both.
pair() {
    local zeroql=$1 peer=$2 name=$3 ratio
    shift 3
    : >"$WORK/$zeroql.txt"
    : >"$WORK/$zeroql.err"
    : >"$WORK/$peer.txt"
    : >"$WORK/$peer.err"
    for _ in $(seq 1 "$RUNS"); do
        run_once "$zeroql" "$@"
        run_once "$peer" "$@"
    done
    ratio=$(awk -v z="$(column "$zeroql" 1)" -v p="$(column "$peer" 1)" \
        'BEGIN {print (p > 0) ? sprintf("%.2f", z / p) : "-"}')
    echo "| $name | $(ops_cell "$zeroql") | $(ops_cell "$peer") | $ratio" \
        "| $(column "$zeroql" 2) | $(column "$zeroql" 3) | $(column "$peer" 2) | $(column "$peer" 3)" \
        "| $(column "$zeroql" 4) / $(column "$peer" 4) | $(column "$zeroql" 5) / $(column "$peer" 5) |"
}

echo "| zeroql vs peer | zeroql ops/s | peer ops/s | ratio | zeroql p50 ms | zeroql p99 ms | peer p50 ms | peer p99 ms | requests/op | inputs/op |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
pair create put "CREATE by id vs put"
pair select get "SELECT by id vs get"
for records in $RECORDS $SMALLER_RECORDS; do
    echo "loading $records records of people_$records..." >&2
    bench --workload indexed --records "$records" --ops 1 >/dev/null
    pair indexed scan "index vs table scan, $records records" --records "$records"
    scan_errors=$(awk '{n += $6} END {print n + 0}' "$WORK/scan.txt")
    [ "$scan_errors" = 0 ] && break
    # The same size with one client at a time: a table scan that cannot
    # finish within the client's timeout beside 15 others may alone.
    BENCH_CLIENTS=1 pair indexed scan "index vs table scan, $records records, 1 client" --records "$records"
    scan_errors=$(awk '{n += $6} END {print n + 0}' "$WORK/scan.txt")
    [ "$scan_errors" = 0 ] && break
done
echo
echo "$RUNS runs of ${DURATION}s per cell, $CLIENTS clients, $VALUE_SIZE-byte values, $DIST keys; $(date -u +%Y-%m-%d)."
