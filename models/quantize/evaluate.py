"""Measure fp32 vs INT8 candidates with Python onnxruntime (CPU):
  classifiers: top-1/top-5 on imagenet-dev (labels.csv class_index), top-1 agreement with fp32,
               cosine of `embedding` to fp32 (mean/min) -- on imagenet-dev (evaluation) and on
               the selection set (grocery + coco-dev images not used for calibration);
  detector:    COCO-style mAP@[.5:.95] / mAP@.5 on coco-dev (all 100 rows, no threshold, as in
               the reference protocol), and fidelity to fp32 on the selection set (mAP of the
               int8 rows against fp32's rows with score >= 0.3 taken as ground truth);
  speed:       batch 8 (classifiers) / batch 1 (detector), intra_op 2 threads, inter_op 1,
               sequential, ORT_ENABLE_ALL; warm-up, then fp32 and int8 timed in alternating
               rounds (the machine is shared), median per-batch latency over the rounds.

    .cache/quant-venv/bin/python models/quantize/evaluate.py --model NAME --variant V ... \
        [--file NAME=path.onnx] [--out models/quantize/results.json]
Variants are read from .cache/quant/<name>.<variant>.onnx (quantize.py), `--file` evaluates
any int8 file (e.g. the shipped models/<name>_int8.onnx). Results are merged into --out.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prep  # noqa: E402
from quantize import MODELS, VARIANTS  # noqa: E402


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- COCO-style mAP
def box_iou(d, g):
    """d [D,4], g [G,4] xyxy -> [D,G] (as pycocotools' bbox IoU: no +1)."""
    x1 = np.maximum(d[:, None, 0], g[None, :, 0]); y1 = np.maximum(d[:, None, 1], g[None, :, 1])
    x2 = np.minimum(d[:, None, 2], g[None, :, 2]); y2 = np.minimum(d[:, None, 3], g[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    ad = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1]); ag = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    return inter / np.maximum(ad[:, None] + ag[None, :] - inter, 1e-12)


def coco_map(gts, dets, max_dets=100):
    """gts: {img: [(cls, x1, y1, x2, y2)]}, dets: {img: [(cls, score, x1, y1, x2, y2)]}.
    pycocotools' bbox protocol for area 'all', no crowd: greedy matching per image and class in
    score order, 10 IoU thresholds, 101-point interpolated precision, classes without ground
    truth skipped. Returns (mAP@[.5:.95], mAP@.5)."""
    thr = np.linspace(.5, .95, 10)
    rec_thr = np.linspace(0, 1, 101)
    imgs = sorted(set(gts) | set(dets))
    classes = sorted({int(g[0]) for v in gts.values() for g in v})
    ap = np.full((len(thr), len(classes)), -1.0)
    for k, c in enumerate(classes):
        scores, tps, npig = [], [], 0
        for im in imgs:
            g = np.array([x[1:] for x in gts.get(im, []) if int(x[0]) == c], np.float64).reshape(-1, 4)
            d = [x for x in dets.get(im, []) if int(x[0]) == c]
            npig += len(g)
            if not d:
                continue
            d = np.array(d, np.float64)
            d = d[np.argsort(-d[:, 1], kind="mergesort")][:max_dets]
            ious = box_iou(d[:, 2:], g) if len(g) else np.zeros((len(d), 0))
            tp = np.zeros((len(thr), len(d)), bool)
            for ti, t in enumerate(thr):
                used = np.zeros(len(g), bool)
                for di in range(len(d)):
                    best, m = min(t, 1 - 1e-10), -1
                    for gi in range(len(g)):
                        if used[gi] or ious[di, gi] < best:
                            continue
                        best, m = ious[di, gi], gi
                    if m >= 0:
                        used[m] = True
                        tp[ti, di] = True
            scores.append(d[:, 1]); tps.append(tp)
        if npig == 0:
            continue
        if not scores:
            ap[:, k] = 0.0
            continue
        s = np.concatenate(scores)
        tp = np.concatenate(tps, axis=1)
        order = np.argsort(-s, kind="mergesort")
        tp = tp[:, order]
        tpc = np.cumsum(tp, axis=1).astype(np.float64)
        fpc = np.cumsum(~tp, axis=1).astype(np.float64)
        for ti in range(len(thr)):
            rc = tpc[ti] / npig
            pr = tpc[ti] / np.maximum(tpc[ti] + fpc[ti], np.spacing(1))
            pr = np.maximum.accumulate(pr[::-1])[::-1]
            idx = np.searchsorted(rc, rec_thr, side="left")
            q = np.zeros(len(rec_thr))
            ok = idx < len(pr)
            q[ok] = pr[idx[ok]]
            ap[ti, k] = q.mean()
    valid = ap[:, ap[0] > -1]
    return float(valid.mean()), float(valid[0].mean())


def yolo_gt(paths, whs):
    gts = {}
    for i, (p, (w, h)) in enumerate(zip(paths, whs)):
        lp = os.path.join(os.path.dirname(os.path.dirname(p)), "labels", os.path.basename(p)[:-4] + ".txt")
        rows = []
        if os.path.exists(lp):
            for line in open(lp):
                q = line.split()
                if len(q) < 5:
                    continue
                c, cx, cy, bw, bh = int(q[0]), *map(float, q[1:5])
                rows.append((c, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
        gts[i] = rows
    return gts


def to_image(det, lb, wh):
    """det [100,6] in letterbox-input pixels -> rows (cls, score, x1, y1, x2, y2) in image pixels."""
    scale, dx, dy = lb
    w, h = wh
    b = (det[:, :4].astype(np.float64) - np.array([dx, dy, dx, dy])) / scale
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return [(int(r[5]), float(r[4]), *bb) for r, bb in zip(det, b)]


# ---------------------------------------------------------------- runs
def run_classifier(path, x_u8, name, batch=8):
    s = session(path)
    L, E = [], []
    for i in range(0, len(x_u8), batch):
        lo, em = s.run(["logits", "embedding"], {"input": prep.normalise(name, x_u8[i:i + batch])})
        L.append(lo); E.append(em)
    return np.concatenate(L), np.concatenate(E)


def run_detector(path, x_u8, name):
    s = session(path)
    inp = s.get_inputs()[0].name
    return np.stack([s.run(["detections"], {inp: prep.normalise(name, x_u8[i:i + 1])})[0][0]
                     for i in range(len(x_u8))])


def cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def bench(paths, x, input_name, outputs, rounds=9, iters=4):
    """Alternating rounds: each round times `iters` runs of every model; returns median ms per run."""
    ss = [session(p) for p in paths]
    for s in ss:
        for _ in range(3):
            s.run(outputs, {input_name: x})
    t = [[] for _ in ss]
    for r in range(rounds):
        for k, s in enumerate(ss if r % 2 == 0 else ss[::-1]):
            kk = k if r % 2 == 0 else len(ss) - 1 - k
            t0 = time.perf_counter()
            for _ in range(iters):
                s.run(outputs, {input_name: x})
            t[kk].append(1000 * (time.perf_counter() - t0) / iters)
    return [float(np.median(v)) for v in t], [[round(a, 2) for a in v] for v in t]


def evaluate(name, files, cache, do_bench=True, do_acc=True):
    kind, fp32_file = MODELS[name]
    fp32 = os.path.join(prep.MODELS, fp32_file)
    sets = prep.image_sets(kind)
    res = {}
    if kind == "classifier":
        ev = prep.imagenet_dev()
        xe = prep.pixels(name, [p for p, _ in ev])
        y = np.array([c for _, c in ev])
        xs = prep.pixels(name, sets["select"])
        if "fp32" not in cache:
            cache["fp32"] = (run_classifier(fp32, xe, name), run_classifier(fp32, xs, name))
        (Lf, Ef), (Lsf, Esf) = cache["fp32"]
        xb = prep.normalise(name, xe[:8])
        for label, path in [("fp32", fp32)] + files:
            if label == "fp32":
                L, E, Ls, Es = Lf, Ef, Lsf, Esf
            else:
                L, E = run_classifier(path, xe, name)
                Ls, Es = run_classifier(path, xs, name)
            top5 = np.argsort(-L, axis=1)[:, :5]
            c, cs = cosine(E, Ef), cosine(Es, Esf)
            r = dict(file=os.path.relpath(path, prep.REPO), size_bytes=os.path.getsize(path),
                     eval_images=len(y), top1=float((top5[:, 0] == y).mean()),
                     top5=float((top5 == y[:, None]).any(1).mean()),
                     top1_agreement_fp32=float((L.argmax(1) == Lf.argmax(1)).mean()),
                     embedding_cosine_mean=float(c.mean()), embedding_cosine_min=float(c.min()),
                     select_images=len(xs),
                     select_top1_agreement_fp32=float((Ls.argmax(1) == Lsf.argmax(1)).mean()),
                     select_embedding_cosine_mean=float(cs.mean()),
                     select_embedding_cosine_min=float(cs.min()))
            if label != "fp32" and do_bench:
                (mf, mi), raw = bench([fp32, path], xb, "input", ["logits", "embedding"])
                r.update(bench_batch=8, fp32_ms_per_batch=mf, int8_ms_per_batch=mi, speedup=mf / mi,
                         fp32_img_per_s=8000 / mf, int8_img_per_s=8000 / mi, bench_raw_ms=raw)
            res[label] = r
            print(name, label, {k: (round(v, 4) if isinstance(v, float) else v)
                                for k, v in r.items() if k != "bench_raw_ms"}, flush=True)
    else:
        ev = prep.coco_dev()
        xe, lbe, whe = prep.pixels(name, ev)
        gts = yolo_gt(ev, whe)
        xs, _, _ = prep.pixels(name, sets["select"])
        if "fp32" not in cache:
            cache["fp32"] = (run_detector(fp32, xe, name), run_detector(fp32, xs, name))
        Df, Dsf = cache["fp32"]
        pseudo = {i: [(int(r[5]), *r[:4]) for r in d if r[4] >= 0.3] for i, d in enumerate(Dsf)}
        pseudo_e = {i: [(int(r[5]), *r[:4]) for r in d if r[4] >= 0.3] for i, d in enumerate(Df)}
        xb = prep.normalise(name, xe[:1])
        for label, path in [("fp32", fp32)] + files:
            if label == "fp32":
                D, Ds = Df, Dsf
            else:
                D, Ds = run_detector(path, xe, name), run_detector(path, xs, name)
            dets = {i: to_image(d, lb, wh) for i, (d, lb, wh) in enumerate(zip(D, lbe, whe))}
            m, m50 = coco_map(gts, dets)
            fm, fm50 = coco_map(pseudo, {i: [(int(r[5]), float(r[4]), *r[:4]) for r in d] for i, d in enumerate(Ds)})
            em, em50 = coco_map(pseudo_e, {i: [(int(r[5]), float(r[4]), *r[:4]) for r in d] for i, d in enumerate(D)})
            r = dict(file=os.path.relpath(path, prep.REPO), size_bytes=os.path.getsize(path),
                     eval_images=len(ev), map_50_95=m, map_50=m50,
                     fidelity_eval_map_50_95=em, fidelity_eval_map_50=em50,
                     max_abs_score_diff_eval=float(np.abs(D[:, :, 4] - Df[:, :, 4]).max()),
                     select_images=len(xs), select_fidelity_map_50_95=fm, select_fidelity_map_50=fm50)
            if label != "fp32" and do_bench:
                (mf, mi), raw = bench([fp32, path], xb, "images", ["detections"], rounds=9, iters=3)
                r.update(bench_batch=1, fp32_ms_per_batch=mf, int8_ms_per_batch=mi, speedup=mf / mi,
                         fp32_img_per_s=1000 / mf, int8_img_per_s=1000 / mi, bench_raw_ms=raw)
            res[label] = r
            print(name, label, {k: (round(v, 4) if isinstance(v, float) else v)
                                for k, v in r.items() if k != "bench_raw_ms"}, flush=True)
    return res


def bench_only(name, files):
    kind, fp32_file = MODELS[name]
    fp32 = os.path.join(prep.MODELS, fp32_file)
    res = {}
    if kind == "classifier":
        xb = prep.normalise(name, prep.pixels(name, [p for p, _ in prep.imagenet_dev()])[:8])
        args, batch = ("input", ["logits", "embedding"]), 8
        kw = {}
    else:
        xb = prep.normalise(name, prep.pixels(name, prep.coco_dev())[0][:1])
        args, batch = ("images", ["detections"]), 1
        kw = dict(rounds=9, iters=3)
    for label, path in files:
        (mf, mi), raw = bench([fp32, path], xb, *args, **kw)
        res[label] = dict(bench_batch=batch, fp32_ms_per_batch=mf, int8_ms_per_batch=mi, speedup=mf / mi,
                          fp32_img_per_s=1000 * batch / mf, int8_img_per_s=1000 * batch / mi,
                          bench_raw_ms=raw, bench_loadavg_start=os.getloadavg())
        print(name, label, "fp32 %.1f ms, int8 %.1f ms per batch of %d: x%.2f" % (mf, mi, batch, mf / mi),
              "load", os.getloadavg(), flush=True)
    return res


def machine():
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except Exception:
        pass
    flags = open("/proc/cpuinfo").read()
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                cpu=cpu, cores=os.cpu_count(), avx2=" avx2" in flags, avx512f=" avx512f" in flags,
                avx512_vnni=" avx512_vnni" in flags, avx_vnni=" avx_vnni" in flags,
                loadavg=os.getloadavg(), python=platform.python_version(), onnxruntime=ort.__version__)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=list(MODELS))
    ap.add_argument("--variant", action="append", default=[], choices=list(VARIANTS))
    ap.add_argument("--file", action="append", default=[], metavar="LABEL=PATH")
    ap.add_argument("--out", default=os.path.join(prep.HERE, "results.json"))
    ap.add_argument("--no-bench", action="store_true", help="accuracy only")
    ap.add_argument("--bench-only", action="store_true", help="speed only")
    a = ap.parse_args()
    files = [(v, os.path.join(prep.CACHE, f"{a.model}.{v}.onnx")) for v in a.variant]
    files += [tuple(f.split("=", 1)) for f in a.file]
    m0 = machine()
    if a.bench_only:
        res = bench_only(a.model, files)
    else:
        res = evaluate(a.model, files, {}, do_bench=not a.no_bench)
    m1 = machine()
    out = json.load(open(a.out)) if os.path.exists(a.out) else {}
    entry = out.setdefault(a.model, {})
    for k, v in res.items():
        entry.setdefault(k, {}).update(v)
    entry.setdefault("_runs", []).append(dict(start=m0, end=m1, labels=list(res)))
    json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
