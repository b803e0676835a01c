#!/usr/bin/env bash
# The status page in a real browser (issue 23): the agent beside the demo network with two
# communities (the bundled one, and the encrypted one, whose index waits for a key), and headless
# Chromium signing in with the token and checking what a person sees: both communities, one
# strip cell per week in its state, the waiting index's error, and a rescan's progress reaching
# 100 % live. Keeps a screenshot.
#
#   scripts/status-page-browser-check.sh [BINARY]   (default .build/debug/community-history)
#
# Needs chromium (Debian: apt-get install chromium) and python3. SCREENSHOT_DIR (default
# ./artifacts) receives status-page.png. Exit 0 when every check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/community-history}
shots=${SCREENSHOT_DIR:-artifacts}
mkdir -p "$shots"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    alive=""
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=yes; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- agent log"; tail -40 "$work/agent.log" || true; exit 1; }

"$bin" demo-network --fixture Fixtures/demo-community --fixture Fixtures/encrypted-community \
  --agent-config "$work/agent.json" --agent-db "$work/history.sqlite" > "$work/network.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$work/agent.json" ] && break; sleep 0.1; done
sleep 0.3
[ -s "$work/agent.json" ] || { cat "$work/network.log"; fail "demo-network did not start"; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$work/agent.json" "$port" <<'PY'
import json, sys
path, port = sys.argv[1], int(sys.argv[2])
config = json.load(open(path))
config["apiPort"] = port
for community in config["communities"]:
    community["settleSeconds"] = 1
json.dump(config, open(path, "w"), indent=2)
PY
"$bin" agent --config "$work/agent.json" > "$work/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$work/history.sqlite.cookie" ] && break; sleep 0.1; done
[ -s "$work/history.sqlite.cookie" ] || fail "the agent's cookie file did not appear"

demo=$(python3 -c 'import json; print(json.load(open("Fixtures/demo-community/manifest.json"))["communityID"])')
encrypted=$(python3 -c 'import json; print(json.load(open("Fixtures/encrypted-community/manifest.json"))["communityID"])')
expect=$(python3 -c 'import json, sys; print(json.dumps({sys.argv[1]: {"present": 9, "waiting-for-key": 1}, sys.argv[2]: {"error": "waiting for key"}}))' "$demo" "$encrypted")
echo "agent on http://127.0.0.1:$port/ (the status page); checking it in headless Chromium"
FAILURE_SCREENSHOT="$shots/status-page-failure.png" \
  timeout 300 python3 scripts/status-page-browser-check.py "http://127.0.0.1:$port/" "$work/history.sqlite.cookie" \
  "$shots/status-page.png" "$expect" || fail "the status page check failed"
echo "the status page passed in a real browser"
