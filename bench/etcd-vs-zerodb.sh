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
# CLIENTS (e.g. 16,128), KEYS (distinct keys), SKIP_EVENTUAL=1.
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
"$EZBENCH" run --system etcd --etcd "$ETCD_EP" "${COMMON[@]}" >"$WORK/etcd.tsv"
stop_all

# --- ZeroDB: `zerodb dev` (3 nodes, one process), strong namespace ----------
ZDIR=$WORK/zerodb-dev
"$ZERODB" dev --dir "$ZDIR" --no-shell </dev/null >"$WORK/zerodb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 60); do
    "$ZERODB" --dir "$ZDIR" status >/dev/null 2>&1 && break
    sleep 0.5
done
"$ZERODB" --dir "$ZDIR" status >&2
echo "zerodb up; running..." >&2
"$EZBENCH" run --system zerodb --zerodb-dir "$ZDIR" "${COMMON[@]}" >"$WORK/zerodb.tsv"
stop_all

# --- ZeroDB, eventual default policy (W=1, R=1), same folder, fresh data ---
: >"$WORK/eventual.tsv"
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
        "${COMMON[@]}" >"$WORK/eventual.tsv" || echo "eventual run failed (see above)" >&2
    stop_all
fi

# --- table --------------------------------------------------------------------
echo
echo "cell: ${DURATION}s, keys: $KEYS, value 100 B; latencies in ms; syncs/op = durable syncs over all 3 members per op"
awk -F'\t' '
    FILENAME ~ /etcd.tsv/     { k=$2 FS $3 FS $4; e[k]=$0; order[++n]=k; next }
    FILENAME ~ /zerodb.tsv/   { z[$2 FS $3 FS $4]=$0; next }
    FILENAME ~ /eventual.tsv/ { v[$2 FS $3 FS $4]=$0; next }
    END {
        printf "| workload | keys | clients | etcd ops/s | etcd p50 | etcd p99 | ZeroDB ops/s | ZeroDB p50 | ZeroDB p99 | ops/s ratio Z/E | p99 ratio Z/E | etcd syncs/op | ZeroDB syncs/op | ZeroDB eventual ops/s | eventual p50 | eventual p99 |\n"
        printf "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for (i = 1; i <= n; i++) {
            k = order[i]; split(e[k], a, FS); split(z[k], b, FS)
            ev = "-"; ev50 = "-"; ev99 = "-"
            if (k in v) { split(v[k], c, FS); ev = c[5]; ev50 = c[6]; ev99 = c[7] }
            ratio = (a[5] > 0 && (k in z)) ? sprintf("%.2f", b[5] / a[5]) : "-"
            pr = (a[7] > 0 && (k in z)) ? sprintf("%.2f", b[7] / a[7]) : "-"
            note = ""
            if (a[8] + b[8] > 0) note = sprintf(" (aborts E %d, Z %d)", a[8], b[8])
            if (a[9] + b[9] > 0) note = note sprintf(" (errors E %d, Z %d)", a[9], b[9])
            printf "| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                a[2], note, a[3], a[4], a[5], a[6], a[7], b[5], b[6], b[7], ratio, pr, a[10], b[10], ev, ev50, ev99
        }
    }' "$WORK/etcd.tsv" "$WORK/zerodb.tsv" "$WORK/eventual.tsv"
