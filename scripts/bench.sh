#!/usr/bin/env bash
# End-to-end benchmark against the Python peer (needs ../shared: COCO dev images and the
# peer). The peer's packages (onnxruntime, pillow, numpy, duckdb, boto3) are in the test venv
# (.cache/venv, requirements/test.txt); builds release, prints Markdown tables.
#   scripts/bench.sh [--phone N] [--vga N] [--png N] [--rounds N] [--catalog medical] ...
#       the production-like benchmark: phone-sized JPEGs, VGA originals, PNGs and their mix
#       through embedded, the worker via moto, the peer untuned and --draft; see docs/benchmarks.md
#   scripts/bench.sh --classic [--copies N] [--rounds N] [--with-detector]
#       the benchmark of 2026-11-26/27 (COCO copies; inference ceilings)
#   scripts/bench.sh --help    all options
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup test
cargo build --release --locked -p sightline-cli
exec "$SIGHTLINE_PYTHON" scripts/bench.py "$@"
