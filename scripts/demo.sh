#!/usr/bin/env bash
# The demo on a fresh machine: installs ONNX Runtime's library into .cache/, builds the
# `sightline` binary (release) and runs `sightline demo` on the project's sample images,
# embedded (a local folder as the bucket, an in-process queue; no cloud needed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup runtime
cargo build --release --locked -p sightline-cli
"$CARGO_TARGET_DIR/release/sightline" demo "$@"
