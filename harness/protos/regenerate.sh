#!/usr/bin/env bash
# Regenerates src/etcd/*.rs and src/cri/*.rs from the .proto files shipped in the crates
# etcd-client and k8s-cri (versions pinned in generate/Cargo.toml and generate/Cargo.lock).
# Needs `protoc` and the well-known protos (Debian: apt-get install protobuf-compiler
# libprotobuf-dev; generated with libprotoc 3.21.12).
# Building podcheck-protos never needs it: the generated files are committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }
# etcd's protos import google/protobuf/{descriptor,struct}.proto, which Debian ships apart.
[ -n "${PROTOC_INCLUDE:-}" ] || [ -f /usr/include/google/protobuf/descriptor.proto ] || {
  echo "google/protobuf/*.proto are missing: apt-get install libprotobuf-dev" >&2; exit 1; }

rm -rf "$here/src/etcd" "$here/src/cri"
# The generator's build output goes to the workspace's (git-ignored) target dir.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../../target/protos-generate}" \
  cargo run --locked --quiet --manifest-path "$here/generate/Cargo.toml" -- "$here/src"
ls "$here/src/etcd" "$here/src/cri"
