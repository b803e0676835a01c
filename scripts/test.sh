#!/usr/bin/env bash
# Sets up and runs the whole test suite, including a replay of the bundled fixture with
# --expect through the real command line.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Build once with tests, then run without rebuilding (alternating `swift build` and
# `swift test` recompiles SwiftProtobuf).
swift build --build-tests
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
.build/debug/community-history replay Fixtures/demo-community --db "$scratch/history.sqlite" \
  --json --expect Fixtures/demo-community/expected-report.json > "$scratch/report.json"
echo "replay --expect: the bundled fixture matches its expected report"
swift test --skip-build
