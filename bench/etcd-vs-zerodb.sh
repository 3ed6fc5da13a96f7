#!/usr/bin/env bash
# Side-by-side benchmark: a 3-node etcd cluster and a 3-node ZeroDB cluster
# on loopback, the same workloads driven by the same load loop (bench/src),
# one table at the end. Run from anywhere inside the repository, as root
# (it installs etcd and protoc from Debian's packages when missing).
#
#   bench/etcd-vs-zerodb.sh            # full: ~8 s per cell
#   bench/etcd-vs-zerodb.sh --quick    # 2 s per cell, 16 clients only
#
# Environment: CARGO_TARGET_DIR (build dir), DURATION (seconds per cell),
# CLIENTS (e.g. 16,128), KEYS (distinct keys), SKIP_EVENTUAL=1, RUNS (how
# many times each system runs the whole matrix, default 1; with more, each
# figure is the median over the runs, and each ratio the ratio of the two
# medians shown; run i of etcd and run i of ZeroDB go back to back).
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument $arg (use --quick)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-2}; CLIENTS=${CLIENTS:-16}; KEYS=${KEYS:-1000}
else
    DURATION=${DURATION:-8}; CLIENTS=${CLIENTS:-16,128}; KEYS=${KEYS:-10000}
fi
RUNS=${RUNS:-1}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET

# --- packages -------------------------------------------------------------
if ! command -v etcd >/dev/null || ! command -v protoc >/dev/null; then
    echo "installing etcd-server, etcd-client, protobuf-compiler..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client protobuf-compiler >/dev/null
fi

# --- builds -----------------------------------------------------------------
echo "building ezbench and zerodb (release, bench/ workspace)..." >&2
(cd "$ROOT/bench" && cargo build --release -q)
ZERODB=$TARGET/release/zerodb
EZBENCH=$TARGET/release/ezbench

WORK=$(mktemp -d /tmp/etcd-vs-zerodb.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

stop_all() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

COMMON=(--duration "$DURATION" --clients "$CLIENTS" --keys "$KEYS")

# --- etcd: 3 members on loopback, fsync on commit (etcd's default) ---------
ETCD_EP=http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793
INITIAL=e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803
run_etcd() {
    for i in 1 2 3; do
        etcd --name "e$i" --data-dir "$WORK/etcd$i" \
            --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
            --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
            --initial-cluster "$INITIAL" --initial-cluster-token ezbench --initial-cluster-state new \
            --quota-backend-bytes 8589934592 --log-level error >"$WORK/etcd$i.log" 2>&1 &
        PIDS+=($!)
    done
    for _ in $(seq 1 60); do
        ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EP" endpoint health >/dev/null 2>&1 && break
        sleep 0.5
    done
    ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EP" endpoint health >&2
    echo "etcd $(etcd --version | head -1 | awk '{print $3}') up; running..." >&2
    "$EZBENCH" run --system etcd --etcd "$ETCD_EP" "${COMMON[@]}" >"$1"
    stop_all
    rm -rf "$WORK"/etcd[0-9]
}

# --- ZeroDB: 3 `zerodb start` processes on loopback, strong namespace -----
# One process per node, as etcd runs one per member (`zerodb dev` runs its
# nodes in one process on one runtime; it stays the newcomer's command).
# The folder has the layout of a `zerodb dev` folder (certs/, cluster.toml),
# so the load loop and `zerodb --dir` find their seeds and certificates.
ZDIR=$WORK/zerodb-dev
ZPORT=${ZPORT:-7411}
make_zerodb_dir() {
    mkdir -p "$ZDIR/certs"
    "$ZERODB" certs init --dir "$ZDIR/certs" >/dev/null
    : >"$ZDIR/cluster.toml"
    for i in 1 2 3; do
        "$ZERODB" certs node --dir "$ZDIR/certs" --id "$i" >/dev/null
        printf '[[member]]\nid = %d\naddress = "127.0.0.1:%d"\nregion = "local"\nzone = "z%d"\n\n' \
            "$i" $((ZPORT + i - 1)) "$i" >>"$ZDIR/cluster.toml"
        cat >"$ZDIR/n$i.toml" <<TOML
[node]
id = $i
listen = "127.0.0.1:$((ZPORT + i - 1))"
data_dir = "$ZDIR/n$i"
region = "local"
zone = "z$i"

[tls]
ca_cert = "$ZDIR/certs/ca.crt"
node_cert = "$ZDIR/certs/node.n$i.crt"
node_key = "$ZDIR/certs/node.n$i.key"
TOML
    done
    "$ZERODB" certs client --dir "$ZDIR/certs" --user admin >/dev/null
}
run_zerodb() {
    rm -rf "$ZDIR"
    make_zerodb_dir
    for i in 1 2 3; do
        "$ZERODB" start --config "$ZDIR/n$i.toml" --cluster "$ZDIR/cluster.toml" \
            </dev/null >"$WORK/zerodb$i.log" 2>&1 &
        PIDS+=($!)
    done
    for _ in $(seq 1 60); do
        "$ZERODB" --dir "$ZDIR" status >/dev/null 2>&1 && break
        sleep 0.5
    done
    "$ZERODB" --dir "$ZDIR" status >&2
    echo "zerodb (3 processes) up; running..." >&2
    "$EZBENCH" run --system zerodb --zerodb-dir "$ZDIR" "${COMMON[@]}" >"$1"
    stop_all
}

# --- ZeroDB, eventual default policy (W=1, R=1), same folder, fresh data ---
run_eventual() {
    : >"$1"
    if [ "${SKIP_EVENTUAL:-0}" != 1 ]; then
        rm -rf "$ZDIR"/n[0-9]*
        "$EZBENCH" serve-eventual --dir "$ZDIR" </dev/null >"$WORK/eventual.log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 1 60); do
            "$ZERODB" --dir "$ZDIR" status >/dev/null 2>&1 && break
            sleep 0.5
        done
        echo "zerodb (eventual) up; running..." >&2
        "$EZBENCH" run --system zerodb-eventual --zerodb-dir "$ZDIR" --workloads write,rw50,rw95 \
            "${COMMON[@]}" >"$1" || echo "eventual run failed (see above)" >&2
        stop_all
    fi
}

# --- the runs: etcd, ZeroDB strong, ZeroDB eventual, RUNS times ------------
: >"$WORK/all.tsv"
for run in $(seq 1 "$RUNS"); do
    echo "=== run $run of $RUNS" >&2
    run_etcd "$WORK/etcd.tsv"
    run_zerodb "$WORK/zerodb.tsv"
    run_eventual "$WORK/eventual.tsv"
    for system in etcd zerodb eventual; do
        awk -v r="$run" -v s="$system" -F'\t' 'BEGIN { OFS = FS } { print r, s, $0 }' \
            "$WORK/$system.tsv" >>"$WORK/all.tsv"
    done
done

# --- table --------------------------------------------------------------------
# all.tsv: run, system, then ezbench's line: system, workload, keys, clients,
# ops/s, p50, p99, aborts, errors, syncs/op.
echo
echo "cell: ${DURATION}s, keys: $KEYS, value 100 B; latencies in ms; syncs/op = durable syncs over all 3 members per op; medians of $RUNS run(s)"
awk -F'\t' '
    function median(list,    n, v, i, j, t) {
        n = split(list, v, " ")
        if (n == 0) return "-"
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return v[int((n + 1) / 2)]
    }
    function add(key, value) { values[key] = values[key] " " value }
    # The ratio of two medians, so the column agrees with the medians shown.
    function ratio(z, e) { return (e + 0 > 0 && z != "-") ? sprintf("%.2f", z / e) : "-" }
    {
        run = $1; sys = $2; k = $4 FS $5 FS $6
        if (sys == "etcd" && !(k in seen)) { seen[k] = 1; order[++n] = k }
        for (c = 7; c <= 12; c++) add(sys SUBSEP k SUBSEP c, $c)
    }
    END {
        printf "| workload | keys | clients | etcd ops/s | etcd p50 | etcd p99 | ZeroDB ops/s | ZeroDB p50 | ZeroDB p99 | ops/s ratio Z/E | p99 ratio Z/E | etcd syncs/op | ZeroDB syncs/op | ZeroDB eventual ops/s | eventual p50 | eventual p99 |\n"
        printf "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, name, FS)
            m = "etcd" SUBSEP k SUBSEP; zm = "zerodb" SUBSEP k SUBSEP; vm = "eventual" SUBSEP k SUBSEP
            note = ""
            ea = median(values[m 10]); za = median(values[zm 10])
            if (ea + za > 0) note = sprintf(" (aborts E %d, Z %d)", ea, za)
            ee = median(values[m 11]); ze = median(values[zm 11])
            if (ee + ze > 0) note = note sprintf(" (errors E %d, Z %d)", ee, ze)
            printf "| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                name[1], note, name[2], name[3],
                median(values[m 7]), median(values[m 8]), median(values[m 9]),
                median(values[zm 7]), median(values[zm 8]), median(values[zm 9]),
                ratio(median(values[zm 7]), median(values[m 7])),
                ratio(median(values[zm 9]), median(values[m 9])),
                median(values[m 12]), median(values[zm 12]),
                median(values[vm 7]), median(values[vm 8]), median(values[vm 9])
        }
    }' "$WORK/all.tsv"
