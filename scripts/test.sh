#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need into .cache/
# (ONNX Runtime's library, moto, pyarrow, duckdb), builds the binaries the integration
# tests drive, then runs every test of the workspace. Lint gates first: rustfmt and clippy
# with warnings as errors (unwrap/expect denied outside tests, see [workspace.lints]).
# Extra arguments go to `cargo test`.
# Data-dependent tests need the shared folder (../shared beside the checkout, or
# $SIGHTLINE_SHARED_DIR) and FAIL without it; this script never sets the developers' opt-out
# SIGHTLINE_SKIP_DATA_TESTS=1 (CI runs this script, so CI always runs them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup test
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
