#!/usr/bin/env bash
# Regenerates Sources/StatusWire/Generated/*.pb.swift from proto/*.proto.
# Uses Debian's protoc and protoc-gen-swift built from the swift-protobuf dependency
# (no build plugin: the generated code is committed).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { apt-get update && apt-get install -y protobuf-compiler; }
swift build -c release --product protoc-gen-swift --scratch-path .build-protoc
protoc --plugin=protoc-gen-swift=.build-protoc/release/protoc-gen-swift \
  --swift_out=Sources/StatusWire/Generated --swift_opt=Visibility=Public \
  -I proto proto/*.proto
echo "generated: $(ls Sources/StatusWire/Generated)"
