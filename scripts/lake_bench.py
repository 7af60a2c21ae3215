#!/usr/bin/env python3
"""The lake benchmark of docs/lake.md: a dashboard query on a partition of many small files,
before and after `sightline compact`.

  scripts/lake_bench.sh [--files 10000] [--rows 10] [--repeat 5]

Writes the partition with `shared/lake/examples/small_files.rs` (synthetic rows of the real
schema), times the queries with DuckDB (the test venv's) over `infra/duckdb/views.sql`, runs
`sightline compact --output DIR --catalog retail` (timed), times the queries again, and prints a
Markdown table: files, MB, query medians, compaction time and write amplification.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
QUERIES = {
    "tag counts of a day (results_latest)":
        "SELECT t AS tag, count(*) AS images FROM results_latest, unnest(tags) AS u(t) "
        "WHERE catalog = 'retail' AND date = '2026-11-26' GROUP BY t ORDER BY images DESC",
    "top-1 classes of a day (results_latest)":
        "SELECT labels[1].label AS top1, count(*) AS images, avg(labels[1].score) AS score "
        "FROM results_latest WHERE catalog = 'retail' AND date = '2026-11-26' "
        "GROUP BY top1 ORDER BY images DESC LIMIT 20",
    "one image's row (results_latest)":
        "SELECT key, labels[1].label FROM results_latest WHERE key = 'incoming/retail/00004242.jpg'",
}


def files_and_mb(root):
    files = [p for p in (root / "results").rglob("*.parquet")]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def time_queries(root, repeat):
    sql = (ROOT / "infra/duckdb/views.sql").read_text().replace("'out/results/", f"'{root}/results/")
    out = {}
    for name, q in QUERIES.items():
        times = []
        for _ in range(repeat):
            con = duckdb.connect()  # a new connection: no cached file metadata
            con.execute(sql)
            t = time.perf_counter()
            con.execute(q).fetchall()
            times.append(time.perf_counter() - t)
            con.close()
        out[name] = statistics.median(times)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    target = Path(os.environ["CARGO_TARGET_DIR"]) / "release"
    tmp = Path(tempfile.mkdtemp(prefix="sightline-lake-"))
    try:
        gen = subprocess.run([target / "examples/small_files", tmp, str(a.files), str(a.rows)],
                             check=True, capture_output=True, text=True)
        made = json.loads(gen.stdout)
        before_files, before_mb = files_and_mb(tmp)
        before = time_queries(tmp, a.repeat)
        t = time.perf_counter()
        run = subprocess.run([target / "sightline", "compact", "--output", tmp, "--catalog", "retail", "--json"],
                             check=True, capture_output=True, text=True)
        compact_s = time.perf_counter() - t
        report = json.loads(run.stdout.splitlines()[-1])
        after_files, after_mb = files_and_mb(tmp)
        after = time_queries(tmp, a.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"Machine: {os.cpu_count()} CPUs ({cpu}); {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"DuckDB {duckdb.__version__}; {made['rows']} rows in {made['files']} files; "
          f"medians of {a.repeat} runs, each on a new connection\n")
    print("| query | small files: s | compacted: s | speed-up |")
    print("|---|---|---|---|")
    for name in QUERIES:
        print(f"| {name} | {before[name]:.3f} | {after[name]:.3f} | {before[name] / after[name]:.1f}× |")
    print(f"\n| | files | MB |\n|---|---|---|\n| before | {before_files} | {before_mb:.1f} |\n"
          f"| after | {after_files} | {after_mb:.1f} |")
    print(f"\nCompaction: {compact_s:.1f} s wall (`sightline compact`, release), read "
          f"{report['bytes_read'] / 2**20:.1f} MB in {report['files_before']} files, wrote "
          f"{report['bytes_written'] / 2**20:.1f} MB in {len(report['outputs'])} file(s); "
          f"rows {report['rows_read']} → {report['rows_written']}; write amplification of this "
          f"run (bytes written / bytes first written): {report['bytes_written'] / made['bytes']:.2f}")


if __name__ == "__main__":
    main()
