#!/usr/bin/env bash
# Sets up, builds, starts the embedded demo network (a loopback Codex node and nwaku node in
# the same process), publishes the bundled fixture community on it, and syncs it into
# ./demo-history.sqlite, showing progress and the result.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product community-history
.build/release/community-history demo --db demo-history.sqlite "$@"
