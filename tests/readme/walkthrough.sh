#!/usr/bin/env bash
# Runs the README walk-through exactly as a reader types it: `make run | tee
# portcullis.log` in the background, then every command of the block between
# `<!-- walkthrough:start -->` and `<!-- walkthrough:end -->`, unchanged, in one
# shell. `curl` is wrapped only to record each answer's status, which must equal
# the status written at the end of the request (`# 201`). A request without one
# fails the run, so the README cannot grow an unchecked step.
#
#   tests/readme/walkthrough.sh        (needs jq and port 8080 free; `make deps`)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v jq >/dev/null || { echo "jq is not installed: run \`make deps\`" >&2; exit 2; }
if command curl -s -o /dev/null http://localhost:8080/health/live; then
  echo "something already answers on localhost:8080; stop it first" >&2; exit 2
fi

work=$(mktemp -d)
steps="$work/steps.sh"
python3 - README.md > "$steps" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
start, end = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
if start not in text or end not in text:
    sys.exit("README.md has no walkthrough markers")
block = text.split(start, 1)[1].split(end, 1)[0]
lines = [l for l in block.strip().splitlines() if not l.startswith("```")]
commands, current = [], []
for line in lines:
    current.append(line)
    if not line.endswith("\\"):
        commands.append(current)
        current = []
for n, command in enumerate(commands, 1):
    body = "\n".join(command)
    print(body)
    if body.lstrip().startswith("#") or "curl " not in body:
        continue
    status = re.search(r"#\s*(\d{3})\b[^\n]*$", command[-1])
    if not status:
        sys.exit(f"README walk-through step {n} has a request without its status comment:\n{body}")
    summary = re.sub(r"\s+", " ", command[0])[:100].replace("'", "")
    print(f"check {status.group(1)} '{summary}'")
PY

server_log="$work/server.log"
rm -f portcullis.log
# As on a fresh machine: the all-in-memory mode, whatever this shell points at.
[ -e .env ] && { echo "a .env file would change \`make run\`; the walk-through needs the defaults" >&2; exit 2; }
setsid env -u DATABASE_URL -u REDIS_URL -u SMTP_HOST -u MAIL_TO_CONSOLE -u PORT -u HOST \
  bash -c 'make run | tee portcullis.log' > /dev/null 2> "$server_log" &
server=$!
cleanup() {
  kill -- -"$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -f portcullis.log
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1200); do
  command curl -s -o /dev/null http://localhost:8080/health/live && break
  kill -0 "$server" 2>/dev/null || { echo "make run stopped:" >&2; tail -n 40 "$server_log" >&2; exit 1; }
  sleep 0.5
done

status_file="$work/status"
export status_file
set +e
bash -euo pipefail <<SH
curl() { command curl -w '%{http_code}' -o "\$status_file.body" "\$@" > "\$status_file"; cat "\$status_file.body"; echo; }
check() {
  got=\$(cat "\$status_file")
  if [ "\$got" != "\$1" ]; then
    echo "README walk-through: expected \$1, got \$got from: \$2" >&2
    cat "\$status_file.body" >&2; echo >&2
    exit 1
  fi
  echo "  -> \$1 as the README says"
}
$(cat "$steps")
SH
result=$?
set -e
if [ $result -ne 0 ]; then
  echo "--- server log (tail) ---" >&2
  tail -n 40 "$server_log" >&2
  exit $result
fi
echo "README walk-through: every step answered as the README shows"
