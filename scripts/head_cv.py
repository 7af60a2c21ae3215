#!/usr/bin/env python3
"""scikit-learn's LogisticRegression on the same embeddings and the same folds as
`sightline retrain --cv K`, for scripts/head_cv.sh.

Reads the results table a `sightline run --output DIR` wrote (the latest successful row
per key) and a labels CSV (`file,label`), folds keys exactly as Sightline does (first 8
bytes of SHA-256(key), big-endian, modulo K), and fits StandardScaler +
LogisticRegression (scikit-learn defaults: C=1, lbfgs, no class weights; max_iter raised
so it converges) on each fold's other rows. Prints one JSON line: pooled accuracy and mean
macro-F1 over the folds.
"""
import argparse
import csv
import glob
import hashlib
import json

import numpy as np
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def fold_of(key: str, k: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", required=True, help="folder `sightline run --output` wrote")
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--labels", required=True, help="CSV with file,label")
    ap.add_argument("--folds", type=int, default=5)
    a = ap.parse_args()
    labels = {r["file"]: r["label"] for r in csv.DictReader(open(a.labels, newline=""))}
    latest = {}
    pattern = f"{a.output}/results/catalog={a.catalog}/**/*.parquet"
    for path in glob.glob(pattern, recursive=True):
        table = pq.read_table(path, columns=["key", "processed_at", "embedding", "error_kind"])
        for r in table.to_pylist():
            if r["embedding"] is None or r["error_kind"] is not None:
                continue
            if r["key"] not in latest or latest[r["key"]][0] < r["processed_at"]:
                latest[r["key"]] = (r["processed_at"], r["embedding"])
    prefix = f"incoming/{a.catalog}/"
    keys = sorted(k for k in latest if k.removeprefix(prefix) in labels)
    x = np.array([latest[k][1] for k in keys], dtype=np.float64)
    y = np.array([labels[k.removeprefix(prefix)] for k in keys])
    folds = np.array([fold_of(k, a.folds) for k in keys])
    correct, f1s = 0, []
    for f in range(a.folds):
        train, test = folds != f, folds == f
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        model.fit(x[train], y[train])
        pred = model.predict(x[test])
        correct += int((pred == y[test]).sum())
        f1s.append(f1_score(y[test], pred, average="macro"))
    print(json.dumps({"rows": len(keys), "classes": len(set(y)), "accuracy": correct / len(keys),
                      "macro_f1": float(np.mean(f1s))}))


if __name__ == "__main__":
    main()
