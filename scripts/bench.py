#!/usr/bin/env python3
"""End-to-end benchmarks of Sightline against the Python peer, same run, same machine.

Default: the production-like benchmark (issue 11). Three image sets and their union, made from
../shared/data/coco-dev/images (see scripts/bench_data.py):
  phone  `--phone N` JPEGs of 4032×3024, quality 90, upscaled from the COCO images (cached)
  vga    the COCO originals (`--vga N`, mostly 640×480 JPEG)
  png    PNG copies of COCO originals (`--png N`)
  mixed  all of the above in one folder / prefix
and on each set, interleaved within every round (`--rounds`), the order rotated each round:
  (a)   embedded: `sightline run` over the local folder, the catalog as shipped (`--catalog`,
        default medical; its `decode` default is "scaled")
  (a-full) phone set only: the same with a copy of the catalog set to `decode = "full"`
        (SIGHTLINE_MODELS_DIR pointing at a temporary models folder); also the reference of the
        top-1 agreement
  (a-int8) every set, when the catalog's classifier has an INT8 variant (models/<model>_int8):
        a copy of the catalog with `precision = "int8"` in its [classifier]
  (b)   worker: `sightline backfill` + `sightline worker` against S3 + SQS in an emulator
        (`--emulator`: moto for both, or s3rver from npm for S3 and moto for SQS)
  (c)   the Python peer as a user writes it (../shared/bench/python_peer.py, no --draft) on the
        local folder; (c') the same with `--draft` (Pillow's JPEG DCT scaling)
  (c-s3) / (c'-s3): the peer on the same bucket and endpoint as (b) (skip with --no-peer-s3)
Per run: images/s (the tool's own busy time), CPU-ms per image of the process (user+sys from
wait4, start-up and model loading included) and of the emulator (its /proc CPU during the run),
peak RSS (wait4's ru_maxrss), cold start (spawn → first results Parquet file exists). Then the
acceptance ratios on the phone set, Sightline's top-1 agreement scaled vs full decoding, and the
projected AWS Lambda cost per million images. Prints Markdown.

`--classic`: the benchmark of 2026-11-26/27 (COCO copies, (a)–(d), `--with-detector`), its
options after `--classic`. Called by scripts/bench.sh, which builds and installs first.
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
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data  # noqa: E402


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


def classic(argv):
    """The benchmark of 2026-11-26/27 (docs/benchmarks.md, first sections): COCO copies, (a)-(d)."""
    ap = argparse.ArgumentParser(prog="bench.py --classic")
    ap.add_argument("--shared", default=os.environ.get("SIGHTLINE_SHARED_DIR", ROOT.parent / "shared"))
    ap.add_argument("--copies", type=int, default=4, help="copies of the 128 COCO images")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--with-detector", action="store_true",
                    help="also run the retail catalog (classifier + CenterNet) against the peer running both models")
    args = ap.parse_args(argv)
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


# ---------------------------------------------------------------------------------------------
# The production-like benchmark
# ---------------------------------------------------------------------------------------------

# AWS Lambda list prices, us-east-1, x86_64, first pricing tier, as published on
# aws.amazon.com/lambda/pricing (not fetched by this script: pass --price-* to update).
LAMBDA_GB_S = 0.0000166667  # USD per GB-second
LAMBDA_REQUEST = 0.20 / 1e6  # USD per request
LAMBDA_PRICE_DATE = "2025 list price (unchanged since the 1 ms billing of Dec 2020), not re-checked"
MB_PER_VCPU = 1769  # Lambda gives one vCPU's worth of CPU time at 1,769 MB

NAMES = {
    "embedded": "(a) embedded `sightline run`, catalog as shipped",
    "embedded_full": "(a-full) embedded, catalog copy with `decode = \"full\"`",
    "embedded_int8": "(a-int8) embedded, catalog copy with `precision = \"int8\"`",
    "worker": "(b) worker via S3 + SQS (emulator)",
    "peer": "(c) Python peer, local folder",
    "peer_draft": "(c') Python peer `--draft`, local folder",
    "peer_s3": "(c-s3) Python peer via S3 (emulator)",
    "peer_s3_draft": "(c'-s3) Python peer `--draft` via S3 (emulator)",
}


class Measured:
    """One process run: wall seconds, CPU seconds (user+sys, the process and its children),
    peak RSS in MB, cold start in seconds (None: no results file seen), the emulator's CPU
    seconds during the run, and its stdout."""

    def __init__(self, wall, cpu, rss_mb, cold, emulator_cpu, stdout):
        self.wall, self.cpu, self.rss_mb, self.cold = wall, cpu, rss_mb, cold
        self.emulator_cpu, self.stdout = emulator_cpu, stdout


def measure(cmd, env, first_result=None, emulator=None, poll_s=0.02):
    """Runs `cmd` to completion. `first_result()` is polled (every `poll_s` until it is true)
    to time the cold start: spawn → the first results file exists. CPU and peak RSS come from
    wait4's rusage of that one child, so concurrent processes are not charged to it."""
    cmd = [str(c) for c in cmd]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        emu0 = emulator.cpu() if emulator else 0.0
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        cold = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if cold is None and first_result is not None and first_result():
                cold = time.perf_counter() - t0
            time.sleep(poll_s)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if cold is None and first_result is not None and first_result():
            cold = wall  # appeared between the last poll and the exit
        emu = (emulator.cpu() - emu0) if emulator else 0.0
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{stdout}\n{stderr[-4000:]}")
    return Measured(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, cold, emu, stdout)


def _start(cmd, url, what):
    """Starts a server and waits until `url` answers (any HTTP status)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc
        except urllib.error.HTTPError:
            return proc
        except Exception:
            time.sleep(0.2)
    proc.terminate()
    sys.exit(f"{what} did not start")


class Emulator:
    """The S3 + SQS endpoint(s) of (b) and (c-s3): `moto` (both services), or `s3rver+moto`
    (S3 from s3rver, a Node server from the npm registry storing objects as files, installed
    into .cache/bench/s3rver; SQS from moto). cpu() adds up every server process."""

    def __init__(self, kind, tmp):
        self.name, self.procs = kind, []
        moto_port = free_port()
        self.sqs_endpoint = f"http://127.0.0.1:{moto_port}"
        self.procs.append(_start([os.environ["SIGHTLINE_MOTO_SERVER"], "-H", "127.0.0.1", "-p", str(moto_port)],
                                 self.sqs_endpoint + "/moto-api/", "moto"))
        self.env = {"AWS_ENDPOINT_URL": self.sqs_endpoint}
        self.s3_endpoint = self.sqs_endpoint
        if kind == "s3rver+moto":
            s3rver = install_s3rver()
            port = free_port()
            self.s3_endpoint = f"http://127.0.0.1:{port}"
            (tmp / "s3rver").mkdir()
            self.procs.append(_start(["node", s3rver, "-d", tmp / "s3rver", "-a", "127.0.0.1", "-p", str(port),
                                      "--silent", "--no-vhost-buckets"], self.s3_endpoint + "/", "s3rver"))
            # s3rver predates the SDKs' default request checksums (aws-chunked trailers)
            self.env.update(AWS_ENDPOINT_URL_S3=self.s3_endpoint, AWS_ENDPOINT_URL_SQS=self.sqs_endpoint,
                            AWS_REQUEST_CHECKSUM_CALCULATION="when_required",
                            AWS_RESPONSE_CHECKSUM_VALIDATION="when_required")
            os.environ.update(AWS_REQUEST_CHECKSUM_CALCULATION="when_required",
                              AWS_RESPONSE_CHECKSUM_VALIDATION="when_required")  # for boto3 here
        import boto3
        kw = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        self.s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, **kw)
        self.sqs = boto3.client("sqs", endpoint_url=self.sqs_endpoint, **kw)

    def cpu(self):
        return sum(proc_cpu(p.pid) for p in self.procs)

    def close(self):
        for p in self.procs:
            p.terminate()
            p.wait()


def install_s3rver():
    """s3rver from the npm registry into .cache/bench/s3rver (once); a launcher that also
    accepts the access key `test` (s3rver knows only `S3RVER`; the peer signs with `test`)."""
    d = ROOT / ".cache/bench/s3rver"
    if not (d / "node_modules/s3rver/bin/s3rver.js").exists():
        d.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", d, "s3rver@3.7.1"],
                       check=True)
    launcher = d / "serve.js"
    launcher.write_text("require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair('test', 'test');\n"
                        "require('s3rver/bin/s3rver.js');\n")
    return launcher


class Bench:
    """What every run kind needs: binaries, the catalog's classifier, the endpoint, a temp dir."""

    def __init__(self, args, tmp, emulator):
        self.args, self.tmp, self.emu = args, tmp, emulator
        self.bin = Path(os.environ["CARGO_TARGET_DIR"]) / "release/sightline"
        self.py = Path(os.environ["SIGHTLINE_PYTHON"])
        self.peer = Path(args.shared) / "bench/python_peer.py"
        self.catalog = args.catalog
        self.onnx, self.labels, self.norm = catalog_classifier(self.catalog)
        self.env = dict(os.environ, **emulator.env, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                        AWS_REGION="us-east-1", RUST_LOG="warn")
        self.full_models = variant_models_dir(self.catalog, tmp / "models-full", with_full_decode)
        self.int8_models = None
        if has_int8_classifier(self.catalog):
            self.int8_models = variant_models_dir(self.catalog, tmp / "models-int8", with_int8_classifier)
        self.bucket = "bench"
        emulator.s3.create_bucket(Bucket=self.bucket)
        self.runs = 0

    def run_id(self, kind, set_name, r):
        self.runs += 1
        return f"{kind}-{set_name}-r{r}-{self.runs}"

    def prefix(self, set_name):
        return f"incoming/{self.catalog}/{set_name}/"

    def upload(self, set_name, folder):
        for f in bench_data.image_files(folder):
            self.emu.s3.put_object(Bucket=self.bucket, Key=self.prefix(set_name) + f.name, Body=f.read_bytes())

    # -- run kinds: each returns (images, busy seconds, Measured) ------------------------------

    def embedded(self, set_name, folder, r, models=None):
        """`sightline run` with the shipped models folder, or `models` (a variant's folder)."""
        out = self.tmp / "out" / self.run_id("embedded", set_name, r)
        env = dict(self.env, SIGHTLINE_MODELS_DIR=str(models)) if models else self.env
        m = measure([self.bin, "run", "--source", folder, "--catalog", self.catalog, "--output", out, "--json"],
                    env, first_result=lambda: next(out.rglob("*.parquet"), None) is not None)
        j = last_json(m.stdout)
        m.output = out
        return j["rows"], j["seconds"], m

    def worker(self, set_name, folder, r):
        rid = self.run_id("worker", set_name, r)
        q = self.emu.sqs.create_queue(QueueName=rid)["QueueUrl"]
        run([self.bin, "backfill", "--bucket", self.bucket, "--prefix", self.prefix(set_name), "--queue-url", q],
            self.env)
        results = f"results-{rid}/"
        s3 = self.emu.s3
        m = measure([self.bin, "worker", "--queue-url", q, "--exit-when-idle", "2"],
                    dict(self.env, SIGHTLINE_RESULTS_PREFIX=results), emulator=self.emu, poll_s=0.05,
                    first_result=lambda: s3.list_objects_v2(Bucket=self.bucket, Prefix=results,
                                                            MaxKeys=1).get("KeyCount", 0) > 0)
        j = last_json(m.stdout)
        return j["images"], j["seconds"], m

    def peer_cmd(self, draft):
        return [self.py, self.peer, "--model", self.onnx, "--labels", self.labels, "--norm", self.norm] + \
            (["--draft"] if draft else [])

    def peer_local(self, set_name, folder, r, draft=False):
        # The peer keeps every row until it ends and writes no file for --local-dir: its first
        # row is available when it exits, so its cold start is its whole run (marked in the table).
        m = measure(self.peer_cmd(draft) + ["--local-dir", folder], self.env)
        j = last_json(m.stdout)
        return j["images"], j["seconds"], m

    def peer_s3(self, set_name, folder, r, draft=False):
        key = f"peer/{self.run_id('peer_s3', set_name, r)}.parquet"
        s3 = self.emu.s3
        m = measure(self.peer_cmd(draft) + ["--endpoint", self.emu.s3_endpoint, "--bucket", self.bucket,
                                            "--prefix", self.prefix(set_name), "--out-key", key],
                    self.env, emulator=self.emu, poll_s=0.05,
                    first_result=lambda: s3.list_objects_v2(Bucket=self.bucket, Prefix=key).get("KeyCount", 0) > 0)
        j = last_json(m.stdout)
        return j["images"], j["seconds"], m

    def kinds(self, set_name):
        """The run kinds of a set, in their order for round 0."""
        k = [("embedded", lambda s, f, r: self.embedded(s, f, r))]
        if set_name == "phone":
            k.append(("embedded_full", lambda s, f, r: self.embedded(s, f, r, self.full_models)))
        if self.int8_models:
            k.append(("embedded_int8", lambda s, f, r: self.embedded(s, f, r, self.int8_models)))
        k += [("worker", self.worker),
              ("peer", lambda s, f, r: self.peer_local(s, f, r)),
              ("peer_draft", lambda s, f, r: self.peer_local(s, f, r, draft=True))]
        if self.args.peer_s3:
            k += [("peer_s3", lambda s, f, r: self.peer_s3(s, f, r)),
                  ("peer_s3_draft", lambda s, f, r: self.peer_s3(s, f, r, draft=True))]
        return k


def catalog_classifier(catalog):
    """The catalog's classifier as the peer needs it: ONNX file, label file, normalisation."""
    cfg = tomllib.loads((ROOT / f"models/catalogs/{catalog}.toml").read_text())
    if "classifier" not in cfg:
        sys.exit(f"catalog {catalog} has no [classifier]: the peer runs a classifier only")
    if cfg.get("detector") or cfg.get("faces"):
        print(f"warning: catalog {catalog} also runs a detector or faces; the peer runs its classifier only",
              file=sys.stderr)
    model = tomllib.loads((ROOT / f"models/{cfg['classifier']['model']}.toml").read_text())
    norm = "tf" if abs(model["preprocess"]["mean"][0] - 0.498039) < 1e-4 else "imagenet"
    return ROOT / "models" / model["file"], ROOT / "models" / model["labels"], norm


def variant_models_dir(catalog, dest, edit):
    """A models folder (links to models/*) whose copy of the catalog is `edit(text)`."""
    src = ROOT / "models"
    (dest / "catalogs").mkdir(parents=True)
    for f in src.iterdir():
        if f.name != "catalogs":
            (dest / f.name).symlink_to(f.resolve())
    for f in (src / "catalogs").iterdir():
        text = f.read_text()
        (dest / "catalogs" / f.name).write_text(edit(text) if f.stem == catalog else text)
    return dest


def with_full_decode(text):
    """The catalog's TOML with `decode = "full"` (any `decode` line replaced)."""
    lines, out, top = text.splitlines(keepends=True), [], True
    for line in lines:
        if top and line.lstrip().startswith("["):
            out.append('decode = "full"\n')
            top = False
        if top and re.match(r"\s*decode\s*=", line):
            continue
        out.append(line)
    assert not top, "no table in the catalog"
    return "".join(out)


def with_int8_classifier(text):
    """The catalog's TOML with `precision = "int8"` in its [classifier]."""
    out, section = [], None
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("["):
            section = line.strip()
        if section == "[classifier]" and re.match(r"\s*precision\s*=", line):
            continue
        out.append(line)
        if section == "[classifier]" and re.match(r"\s*model\s*=", line):
            out.append('precision = "int8"\n')
    assert any(l.startswith('precision = "int8"') for l in out), "no [classifier] model"
    return "".join(out)


def has_int8_classifier(catalog):
    cfg = tomllib.loads((ROOT / f"models/catalogs/{catalog}.toml").read_text())
    return (ROOT / f"models/{cfg.get('classifier', {}).get('model')}_int8.toml").is_file()


def top1(output):
    """key → top-1 label of an embedded run's results (rows without an error)."""
    import duckdb
    rows = duckdb.sql(f"SELECT key, labels FROM read_parquet('{output}/**/*.parquet', union_by_name = true, hive_partitioning = false) "
                      f"WHERE error_kind IS NULL").fetchall()
    return {k: max(ls, key=lambda l: l["score"])["label"] for k, ls in rows if ls}


def lambda_cost(images, busy_s, cpu_s, a):
    """(seconds billed per image, USD per million images) on a Lambda of `a.lambda_memory_mb`.
    Seconds per image: the larger of the measured busy time per image and the process CPU time
    per image over the Lambda's vCPUs (a CPU-bound process is not faster on fewer cores)."""
    vcpus = min(a.lambda_memory_mb / MB_PER_VCPU, 6.0)
    per_image = max(busy_s / images, cpu_s / images / vcpus)
    usd = per_image * a.lambda_memory_mb / 1024 * a.price_gb_s + a.price_request / a.images_per_invocation
    return per_image, usd * 1e6


def build_sets(a, tmp):
    """name → flat folder of links, for the sets asked for."""
    images = Path(a.shared) / "data/coco-dev/images"
    coco = bench_data.image_files(images)
    cache = ROOT / ".cache/bench"
    parts = {}
    if a.phone:
        print(f"phone set: {a.phone} JPEGs of {bench_data.PHONE[0]}x{bench_data.PHONE[1]} (cached under {cache})",
              file=sys.stderr)
        parts["phone"] = bench_data.image_files(bench_data.phone_jpegs(coco, a.phone, cache, a.phone_grain))
    if a.vga:
        parts["vga"] = coco[:a.vga]
    if a.png:
        parts["png"] = bench_data.image_files(bench_data.png_copies(coco, a.png, cache))
    sets = {name: bench_data.link_set(tmp / "sets" / name, files) for name, files in parts.items()}
    if len(parts) > 1 and not a.no_mixed:
        sets["mixed"] = bench_data.link_set(tmp / "sets/mixed", [f for files in parts.values() for f in files])
    return sets


def describe(folder):
    files = bench_data.image_files(folder)
    mb = sum(f.stat().st_size for f in files) / len(files) / 1e6
    return f"{len(files)} files, {mb:.2f} MB on average"


def production(a):
    if not (Path(a.shared) / "data/coco-dev/images").is_dir() or not (Path(a.shared) / "bench/python_peer.py").is_file():
        sys.exit(f"skipped: {a.shared}/data/coco-dev/images or bench/python_peer.py not found (set SIGHTLINE_SHARED_DIR)")
    tmp = Path(tempfile.mkdtemp(prefix="sightline-bench-"))
    emu = Emulator(a.emulator, tmp)
    results = {}  # (set, kind) -> [(images, busy_s, Measured)]
    try:
        sets = build_sets(a, tmp)
        b = Bench(a, tmp, emu)
        for name, folder in sets.items():
            b.upload(name, folder)
        for r in range(a.rounds):
            for name, folder in sets.items():
                kinds = b.kinds(name)
                shift = r % len(kinds)
                for kind, fn in kinds[shift:] + kinds[:shift]:  # rotated: no kind always runs first
                    print(f"round {r + 1}/{a.rounds}: {name} {kind}", file=sys.stderr)
                    results.setdefault((name, kind), []).append(fn(name, folder, r))
        agreement = {}
        if "phone" in sets:
            scaled = top1(results[("phone", "embedded")][0][2].output)
            full = top1(results[("phone", "embedded_full")][0][2].output)
            agreement["scaled"] = (sum(scaled.get(k) == v for k, v in full.items()), len(full))
            if ("phone", "embedded_int8") in results:
                int8 = top1(results[("phone", "embedded_int8")][0][2].output)
                agreement["int8"] = (sum(int8.get(k) == v for k, v in scaled.items()), len(scaled))
        report(a, sets, results, agreement, emu)
    finally:
        emu.close()
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(a, sets, results, agreement, emu):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    flags = open("/proc/cpuinfo").read()
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f" {f}" in flags)
    print(f"Machine: {os.cpu_count()} CPUs ({cpu}; {isa}), {mem} GiB RAM; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"catalog `{a.catalog}`; emulator {emu.name}; {a.rounds} rounds, interleaved, order rotated\n")
    for name, folder in sets.items():
        print(f"* {name}: {describe(folder)}")
    print()

    def med(xs):
        return statistics.median(xs)

    print("| set | run | images | images/s (median) | images/s (best) | CPU ms/image, process "
          "| CPU ms/image, emulator | peak RSS MB | cold start s |")
    print("|---|---|---|---|---|---|---|---|---|")
    rate = {}
    for (name, kind), runs in results.items():
        n = runs[0][0]
        rates = [i / max(s, 1e-9) for i, s, _ in runs]
        rate[(name, kind)] = med(rates)
        colds = [m.cold for _, _, m in runs if m.cold is not None]
        cold = f"{med(colds):.2f}" if colds else f"{med([m.wall for _, _, m in runs]):.2f}†"
        print(f"| {name} | {NAMES[kind]} | {n} | {med(rates):.1f} | {max(rates):.1f} "
              f"| {med([1e3 * m.cpu / i for i, _, m in runs]):.1f} "
              f"| {med([1e3 * m.emulator_cpu / i for i, _, m in runs]):.1f} "
              f"| {max(m.rss_mb for _, _, m in runs):.0f} | {cold} |")
    print("\n† the peer writes its results once, at the end: its first row exists when it exits "
          "(whole run shown).")

    if ("phone", "embedded") in rate:
        a_, c, c2 = rate[("phone", "embedded")], rate[("phone", "peer")], rate[("phone", "peer_draft")]
        same, total = agreement["scaled"]
        ok = lambda x: "met" if x else "**not met**"
        print(f"\nAcceptance, phone set (medians): (a)/(c') = {a_ / c2:.2f}x (target ≥ 2: {ok(a_ / c2 >= 2)}); "
              f"(a)/(c) = {a_ / c:.2f}x (target ≥ 4: {ok(a_ / c >= 4)}); "
              f"(a)/(a-full) = {a_ / rate[('phone', 'embedded_full')]:.2f}x; "
              f"top-1 agreement, `decode = \"scaled\"` vs `\"full\"` (same model, fp32): {same}/{total} = "
              f"{100 * same / max(total, 1):.1f} % (target ≥ 99 %: {ok(same >= 0.99 * total)})")
        if "int8" in agreement:
            s8, t8 = agreement["int8"]
            print(f"\nINT8, phone set: (a-int8)/(c') = {rate[('phone', 'embedded_int8')] / c2:.2f}x, "
                  f"(a-int8)/(c) = {rate[('phone', 'embedded_int8')] / c:.2f}x; top-1 agreement of (a-int8) "
                  f"with (a) (int8 vs fp32, both scaled): {s8}/{t8} = {100 * s8 / max(t8, 1):.1f} %")

    print(f"\nProjected AWS Lambda cost per million images: {a.lambda_memory_mb} MB "
          f"({min(a.lambda_memory_mb / MB_PER_VCPU, 6):.2f} vCPU), ${a.price_gb_s:.10f} per GB-s, "
          f"${a.price_request * 1e6:.2f} per million requests, {a.images_per_invocation} images per invocation "
          f"(prices: {a.price_date}); emulator CPU not charged to either side\n")
    print("| set | run | billed s/image | GB-s/image | USD per million images |")
    print("|---|---|---|---|---|")
    for (name, kind), runs in results.items():
        images = sum(i for i, _, _ in runs)
        per_image, usd = lambda_cost(images, sum(s for _, s, _ in runs), sum(m.cpu for _, _, m in runs), a)
        print(f"| {name} | {NAMES[kind]} | {per_image:.4f} | {per_image * a.lambda_memory_mb / 1024:.4f} "
              f"| {usd:.2f} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--classic":
        return classic(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("SIGHTLINE_SHARED_DIR", ROOT.parent / "shared"))
    ap.add_argument("--phone", type=int, default=64, help="phone-sized JPEGs (0: no phone set)")
    ap.add_argument("--phone-grain", type=float, default=0.0,
                    help="Gaussian noise (pixel levels) added to the phone JPEGs, for camera-like file sizes")
    ap.add_argument("--vga", type=int, default=128, help="COCO originals (0: none)")
    ap.add_argument("--png", type=int, default=32, help="PNG copies of COCO originals (0: none)")
    ap.add_argument("--no-mixed", action="store_true", help="no `mixed` set (the union of the others)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--catalog", default="medical", help="a classifier catalog (the peer runs its classifier)")
    ap.add_argument("--emulator", choices=["moto", "s3rver+moto"], default="moto",
                    help="S3/SQS endpoint of (b) and (c-s3): moto, or S3 from s3rver (npm) and SQS from moto")
    ap.add_argument("--no-peer-s3", dest="peer_s3", action="store_false", help="skip (c-s3)/(c'-s3)")
    ap.add_argument("--lambda-memory-mb", type=int, default=1769, help="Lambda memory size (1769 MB = 1 vCPU)")
    ap.add_argument("--price-gb-s", type=float, default=LAMBDA_GB_S, help="USD per GB-second (x86, us-east-1)")
    ap.add_argument("--price-request", type=float, default=LAMBDA_REQUEST, help="USD per request")
    ap.add_argument("--price-date", default=LAMBDA_PRICE_DATE, help="where/when the prices are from, for the report")
    ap.add_argument("--images-per-invocation", type=int, default=10,
                    help="images per Lambda invocation (SQS batch size; 10 is the SQS trigger's default)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (outputs, sets)")
    production(ap.parse_args())


if __name__ == "__main__":
    main()
