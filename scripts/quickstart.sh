#!/usr/bin/env bash
# Sets up, builds, and replays the bundled fixture community into ./history.sqlite,
# then prints the summary. Run again: archives already imported are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product community-history
.build/release/community-history replay Fixtures/demo-community --db history.sqlite "$@"
