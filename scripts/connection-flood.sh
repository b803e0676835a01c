#!/usr/bin/env bash
# The agent under a desktop's scarce resources (issue 27): started with `prlimit --nofile=256`
# beside the demo network, it must keep answering on its Unix socket while 300 idle TCP
# connections (no token needed to open one) are held against its API port, answer over TCP
# once its idle timeout has closed them, and import the community all the same.
#
#   scripts/connection-flood.sh [BINARY]     (default .build/debug/community-history)
#
# Needs curl, python3 and prlimit (util-linux). Exit 0 when every check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/community-history}
connections=${CONNECTIONS:-300}
nofile=${NOFILE:-256}
source scripts/demo-agent.sh

start_demo_network
port=$(free_port)
set_api_port "$port"
start_agent prlimit --nofile="$nofile:$nofile"
socket="$work/history.sqlite.sock"
for _ in $(seq 1 600); do [ -S "$socket" ] && [ -s "$work/history.sqlite.cookie" ] && break; sleep 0.1; done
[ -S "$socket" ] || fail "the agent's socket did not appear"
echo "agent up with an open-file limit of $nofile; opening $connections idle connections to port $port"

# Hold the connections open for the whole check, in the background.
python3 - "$port" "$connections" > "$work/flood.log" 2>&1 <<'PY' &
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held, refused = [], 0
for _ in range(count):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        refused += 1
print(f"opened {len(held)}, not opened {refused}", flush=True)
time.sleep(600)
PY
pids+=($!)
for _ in $(seq 1 300); do grep -q opened "$work/flood.log" 2>/dev/null && break; sleep 0.1; done
cat "$work/flood.log"
opened=$(sed -n 's/^opened \([0-9]*\),.*/\1/p' "$work/flood.log")
[ "${opened:-0}" -ge $((connections * 5 / 6)) ] || fail "only ${opened:-0} of $connections connections were opened: the flood did not happen"

status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$socket" http://localhost/v1/communities) || true
[ "$status" = 200 ] || fail "the socket answered $status while TCP was flooded"
echo "pass: the socket answers while $connections connections are held"

token=$(cat "$work/history.sqlite.cookie")
answered=""
for _ in $(seq 1 90); do
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/communities") || true
  if [ "$status" = 200 ]; then answered=yes; break; fi
  sleep 2
done
[ -n "$answered" ] || fail "TCP did not answer within 180 s of the flood"
echo "pass: TCP answers (idle connections closed by the agent)"

imported=""
for _ in $(seq 1 90); do
  body=$(curl -s --max-time 5 --unix-socket "$socket" http://localhost/v1/communities) || true
  if echo "$body" | python3 -c 'import json,sys; c=json.load(sys.stdin)["communities"]; sys.exit(0 if c and all(x["history"]["archivesImported"] >= 9 for x in c) else 1)' 2>/dev/null; then
    imported=yes; break
  fi
  sleep 2
done
[ -n "$imported" ] || fail "the community was not imported under the file limit: $body"
grep -q "Too many open files" "$work/agent.log" && fail "the agent ran out of open files"
echo "pass: the community was imported under --nofile=$nofile, no 'Too many open files'"
