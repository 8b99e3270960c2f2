#!/usr/bin/env bash
# The Redis job queue's throughput and the rate-limit check (part of `make bench`; issue 13): no-op
# jobs enqueued by several producers and reserved + acked by several
# consumers through RedisJobQueue, on the local Redis. One row per setup.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis/target}"
cargo build --release -q -p portcullis-bench --bin queue-throughput
BIN="$CARGO_TARGET_DIR/release/queue-throughput"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
echo "| setup | jobs | throughput (enqueue → reserve → ack) | Redis CPU |"
echo "|---|---|---|---|"
for setup in "1 1" "4 4" "8 8" "16 16"; do
  read -r p c <<<"$setup"
  PRODUCERS=$p CONSUMERS=$c JOBS=${JOBS:-50000} POOL=${POOL:-8} "$BIN"
done

# The rate-limit check: latency of one call and Redis CPU per 10k checks.
cargo build --release -q -p portcullis-bench --bin limiter-latency
echo
echo "| rate-limit check on Redis | rate | p50 / p90 / p99 of one check | Redis CPU |"
echo "|---|---|---|---|"
for clients in 1 32; do CLIENTS=$clients "$CARGO_TARGET_DIR/release/limiter-latency"; done
