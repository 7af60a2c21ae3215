#!/usr/bin/env bash
# Accuracy of Sightline's trained heads against scikit-learn's LogisticRegression on the
# same embeddings and the same 5 folds, on ../shared/data/grocery (retail) and
# ../shared/data/brain-mri (medical). Embeds the images once (release build) into a folder
# outside the project (the MRI images and what is derived from them stay out of it), then
# prints one table. Usage: scripts/head_cv.sh [FOLDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
sightline_setup runtime
sightline_venv .cache/head-cv requirements/head-cv.txt # scikit-learn, exact versions
python=.cache/head-cv/bin/python
cargo build --release --locked -p sightline-cli
bin="$CARGO_TARGET_DIR/release/sightline"
data=${SIGHTLINE_SHARED_DIR:-../shared}/data
work=${TMPDIR:-/tmp}/sightline-head-cv
folds=${1:-5}
rows=()
for pair in grocery:retail brain-mri:medical; do
  set="${pair%%:*}" catalog="${pair##*:}"
  out="$work/$set"
  if [ ! -d "$out/results/catalog=$catalog" ]; then
    echo "==> embedding $data/$set/images ($catalog)" >&2
    "$bin" run --source "$data/$set/images" --catalog "$catalog" --output "$out" --json >&2
  fi
  ours=$("$bin" retrain --catalog "$catalog" --output "$out" --labels "$data/$set/labels.csv" --cv "$folds" --json)
  theirs=$("$python" scripts/head_cv.py --output "$out" --catalog "$catalog" --labels "$data/$set/labels.csv" --folds "$folds")
  rows+=("$set|$ours|$theirs")
done
"$python" - "$folds" "${rows[@]}" <<'PY'
import json, sys
folds, rows = sys.argv[1], sys.argv[2:]
print(f"{folds}-fold cross-validation, same folds and embeddings (efficientnet_lite0, 1280-d)")
print(f"{'data':<10} {'rows':>5} {'classes':>7} {'sightline head':>15} {'sklearn LR':>11} {'diff':>7} {'macro-F1 ours/sklearn':>22} {'train s':>8}")
for r in rows:
    name, ours, theirs = r.split("|")
    o, t = json.loads(ours), json.loads(theirs)
    print(f"{name:<10} {t['rows']:>5} {t['classes']:>7} {o['accuracy']:>15.4f} {t['accuracy']:>11.4f} "
          f"{100 * (o['accuracy'] - t['accuracy']):>+6.2f}p {o['macro_f1']:>10.4f}/{t['macro_f1']:<11.4f} {o['seconds']:>8.1f}")
PY
