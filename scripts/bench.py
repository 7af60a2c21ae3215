#!/usr/bin/env python3
"""End-to-end throughput of Sightline against the Python peer, same run, same machine.

Runs, on ../shared/data/coco-dev/images (copied N times so a run lasts long enough):
  (a) embedded:  `sightline run` over a local folder (in-process queue)
  (a') peer:     the Python peer on the same local folder
  (b) worker:    S3 + SQS through moto: `sightline backfill` then `sightline worker`
  (c) peer:      ../shared/bench/python_peer.py on the same bucket, endpoint and model
  (d) ceiling:   `sightline bench-infer` (inference alone), and the peer's --ceiling
Each of (a)-(c) runs `--rounds` times, interleaved; the table shows the median and best.
Prints a Markdown table. Called by scripts/bench.sh, which builds and installs first.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CPU = {"client": 0.0}


def proc_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run(cmd, env=None, check=True):
    """Runs a command; CPU["client"] gets its user+sys CPU seconds."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["client"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if check and p.returncode != 0:
        sys.exit(f"command failed: {' '.join(map(str, cmd))}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def last_json(out):
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def local_flat(local, tmp):
    """The peer reads one flat folder: link every copy's files into it once."""
    flat = tmp / "flat"
    if not flat.exists():
        flat.mkdir()
        for d in sorted(local.iterdir()):
            for f in d.iterdir():
                os.symlink(f.resolve(), flat / f"{d.name}_{f.name}")
    return flat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("SIGHTLINE_SHARED_DIR", ROOT.parent / "shared"))
    ap.add_argument("--copies", type=int, default=4, help="copies of the 128 COCO images")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--with-detector", action="store_true",
                    help="also run the retail catalog (classifier + CenterNet) against the peer running both models")
    args = ap.parse_args()
    shared = Path(args.shared)
    images = shared / "data/coco-dev/images"
    peer = shared / "bench/python_peer.py"
    if not images.is_dir() or not peer.is_file():
        sys.exit(f"skipped: {images} or {peer} not found (set SIGHTLINE_SHARED_DIR)")
    bin_ = Path(os.environ["CARGO_TARGET_DIR"]) / "release/sightline"
    py = Path(os.environ["SIGHTLINE_PYTHON"])
    manifest = (ROOT / f"models/{args.model}.toml").read_text()
    onnx = ROOT / "models" / re.search(r'^file = "(.*)"', manifest, re.M).group(1)
    norm = "tf" if "0.498039" in manifest else "imagenet"

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen([os.environ["SIGHTLINE_MOTO_SERVER"], "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_REGION="us-east-1", RUST_LOG="warn")
    tmp = Path(tempfile.mkdtemp(prefix="sightline-bench-"))
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        import boto3
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        s3.create_bucket(Bucket="bench")
        files = sorted(images.iterdir())
        local = tmp / "local"
        for c in range(args.copies):
            (local / f"c{c}").mkdir(parents=True)
            for f in files:
                s3.put_object(Bucket="bench", Key=f"incoming/medical/c{c}/{f.name}", Body=f.read_bytes())
                if args.with_detector:
                    s3.put_object(Bucket="bench", Key=f"incoming/retail/c{c}/{f.name}", Body=f.read_bytes())
                os.symlink(f, local / f"c{c}" / f.name)
        n = len(files) * args.copies
        results = {"embedded": [], "peer_local": [], "worker": [], "peer": []}
        if args.with_detector:
            results.update({"det_embedded": [], "det_worker": [], "det_peer": []})

        def embedded_run(catalog, out):
            line = run([bin_, "run", "--source", local, "--catalog", catalog, "--output", out], env)
            m = re.search(r"(\d+) rows .* in ([\d.]+) s", line)
            return (int(m.group(1)), float(m.group(2)), CPU["client"], 0.0)

        def worker_run(catalog, queue_name):
            q = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
            run([bin_, "backfill", "--bucket", "bench", "--prefix", f"incoming/{catalog}/", "--queue-url", q], env)
            m0 = proc_cpu(moto.pid)
            w = last_json(run([bin_, "worker", "--queue-url", q, "--exit-when-idle", "2"], env))
            return (w["images"], w["seconds"], CPU["client"], proc_cpu(moto.pid) - m0)

        for r in range(args.rounds):
            results["embedded"].append(embedded_run("medical", tmp / f"embedded{r}"))

            p = last_json(run([py, peer, "--local-dir", local_flat(local, tmp), "--model", onnx,
                               "--labels", ROOT / "models/imagenet_labels.txt", "--norm", norm], env))
            results["peer_local"].append((p["images"], p["seconds"], CPU["client"], 0.0))

            results["worker"].append(worker_run("medical", f"bench-{r}"))

            m0 = proc_cpu(moto.pid)
            p = last_json(run([py, peer, "--endpoint", endpoint, "--bucket", "bench", "--prefix", "incoming/medical/",
                               "--model", onnx, "--labels", ROOT / "models/imagenet_labels.txt", "--norm", norm,
                               "--out-key", f"peer/{r}.parquet"], env))
            results["peer"].append((p["images"], p["seconds"], CPU["client"], proc_cpu(moto.pid) - m0))

            if args.with_detector:
                results["det_embedded"].append(embedded_run("retail", tmp / f"det{r}"))
                results["det_worker"].append(worker_run("retail", f"bench-det-{r}"))
                # The peer runs its classifier, then its detector half; times and CPU add up.
                m0 = proc_cpu(moto.pid)
                pc = last_json(run([py, peer, "--endpoint", endpoint, "--bucket", "bench", "--prefix", "incoming/retail/",
                                    "--model", onnx, "--labels", ROOT / "models/imagenet_labels.txt", "--norm", norm,
                                    "--out-key", f"peer/det-cls-{r}.parquet"], env))
                cpu_c = CPU["client"]
                pd = last_json(run([py, ROOT / "scripts/bench_peer_detector.py", "--endpoint", endpoint, "--bucket", "bench",
                                    "--prefix", "incoming/retail/", "--model", ROOT / "models/centernet_mbv3_coco.onnx",
                                    "--out-key", f"peer/det-{r}.parquet"], env))
                results["det_peer"].append((pc["images"], pc["seconds"] + pd["seconds"], cpu_c + CPU["client"],
                                            proc_cpu(moto.pid) - m0))
        ceiling = last_json(run([bin_, "bench-infer", "--model", args.model, "--images", str(n), "--batch", "16"], env))
        peer_ceiling = last_json(run([py, peer, "--ceiling", "--model", onnx, "--n", str(n), "--batch", "32"], env))
    finally:
        moto.terminate()
        shutil.rmtree(tmp, ignore_errors=True)

    print("raw (images, seconds):", json.dumps(results), file=sys.stderr)

    def rate(runs):
        rates = [r[0] / max(r[1], 1e-9) for r in runs]
        client = statistics.median(1e3 * r[2] / r[0] for r in runs)
        server = statistics.median(1e3 * r[3] / r[0] for r in runs)
        return statistics.median(rates), max(rates), runs[0][0], client, server

    table = {k: rate(v) for k, v in results.items()}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"Machine: {os.cpu_count()} CPUs ({cpu}); model {args.model}; {n} images "
          f"({len(files)} COCO images x {args.copies}); {args.rounds} rounds, interleaved\n")
    print("| run | images | images/s (median) | images/s (best) | CPU ms/image, process | CPU ms/image, moto |")
    print("|---|---|---|---|---|---|")
    names = {"embedded": "(a) embedded: `sightline run`, local folder",
             "peer_local": "(a') Python peer, same local folder (`--local-dir`)",
             "worker": "(b) worker: S3 + SQS via moto, `sightline worker`",
             "peer": "(c) Python peer, same bucket/endpoint/model",
             "det_embedded": "(e) embedded, classifier + detector (`retail` catalog)",
             "det_worker": "(f) worker via moto, classifier + detector",
             "det_peer": "(g) Python peer via moto, classifier run + detector run (times added)"}
    for k in [k for k in ("embedded", "peer_local", "worker", "peer", "det_embedded", "det_worker", "det_peer") if k in table]:
        med, best, imgs, client, server = table[k]
        print(f"| {names[k]} | {imgs} | {med:.1f} | {best:.1f} | {client:.1f} | {server:.1f} |")
    print(f"| (d) inference alone, Sightline engine ({ceiling['threads']} threads x {ceiling['intra_threads']}, batch 16) "
          f"| {ceiling['images']} | {ceiling['images_per_s']:.1f} | | | |")
    print(f"| (d') inference alone, Python peer (ORT {peer_ceiling['threads']} threads, batch 32) "
          f"| {peer_ceiling['images']} | {peer_ceiling['images_per_s']:.1f} | | | |")
    b, c, d = table["worker"][0], table["peer"][0], ceiling["images_per_s"]
    print(f"\n(b)/(c) = {b / c:.2f}x the Python peer; (b)/(d) = {100 * b / d:.0f} % of the inference ceiling "
          f"(medians)")
    if "det_peer" in table:
        print(f"(f)/(g) = {table['det_worker'][0] / table['det_peer'][0]:.2f}x the Python peer with both models")
    print(f"(a)/(a') = {table['embedded'][0] / table['peer_local'][0]:.2f}x the Python peer on a local folder; "
          f"(a)/(d) = {100 * table['embedded'][0] / d:.0f} % of the inference ceiling")


if __name__ == "__main__":
    main()
