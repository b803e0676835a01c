#!/usr/bin/env bash
# Writes docs/community-history.1, the man page, from the command's own help, with
# swift-argument-parser's GenerateManual plugin (it builds the package's debug configuration
# first, as the tests do). Run it after changing a command's options and commit the result:
# `CLIConventionsTests` fails while the committed page misses an option or a command.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package --allow-writing-to-package-directory generate-manual --configuration debug
page=$(find .build/plugins -name 'community-history.1' -newer Package.swift | head -1)
if [ -z "$page" ]; then
  page=$(find .build/plugins -name 'community-history.1' | head -1)
fi
cp "$page" docs/community-history.1
echo "wrote docs/community-history.1 (from $page)"
