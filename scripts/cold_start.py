#!/usr/bin/env python3
"""Cold start of the `sightline-infer` Lambda binary, measured locally (stdlib only).

A minimal fake of the AWS Lambda Runtime API (HTTP/1.1 on 127.0.0.1, keep-alive,
Content-Length or chunked bodies: the same protocol as tests/support/lambda.rs) serves one
SQS event whose S3 notification points at a real JPEG in moto's S3, then a second one
(warm, same process). Each run starts a fresh process with the environment the deployed
function has (infra/template.yaml InferFunction + what Lambda itself sets), the models
laid out as in the image (infra/Dockerfile.lambda: <task>/models/{*.onnx,*.toml,*.txt,
catalogs/}, <task>/lib/libonnxruntime.so.*), and measures:

  init      process start (spawn) -> first GET /runtime/invocation/next
            split at the "memory budget" INFO log line, the last thing Pipeline::open
            logs (after the catalogs are compiled and every ONNX Runtime session exists):
              pre_pipeline_ms = spawn -> that line (binary start, tracing, AWS config,
                                catalogs + model files, ONNX Runtime load, all sessions)
              post_pipeline_ms = that line -> GET /next (lambda_runtime start)
  first     first GET /next -> response POSTed for the first event (S3 GET from moto,
            decode, inference, Parquet PUT to moto; EMF stage times are reported too)
  total     spawn -> first response
  warm      second GET /next -> second response (same process)
  RSS       VmHWM (peak RSS) read from /proc/<pid>/status at the first GET /next (end of
            init) and before the kill; ru_maxrss from wait4 as a cross-check

With --baseline, each binary is also started with an empty catalogs/ folder (no models:
binary start + AWS config + ONNX Runtime library load, no sessions) and timed up to the
first GET /next only; and once more with SIGHTLINE_ORT_DYLIB pointing at a missing file,
where Pipeline::open fails at once and the process exits (spawn -> exit = binary start,
tokio, tracing, AWS config).

With --cold-cache, the binary, the ORT library and the model files are dropped from the
page cache before each start (posix_fadvise DONTNEED), so init reads them from disk.

Usage: scripts/cold_start.sh [--runs N] [--json OUT] [--baseline] [--cold-cache] [--cpus N]
                             [--memory MB] [--env K=V]... [LABEL=]BINARY...
(default OUT: .cache/cold-start/cold_start.json)
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_PREFIX = "/2018-06-01/runtime"
FUNCTION_NAME = "sightline-infer"


def template_memory_mb():
    """InferFunction's MemorySize in infra/template.yaml (AWS_LAMBDA_FUNCTION_MEMORY_SIZE:
    the pipeline sizes its memory budget from it)."""
    import re

    try:
        with open(os.path.join(ROOT, "infra", "template.yaml")) as f:
            text = f.read()
    except OSError:
        return None
    block = re.search(r"^  InferFunction:\n(.*?)(?=^  \S)", text, re.S | re.M)
    m = block and re.search(r"^\s+MemorySize:\s*(\d+)", block.group(1), re.M)
    return m.group(1) if m else None

REGION = "us-east-1"
RUN_TIMEOUT_S = 180.0


# --------------------------------------------------------------------------- Runtime API


class RuntimeApi:
    """Hands out `events` one at a time on GET …/invocation/next, records the answers, and
    parks the `next` that follows the last event until stop()."""

    def __init__(self, events):
        self.pending = list(events)
        self.total = len(events)
        self.invocations = []  # dicts: request_id, t_next, t_answer, response, error
        self.parked = 0
        self.t_parked = None
        self.init_error = None
        self.protocol_errors = []
        self.cond = threading.Condition()
        self.stopping = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as hyper expects

            def log_message(self, *args):
                pass

            def _body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    data = b""
                    while True:
                        size_line = self.rfile.readline()
                        if not size_line:
                            break
                        size = int(size_line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            # trailers until the blank line
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        data += self.rfile.read(size)
                        self.rfile.readline()  # CRLF after each chunk
                    return data
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status, body, headers=()):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self):
                now = time.monotonic()
                if self.path.split("?")[0] != API_PREFIX + "/invocation/next":
                    return self._error(404, f"unknown route GET {self.path}")
                with api.cond:
                    if api.pending:
                        event = api.pending.pop(0)
                        seq = len(api.invocations) + 1
                        rid = f"{os.getpid():08x}-0000-4000-8000-{seq:012x}"
                        api.invocations.append(
                            dict(request_id=rid, t_next=now, t_answer=None, response=None, error=None)
                        )
                        api.cond.notify_all()
                    else:
                        api.parked += 1
                        if api.t_parked is None:
                            api.t_parked = now
                        api.cond.notify_all()
                        while not api.stopping:
                            api.cond.wait(0.2)
                        self.close_connection = True
                        return
                deadline = int((time.time() + 120) * 1000)  # template Timeout: 120 s
                self._send(
                    200,
                    json.dumps(event).encode(),
                    [
                        ("Lambda-Runtime-Aws-Request-Id", rid),
                        ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                        (
                            "Lambda-Runtime-Invoked-Function-Arn",
                            f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION_NAME}",
                        ),
                        ("Lambda-Runtime-Trace-Id", f"Root=1-00000000-{seq:024x};Parent={seq:016x};Sampled=0"),
                    ],
                )

            def do_POST(self):
                body = self._body()
                now = time.monotonic()
                segs = self.path.split("?")[0]
                if not segs.startswith(API_PREFIX + "/"):
                    return self._error(404, f"unknown route POST {self.path}")
                segs = segs[len(API_PREFIX) + 1 :].strip("/").split("/")
                try:
                    value = json.loads(body) if body.strip() else None
                except ValueError:
                    value = body.decode("utf-8", "replace")
                with api.cond:
                    if segs == ["init", "error"]:
                        api.init_error = value or {
                            "errorType": self.headers.get("Lambda-Runtime-Function-Error-Type")
                        }
                    elif len(segs) == 3 and segs[0] == "invocation" and segs[2] in ("response", "error"):
                        inv = next((i for i in api.invocations if i["request_id"] == segs[1]), None)
                        if inv is None or inv["t_answer"] is not None:
                            api.protocol_errors.append(f"unexpected {segs[2]} for {segs[1]}")
                            api.cond.notify_all()
                            return self._error(400, f"unexpected {segs[2]} for {segs[1]}", lock=False)
                        inv["t_answer"] = now
                        inv[segs[2]] = value if value is not None else {
                            "errorType": self.headers.get("Lambda-Runtime-Function-Error-Type")
                        }
                    else:
                        api.protocol_errors.append(f"unknown route POST {self.path}")
                        api.cond.notify_all()
                        return self._error(404, f"unknown route POST {self.path}", lock=False)
                    api.cond.notify_all()
                self._send(202, b'{"status":"OK"}')

            def _error(self, status, msg, lock=True):
                if lock:
                    with api.cond:
                        api.protocol_errors.append(msg)
                        api.cond.notify_all()
                self._send(status, json.dumps({"errorType": "InvalidRequest", "errorMessage": msg}).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def done(self):
        answered = sum(1 for i in self.invocations if i["t_answer"] is not None)
        return len(self.invocations) == self.total and answered == self.total and self.parked > 0

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- moto S3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    # An explicit Content-Type: urllib's default (form-urlencoded) makes moto parse the body.
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


class Moto:
    def __init__(self):
        exe = os.environ.get("SIGHTLINE_MOTO_SERVER") or os.path.join(ROOT, ".cache/venv/bin/moto_server")
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=self.log, stderr=subprocess.STDOUT
        )
        for _ in range(300):
            try:
                http("GET", self.endpoint + "/moto-api/")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.log.seek(0)
        raise SystemExit(f"moto_server did not start: {self.log.read().decode(errors='replace')}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- setup


def task_root(tmp, empty_catalogs):
    """<tmp>/task laid out like the image's /var/task (symlinks into the checkout)."""
    task = os.path.join(tmp, "task-empty" if empty_catalogs else "task")
    models = os.path.join(task, "models")
    os.makedirs(os.path.join(models, "catalogs"))
    src = os.path.join(ROOT, "models")
    for name in sorted(os.listdir(src)):  # COPY models/*.onnx models/*.toml models/*.txt
        if name.endswith((".onnx", ".toml", ".txt")):
            os.symlink(os.path.join(src, name), os.path.join(models, name))
    if not empty_catalogs:  # COPY models/catalogs/
        for name in sorted(os.listdir(os.path.join(src, "catalogs"))):
            os.symlink(os.path.join(src, "catalogs", name), os.path.join(models, "catalogs", name))
    ort = os.environ.get("SIGHTLINE_ORT_DYLIB")
    if not ort or not os.path.isfile(ort):
        raise SystemExit("SIGHTLINE_ORT_DYLIB is not set or missing: run through scripts/cold_start.sh")
    os.makedirs(os.path.join(task, "lib"))
    lib = os.path.join(task, "lib", os.path.basename(ort))
    os.symlink(os.path.realpath(ort), lib)
    return task, models, lib


def sqs_event(bucket, key, size):
    """events/sqs-s3-put.json's first record, pointing at s3://bucket/key."""
    with open(os.path.join(ROOT, "events", "sqs-s3-put.json")) as f:
        sample = json.load(f)
    record = sample["Records"][0]
    body = json.loads(record["body"])
    s3 = body["Records"][0]["s3"]
    s3["bucket"]["name"] = bucket
    s3["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    s3["object"] = {"key": key, "size": size, "sequencer": "0062E99A88DC407460"}
    record["body"] = json.dumps(body)
    record["messageId"] = str(uuid.uuid4())
    return {"Records": [record]}


def lambda_env(api_address, task, models, lib, moto_endpoint, memory_mb):
    """What Lambda sets for a provided.al2023 image function (JSON logging), plus the
    template's Environment.Variables; credentials and the endpoint point at moto."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": task,
        "LAMBDA_RUNTIME_DIR": os.path.dirname(task),
        "_HANDLER": "sightline-infer",
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/sightline/local/{FUNCTION_NAME}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "AWS_ENDPOINT_URL": moto_endpoint,
        # infra/template.yaml InferFunction Environment.Variables
        "SIGHTLINE_MODELS_DIR": models,
        "SIGHTLINE_ORT_DYLIB": lib,
        "SIGHTLINE_RESULTS_BUCKET": "",
        "RUST_LOG": "info",
    }


# --------------------------------------------------------------------------- one run


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        out["cpu_ms"] = (int(fields[11]) + int(fields[12])) * 1000.0 / tick
    except (OSError, IndexError, ValueError):
        pass
    return out


def evict(paths):
    """Drops the files' pages from the page cache (posix_fadvise DONTNEED: only these
    files, only clean pages that no process has mapped), so the next start reads them
    from disk. Returns the bytes still cached afterwards, per fincore(1) if installed."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    if not shutil.which("fincore"):
        return None
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES"] + list(paths),
                         capture_output=True, text=True).stdout.split()
    return sum(int(x) for x in out if x.isdigit())


def cached_files(binary, task):
    files = [os.path.realpath(binary)]
    for d, _, names in os.walk(task):
        files += [os.path.realpath(os.path.join(d, n)) for n in names]
    return sorted(set(f for f in files if os.path.isfile(f)))


class Reader(threading.Thread):
    """Collects a pipe's lines with their arrival time."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.lines = pipe, []

    def run(self):
        for raw in iter(self.pipe.readline, b""):
            self.lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))


def emf_stages(lines, t_from, t_to):
    """FetchMs/DecodeMs/InferMs (per image) and WriteMs (per batch) from the EMF lines
    printed between two instants."""
    out = {}
    for t, line in lines:
        if not (t_from <= t <= t_to) or '"_aws"' not in line:
            continue
        try:
            m = json.loads(line)
        except ValueError:
            continue
        for k in ("FetchMs", "DecodeMs", "InferMs", "WriteMs"):
            v = m.get(k)
            if v is None:
                continue
            vals = v if isinstance(v, list) else [v]
            out[k] = out.get(k, 0.0) + sum(float(x) for x in vals)
    return out


def one_run(binary, events, env, mode="full", cpus=None):
    """mode: "full" (serve `events`), "init" (stop at the first GET /next), "exit" (the
    process is expected to exit during init: time spawn -> exit)."""
    init_only = mode != "full"
    api = RuntimeApi(events)
    env = dict(env, AWS_LAMBDA_RUNTIME_API=api.address)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [binary], env=env, cwd=env["LAMBDA_TASK_ROOT"], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # CPU affinity: Rust's available_parallelism (and so the default inference thread
        # count) follows it.
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    out, err = Reader(proc.stdout), Reader(proc.stderr)
    out.start(), err.start()
    failure = None
    init_status = None
    t_exit = rusage = None
    deadline = t0 + RUN_TIMEOUT_S
    if mode == "exit":  # nothing to serve: block until the process exits (exact time)
        waiter = threading.Thread(target=lambda: exited.append((os.wait4(proc.pid, 0), time.monotonic())))
        exited = []
        waiter.start()
        waiter.join(RUN_TIMEOUT_S)
        if exited:
            (_, status, rusage), t_exit = exited[0]
            proc.returncode = os.waitstatus_to_exitcode(status)
    with api.cond:
        while t_exit is None:
            if init_status is None and (api.invocations or api.parked):
                init_status = proc_status(proc.pid)  # end of init: first GET /next
            if api.init_error is not None:
                failure = f"init error: {api.init_error}"
                break
            if api.protocol_errors:
                failure = f"protocol error: {api.protocol_errors[0]}"
                break
            if init_only and (api.invocations or api.parked):
                break
            if api.done():
                break
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:  # exited (reaped here, with its resource usage)
                t_exit, rusage = time.monotonic(), ru
                proc.returncode = os.waitstatus_to_exitcode(status)
                if mode != "exit":
                    failure = f"exited with {proc.returncode}"
                break
            if time.monotonic() > deadline:
                failure = f"timed out after {RUN_TIMEOUT_S} s"
                break
            api.cond.wait(0.05)
    if t_exit is None:
        final_status = proc_status(proc.pid)  # before the kill: VmHWM is the peak RSS
        proc.send_signal(signal.SIGKILL)
        _, _, rusage = os.wait4(proc.pid, 0)
        proc.returncode = -9
    else:
        final_status = {}
    api.stop()
    out.join(2), err.join(2)

    lines = out.lines
    t_budget = next((t for t, l in lines if '"memory budget"' in l or "memory budget" in l), None)
    invs = api.invocations
    t_first_next = invs[0]["t_next"] if invs else api.t_parked
    ms = lambda a, b: None if a is None or b is None else (b - a) * 1000.0  # noqa: E731
    if mode == "exit" and t_exit is None:
        failure = failure or "did not exit"
    r = {
        "failure": failure,
        "exit_ms": ms(t0, t_exit),
        "exit_code": proc.returncode if t_exit is not None else None,
        "init_ms": ms(t0, t_first_next),
        "pre_pipeline_ms": ms(t0, t_budget),
        "post_pipeline_ms": ms(t_budget, t_first_next),
        "init_cpu_ms": (init_status or {}).get("cpu_ms"),
        "init_vmhwm_mib": (init_status or {}).get("VmHWM", 0) / 1024.0 or None,
        "init_threads": (init_status or {}).get("Threads"),
        "final_vmhwm_mib": final_status.get("VmHWM", 0) / 1024.0 or None,
        "final_vmrss_mib": final_status.get("VmRSS", 0) / 1024.0 or None,
        "ru_maxrss_mib": rusage.ru_maxrss / 1024.0 if rusage else None,
        "cpu_ms_total": (rusage.ru_utime + rusage.ru_stime) * 1000.0 if rusage else None,
    }
    if not init_only and len(invs) >= 1:
        a = invs[0]
        r["first_ms"] = ms(a["t_next"], a["t_answer"])
        r["total_ms"] = ms(t0, a["t_answer"])
        r["first_response"] = a["response"] if a["response"] is not None else {"error": a["error"]}
        r["first_stages_ms"] = emf_stages(lines, a["t_next"], a["t_answer"] or a["t_next"] + 1e9)
    if not init_only and len(invs) >= 2:
        b = invs[1]
        r["warm_ms"] = ms(b["t_next"], b["t_answer"])
        r["warm_response"] = b["response"] if b["response"] is not None else {"error": b["error"]}
        r["warm_stages_ms"] = emf_stages(lines, b["t_next"], b["t_answer"] or b["t_next"] + 1e9)
    for inv in invs:
        if inv["error"] is not None or (inv["response"] or {}).get("batchItemFailures"):
            failure = failure or f"invocation {inv['request_id']}: {inv['error'] or inv['response']}"
    r["failure"] = failure
    r["init_log"] = [l for t, l in lines if t_first_next is None or t <= t_first_next][:5]
    if mode == "exit":
        r["init_log"] = [l for _, l in lines[-3:]] + [l for _, l in err.lines[-3:]]
    if failure:
        r["stdout_tail"] = [l for _, l in lines[-20:]]
        r["stderr_tail"] = [l for _, l in err.lines[-20:]]
    return r


# --------------------------------------------------------------------------- main


METRICS = [
    ("init_ms", "init: spawn → first GET /next"),
    ("pre_pipeline_ms", "  of which spawn → pipeline ready (\"memory budget\" log)"),
    ("post_pipeline_ms", "  of which pipeline ready → GET /next"),
    ("init_cpu_ms", "init CPU time (user+sys, all threads)"),
    ("first_ms", "first event: GET /next → response"),
    ("total_ms", "total: spawn → first response"),
    ("warm_ms", "warm event (same process): GET /next → response"),
    ("init_vmhwm_mib", "peak RSS at end of init (VmHWM, MiB)"),
    ("final_vmhwm_mib", "peak RSS after 2 events (VmHWM, MiB)"),
    ("ru_maxrss_mib", "peak RSS, wait4 ru_maxrss (MiB)"),
]


def summarize(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def stage_summary(runs, which):
    keys = sorted({k for r in runs for k in (r.get(which) or {})})
    return {
        k: statistics.median([r[which][k] for r in runs if k in (r.get(which) or {})]) for k in keys
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", metavar="[LABEL=]BINARY")
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per binary (default 5)")
    ap.add_argument("--json", default=os.path.join(ROOT, ".cache", "cold-start", "cold_start.json"),
                    help="write the results here (default .cache/cold-start/cold_start.json)")
    ap.add_argument("--baseline", action="store_true",
                    help="also time init with an empty catalogs/ folder (no models, no sessions)")
    ap.add_argument("--cold-cache", action="store_true",
                    help="before each start, drop the binary, the ORT library and the models from "
                         "the page cache (posix_fadvise DONTNEED), so they are read from disk")
    ap.add_argument("--memory", type=int, default=None,
                    help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default: InferFunction's MemorySize in infra/template.yaml)")
    ap.add_argument("--cpus", type=int, default=None,
                    help="run the function on the first N CPUs only (sched_setaffinity; default: all)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra variable for the function (e.g. SIGHTLINE_INFER_THREADS=2)")
    ap.add_argument("--image", default="images/coffee.jpg", help="fixture under tests/fixtures (default images/coffee.jpg)")
    args = ap.parse_args()

    binaries = []
    for b in args.binaries:
        label, _, path = b.partition("=") if "=" in b else (os.path.basename(b), "", b)
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            raise SystemExit(f"binary not found: {path}")
        binaries.append((label, path))

    memory = args.memory or template_memory_mb() or 1769
    cpus = set(sorted(os.sched_getaffinity(0))[: args.cpus]) if args.cpus else None
    extra = dict(kv.split("=", 1) for kv in args.env)
    tmp = tempfile.mkdtemp(prefix="sightline-cold-")
    moto = Moto()
    try:
        jpeg_path = os.path.join(ROOT, "tests", "fixtures", args.image)
        with open(jpeg_path, "rb") as f:
            jpeg = f.read()
        bucket = "sl-cold-" + uuid.uuid4().hex[:8]
        http("PUT", f"{moto.endpoint}/{bucket}", b"")
        name = os.path.basename(args.image)
        cold_key, warm_key = f"incoming/retail/cold-{name}", f"incoming/retail/warm-{name}"
        for key in (cold_key, warm_key):
            http("PUT", f"{moto.endpoint}/{bucket}/{key}", jpeg)
        events = [sqs_event(bucket, cold_key, len(jpeg)), sqs_event(bucket, warm_key, len(jpeg))]
        full = task_root(tmp, empty_catalogs=False)
        empty = task_root(tmp, empty_catalogs=True) if args.baseline else None

        results = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {"nproc": os.cpu_count(), "uname": " ".join(os.uname())},
            "image": {"fixture": args.image, "bytes": len(jpeg), "keys": [cold_key, warm_key]},
            "runs_per_binary": args.runs,
            "cold_cache": args.cold_cache,
            "memory_mb": memory,
            "cpus": sorted(cpus) if cpus else sorted(os.sched_getaffinity(0)),
            "extra_env": extra,
            "loadavg_before": os.getloadavg(),
            "binaries": {},
        }
        entries = {
            label: {"path": path, "bytes": os.path.getsize(path), "runs": [], "baseline_runs": [], "no_ort_runs": []}
            for label, path in binaries
        }
        # Interleaved (run i of every binary, then run i+1): drift in the machine's load
        # spreads over all binaries instead of favouring one.
        for i in range(args.runs):
            for label, path in binaries:
                entry = entries[label]
                env = dict(lambda_env("", *full, moto.endpoint, memory), **extra)
                left = evict(cached_files(path, full[0])) if args.cold_cache else None
                r = one_run(path, events, env, cpus=cpus)
                r["page_cache_bytes_left"] = left
                entry["runs"].append(r)
                print(f"[{label}] run {i + 1}/{args.runs}: init {fmt(r['init_ms'])} ms, first "
                      f"{fmt(r.get('first_ms'))} ms, warm {fmt(r.get('warm_ms'))} ms, peak RSS "
                      f"{fmt(r.get('final_vmhwm_mib'))} MiB" + (f"  FAILED: {r['failure']}" if r["failure"] else ""),
                      file=sys.stderr, flush=True)
                if not empty:
                    continue
                env = dict(lambda_env("", *empty, moto.endpoint, memory), **extra)
                if args.cold_cache:
                    evict(cached_files(path, empty[0]))
                r = one_run(path, [], env, mode="init", cpus=cpus)
                entry["baseline_runs"].append(r)
                # Also without the ONNX Runtime library: Pipeline::open fails at once
                # (no catalogs, so no model is read), main returns the error, the
                # process exits: spawn -> exit = binary start, tokio, tracing, AWS config.
                env = dict(env, SIGHTLINE_ORT_DYLIB=os.path.join(empty[0], "lib", "missing.so"))
                if args.cold_cache:
                    evict(cached_files(path, empty[0]))
                x = one_run(path, [], env, mode="exit", cpus=cpus)
                entry["no_ort_runs"].append(x)
                print(f"[{label}] baseline (no catalogs) {i + 1}/{args.runs}: init {fmt(r['init_ms'])} ms;"
                      f" no catalogs + no ORT library: exit after {fmt(x['exit_ms'])} ms"
                      + (f"  FAILED: {r['failure'] or x['failure']}" if r["failure"] or x["failure"] else ""),
                      file=sys.stderr, flush=True)
        for label, entry in entries.items():
            ok = [r for r in entry["runs"] if not r["failure"]]
            entry["failures"] = len(entry["runs"]) - len(ok)
            entry["summary"] = {k: summarize(ok, k) for k, _ in METRICS}
            entry["first_stages_ms_median"] = stage_summary(ok, "first_stages_ms")
            entry["warm_stages_ms_median"] = stage_summary(ok, "warm_stages_ms")
            if empty:
                okb = [r for r in entry["baseline_runs"] if not r["failure"]]
                entry["baseline_summary"] = {
                    k: summarize(okb, k) for k in ("init_ms", "init_cpu_ms", "init_vmhwm_mib")
                }
                okx = [r for r in entry["no_ort_runs"] if not r["failure"]]
                entry["baseline_summary"]["no_ort_exit_ms"] = summarize(okx, "exit_ms")
            results["binaries"][label] = entry

        results["loadavg_after"] = os.getloadavg()
        out = args.json
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(results, f, indent=2)
        print_table(results)
        print(f"\nJSON: {out}")
        return 1 if any(e["failures"] for e in results["binaries"].values()) else 0
    finally:
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v):
    return "-" if v is None else f"{v:.0f}"


def print_table(results):
    labels = list(results["binaries"])
    n = results["runs_per_binary"]
    cache = "binary, ORT library and models evicted from the page cache before each start" \
        if results["cold_cache"] else "files in the page cache (warm file cache)"
    print(f"\n{n} runs per binary, fresh process each, {cache}; AWS_LAMBDA_FUNCTION_MEMORY_SIZE="
          f"{results['memory_mb']}, CPUs {results['cpus']}"
          + (f", {results['extra_env']}" if results["extra_env"] else "")
          + "; median (min–max), ms unless noted\n")
    print("| metric | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    rows = list(METRICS)
    for key, title in rows:
        cells = []
        for lb in labels:
            s = results["binaries"][lb]["summary"].get(key)
            cells.append("-" if s is None else f"{s['median']:.0f} ({s['min']:.0f}–{s['max']:.0f})")
        print(f"| {title} | " + " | ".join(cells) + " |")
    if all("baseline_summary" in results["binaries"][lb] for lb in labels):
        for key, title in (("no_ort_exit_ms", "no catalogs, no ORT library: spawn → exit (binary + tokio + tracing + AWS config)"),
                           ("init_ms", "no catalogs (ORT loaded, no sessions): spawn → GET /next"),
                           ("init_vmhwm_mib", "peak RSS at end of init, no catalogs (MiB)")):
            cells = []
            for lb in labels:
                s = results["binaries"][lb]["baseline_summary"].get(key)
                cells.append("-" if s is None else f"{s['median']:.0f} ({s['min']:.0f}–{s['max']:.0f})")
            print(f"| {title} | " + " | ".join(cells) + " |")
    for which, title in (("first_stages_ms_median", "first event"), ("warm_stages_ms_median", "warm event")):
        for lb in labels:
            st = results["binaries"][lb][which]
            if st:
                print(f"\nEMF stage times, {title}, {lb} (median): "
                      + ", ".join(f"{k} {v:.0f}" for k, v in st.items()))
    for lb in labels:
        e = results["binaries"][lb]
        if e["failures"]:
            print(f"\n{lb}: {e['failures']} failed run(s): " + "; ".join(
                str(r["failure"]) for r in e["runs"] if r["failure"]))


if __name__ == "__main__":
    sys.exit(main())
