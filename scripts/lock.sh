#!/usr/bin/env bash
# Regenerates the lock files requirements/<name>.txt from requirements/<name>.in: every
# package of the environment at an exact version, with the sha256 of each of its files on
# PyPI, resolved for every platform and Python 3.11+ (uv pip compile --universal). The
# resolver itself comes from requirements/lock-tools.txt (and locks itself too). Run it after changing a .in file
# and commit both; scripts/setup.sh rebuilds a virtual environment whose lock changed.
# Usage: scripts/lock.sh [NAME...]   (default: every requirements/*.in)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_venv .cache/lock-tools requirements/lock-tools.txt
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in requirements/*.in; do names+=("$(basename "$f" .in)"); done
fi
for name in "${names[@]}"; do
  echo "==> requirements/$name.txt" >&2
  .cache/lock-tools/bin/uv pip compile "requirements/$name.in" --quiet --universal \
    --python-version 3.11 --generate-hashes \
    --custom-compile-command scripts/lock.sh -o "requirements/$name.txt"
done
