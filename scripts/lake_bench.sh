#!/usr/bin/env bash
# The lake benchmark (docs/lake.md): builds the release CLI and the small-files generator,
# then runs scripts/lake_bench.py with the test venv's DuckDB. Arguments go to it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup test
cargo build --release --locked -p sightline-cli
cargo build --release --locked -p sightline-lake --example small_files
exec "$SIGHTLINE_PYTHON" scripts/lake_bench.py "$@"
