#!/usr/bin/env bash
# Upload scenario (part of `make bench`): the release binary with a real clamd
# (Debian clamav-daemon, a private daemon with a one-line EICAR database) and
# local-disk storage. Measures
#   1. clamd's own INSTREAM throughput on the files used below (one stream at a time),
#   2. MB/s through the whole pipeline: upload → SHA-256/type → store → scan →
#      process (csv inspector) → ready, files one after another,
#   3. the server's resident memory while 8 clients upload 10 MiB files at once
#      (VmHWM, the kernel's peak-RSS mark; streaming keeps it flat, buffering
#      would add ~80 MiB).
# Only loopback traffic. FILES (default 8) files of SIZE_MIB (default 10) MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT=${PORT:-18090}
FILES=${FILES:-8}
SIZE_MIB=${SIZE_MIB:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis/target}"
CLAMD=$(command -v clamd || echo /usr/sbin/clamd)
[ -x "$CLAMD" ] || { echo "clamd missing: make deps (Debian clamav-daemon)" >&2; exit 2; }

cargo build --release -p portcullis
BIN="$CARGO_TARGET_DIR/release/portcullis"
WORK=$(mktemp -d)
trap 'kill $SERVER $CLAMD_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=0

# A private clamd with a test database (no freshclam, no network).
CLAMD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/db" "$WORK/uploads" "$WORK/files"
python3 - "$WORK/db/portcullis-bench.ndb" <<'PY'
import sys
eicar = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*"
open(sys.argv[1], "w").write("Eicar-Test-Signature:0:*:" + eicar.encode().hex() + "\n")
PY
cat >"$WORK/clamd.conf" <<CONF
Foreground yes
DatabaseDirectory $WORK/db
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
StreamMaxLength 64M
MaxThreads 8
LogFile $WORK/clamd.log
CONF
"$CLAMD" --config-file "$WORK/clamd.conf" >/dev/null 2>&1 &
CLAMD_PID=$!
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$CLAMD_PORT) 2>/dev/null && break; sleep 0.1; done

# Distinct csv files (distinct bytes: no dedupe shortcut).
python3 - "$WORK/files" "$FILES" "$SIZE_MIB" <<'PY'
import os, random, sys
out, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20261127)
for i in range(n):
    rows, size = ["id,name,amount,currency"], 0
    while size < mib * 1024 * 1024:
        row = f"{i}-{len(rows)},{rng.choice(['ada','bob','eve','zed'])}-{rng.randrange(10**9)},{rng.randrange(10**7)/100},EUR"
        rows.append(row); size += len(row) + 1
    open(os.path.join(out, f"f{i}.csv"), "w").write("\n".join(rows) + "\n")
PY

echo "### 1. clamd INSTREAM, $FILES × ${SIZE_MIB} MiB, one stream at a time"
python3 - "$CLAMD_PORT" "$WORK/files" <<'PY'
import os, socket, struct, sys, time
port, folder = int(sys.argv[1]), sys.argv[2]
total, start = 0, time.perf_counter()
for name in sorted(os.listdir(folder)):
    data = open(os.path.join(folder, name), "rb").read()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"zINSTREAM\0")
    for at in range(0, len(data), 65536):
        chunk = data[at:at + 65536]
        s.sendall(struct.pack(">I", len(chunk)) + chunk)
    s.sendall(struct.pack(">I", 0))
    reply = s.recv(4096); s.close()
    assert reply.endswith(b"OK\0"), reply
    total += len(data)
elapsed = time.perf_counter() - start
print(f"clamd INSTREAM: {total / elapsed / 1e6:.1f} MB/s ({total / 1e6:.0f} MB in {elapsed:.2f} s)")
PY

PRESIGNED_URL_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
PORT=$PORT HOST=127.0.0.1 LOG_LEVEL=error STORAGE_BACKEND=local UPLOAD_DIR="$WORK/uploads" \
CLAMAV_HOST=127.0.0.1 CLAMAV_PORT=$CLAMD_PORT MAX_FILES_PER_USER=100000 MAX_FILE_SIZE=$((SIZE_MIB * 1024 * 1024 + 1024 * 1024)) \
RATE_LIMIT_MAX_REQUESTS=1000000000 RATE_LIMIT_AUTH_MAX_REQUESTS=1000000000 REQUEST_BODY_TIMEOUT=120s \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.2; done
API="http://127.0.0.1:$PORT/api/v1"
token() {
  curl -sf "$API/auth/register" -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"Quartz-Lantern-91!\"}" >/dev/null
  curl -sf "$API/auth/login" -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"Quartz-Lantern-91!\"}" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
rss() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$SERVER/status"; }

echo "### 2. The whole pipeline, $FILES × ${SIZE_MIB} MiB one after another (upload → ready)"
TOKEN=$(token pipeline@example.com)
start=$(date +%s.%N)
for f in "$WORK"/files/*.csv; do
  id=$(curl -sf -H "Authorization: Bearer $TOKEN" -F "file=@$f" "$API/files" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  until curl -sf -H "Authorization: Bearer $TOKEN" "$API/files/$id" | grep -q '"status":"\(ready\|failed\|infected\)"'; do sleep 0.02; done
done
end=$(date +%s.%N)
python3 -c "b=$FILES*$SIZE_MIB*1048576; t=$end-$start; print(f'pipeline: {b/t/1e6:.1f} MB/s ({b/1e6:.0f} MB in {t:.2f} s, upload to ready, one file at a time)')"

echo "### 3. Resident memory while 8 clients upload ${SIZE_MIB} MiB files at once (3 rounds)"
# The 24 accounts are made first: Argon2id's 19 MiB per hash would otherwise
# be counted as upload memory.
declare -A TOKENS
for round in 1 2 3; do for i in $(seq 0 7); do TOKENS[$round-$i]=$(token "rss-$round-$i@example.com"); done; done
echo "before: VmRSS $(rss VmRSS) KiB, peak so far (VmHWM) $(rss VmHWM) KiB"
for round in 1 2 3; do
  pids=()
  for i in $(seq 0 7); do
    curl -sf -o /dev/null -H "Authorization: Bearer ${TOKENS[$round-$i]}" -F "file=@$WORK/files/f$((i % FILES)).csv" "$API/files" & pids+=($!)
  done
  wait "${pids[@]}"
  # Let the pipeline (scan, process) of this round run too.
  sleep 2
  echo "round $round: VmRSS $(rss VmRSS) KiB, VmHWM $(rss VmHWM) KiB"
done
echo "after:  VmRSS $(rss VmRSS) KiB, peak (VmHWM) $(rss VmHWM) KiB; 8 buffered uploads would add ~$((8 * SIZE_MIB * 1024)) KiB"
