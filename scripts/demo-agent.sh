# Sourced by the scripts that run the agent beside the demo network (connection-flood.sh,
# status-page-browser-check.sh): a scratch directory, the processes started (stopped on exit,
# SIGKILL after 10 s), and the demo network with the agent configuration it writes.
#
#   source scripts/demo-agent.sh
#   start_demo_network [--fixture DIR ...]      # writes $work/agent.json for $work/history.sqlite
#   set_api_port PORT [SETTLE_SECONDS]          # apiPort (and each community's settleSeconds)
#   start_agent [PREFIX ...]                    # PREFIX: e.g. prlimit --nofile=256:256; log in $work/agent.log
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Not waited for without a bound: one that ignores SIGTERM gets SIGKILL after 10 s.
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

start_demo_network() {
  "$bin" demo-network "$@" --agent-config "$work/agent.json" --agent-db "$work/history.sqlite" > "$work/network.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do [ -s "$work/agent.json" ] && break; sleep 0.1; done
  sleep 0.3  # the file is written in one go; let it land
  [ -s "$work/agent.json" ] || { cat "$work/network.log"; fail "demo-network did not start"; }
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

set_api_port() {
  python3 - "$work/agent.json" "$1" "${2:-}" <<'PY'
import json, sys
path, port, settle = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = json.load(open(path))
config["apiPort"] = port
for community in config["communities"]:
    if settle:
        community["settleSeconds"] = float(settle)
json.dump(config, open(path, "w"), indent=2)
PY
}

start_agent() {
  "$@" "$bin" agent --config "$work/agent.json" > "$work/agent.log" 2>&1 &
  pids+=($!)
}
