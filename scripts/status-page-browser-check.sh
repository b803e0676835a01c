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
source scripts/demo-agent.sh

start_demo_network --fixture Fixtures/demo-community --fixture Fixtures/encrypted-community
port=$(free_port)
set_api_port "$port" 1
start_agent
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
