#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need into .cache/
# (ONNX Runtime's library, moto, pyarrow, duckdb), builds the binaries the integration
# tests drive, then runs every test of the workspace. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup test
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
