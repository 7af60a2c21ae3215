#!/usr/bin/env bash
# End-to-end benchmark against the Python peer (needs ../shared: COCO dev images and the
# peer). Installs onnxruntime into .cache/venv for the peer, builds release, prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup test
"$SIGHTLINE_PYTHON" -m pip install --quiet 'onnxruntime==1.31.1' boto3
cargo build --release --locked -p sightline-cli
exec "$SIGHTLINE_PYTHON" scripts/bench.py "$@"
