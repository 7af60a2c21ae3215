#!/usr/bin/env bash
# Cold start of the infer Lambda binary, measured locally against a fake Lambda Runtime API
# and moto's S3 (scripts/cold_start.py; docs/cold-start.md).
#   scripts/cold_start.sh [--runs N] [--json OUT] [--baseline] [--cold-cache] [--cpus N] [--memory MB]
#                         [--env K=V]... [LABEL=]BOOTSTRAP...
# With no binary: $CARGO_TARGET_DIR/release/sightline-infer (build it first:
# cargo build --release --locked -p sightline-infer).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/setup.sh
source "$root/scripts/setup.sh"
sightline_setup test   # SIGHTLINE_ORT_DYLIB, moto_server in .cache/venv, CARGO_TARGET_DIR
has_binary=false skip=false
for a in "$@"; do
  if $skip; then skip=false; continue; fi
  case $a in
    --runs | --json | --image | --memory | --cpus | --env) skip=true ;;
    -*) ;;
    *) has_binary=true ;;
  esac
done
if ! $has_binary; then
  set -- "$@" "release=$CARGO_TARGET_DIR/release/sightline-infer"
fi
exec python3 "$root/scripts/cold_start.py" "$@"
