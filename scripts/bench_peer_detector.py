#!/usr/bin/env python3
"""The Python peer's detector half: what the peer (../shared/bench/python_peer.py) would add
to also run the CenterNet detector. Same stack and structure as the peer: boto3 download and
Pillow decode + letterbox in a thread pool, onnxruntime on all cores (the graph takes one image
per run), pyarrow Parquet out. scripts/bench.py runs the classifier peer and this one on the
same objects and adds their times.

Prints one JSON line: images, seconds, images_per_s.
"""
import argparse, io, json, os, time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
from PIL import Image

S = 512


def letterbox(data):
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    scale = min(S / w, S / h)
    nw, nh = int(round(w * scale)), int(round(h * scale))
    canvas = np.zeros((S, S, 3), np.float32)
    dx, dy = (S - nw) // 2, (S - nh) // 2
    canvas[dy:dy + nh, dx:dx + nw] = np.asarray(im.resize((nw, nh), Image.BILINEAR), dtype=np.float32)
    return canvas[None], (scale, dx, dy, w, h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--io-workers", type=int, default=8)
    ap.add_argument("--out-key", default="results/peer-detector.parquet")
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    import boto3
    s3 = boto3.client("s3", endpoint_url=a.endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    t0 = time.perf_counter()
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=a.prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    rows = {"key": [], "boxes": [], "scores": [], "classes": []}

    def load(k):
        return k, letterbox(s3.get_object(Bucket=a.bucket, Key=k)["Body"].read())

    with ThreadPoolExecutor(a.io_workers) as pool:
        for k, (x, (scale, dx, dy, w, h)) in pool.map(load, keys):
            det = sess.run(["detections"], {"images": x})[0][0]
            keep = det[det[:, 4] >= 0.3]
            b = (keep[:, :4] - np.array([dx, dy, dx, dy], np.float32)) / scale
            b = np.clip(b, 0, [w, h, w, h])
            rows["key"].append(k)
            rows["boxes"].append(b.tolist())
            rows["scores"].append(keep[:, 4].tolist())
            rows["classes"].append(keep[:, 5].astype(int).tolist())
    import pyarrow as pa, pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(pa.table(rows), buf, compression="zstd")
    s3.put_object(Bucket=a.bucket, Key=a.out_key, Body=buf.getvalue())
    dt = time.perf_counter() - t0
    print(json.dumps({"mode": "detector", "images": len(keys), "seconds": round(dt, 3),
                      "images_per_s": round(len(keys) / dt, 1)}))


if __name__ == "__main__":
    main()
