#!/usr/bin/env bash
# The graph benchmark (bench/graph, `graphbench`) at full size in one
# command: builds `zerodb` and `graphbench` (release), then generates a
# power-law graph of 100,000 vertices and 1,000,000 edges, loads it into a
# fresh `zerodb dev` (3 nodes on loopback, started by the benchmark on
# free ports, removed after), and prints the load time and a Markdown
# table of 2-hop and 3-hop traversals (medians of 3 runs).
#
#   bench/graph-bench.sh                                  # full size
#   bench/graph-bench.sh --vertices 10000 --edges 100000  # a quick run
#
# Any option is passed on to graphbench (`graphbench --help`).
# Environment: CARGO_TARGET_DIR (build folder, default target/ of the
# repository).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "building zerodb and graphbench (release)..." >&2
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p zerodb-cli --bin zerodb)
CARGO_TARGET_DIR=$TARGET cargo build --release -q --manifest-path "$ROOT/bench/Cargo.toml" -p zerodb-graph-bench
exec "$TARGET/release/graphbench" --zerodb "$TARGET/release/zerodb" "$@"
