"""Static INT8 quantization of Sightline's models with ONNX Runtime's tooling.

    .cache/quant-venv/bin/python models/quantize/quantize.py [--model NAME ...] [--variant V ...]

For each model: onnxruntime.quantization.quant_pre_process (symbolic + ONNX shape inference,
ORT basic graph optimisation) -> quantize_static with a CalibrationDataReader that feeds images
preprocessed exactly as the model's manifest says (prep.py), on calibration images that are
NOT the model's evaluation images (prep.image_sets). Writes candidates to
.cache/quant/<name>.<variant>.onnx; evaluate.py measures them and `--ship` copies the chosen
variant to models/<name>_int8.onnx.

What is kept in float32:
  classifiers: GlobalAveragePool -> Flatten (`embedding`) and Gemm (`logits`), so the stored
  1280-d embedding and the logits are computed in float32 from the dequantized last feature map;
  detector: everything after the heads (sigmoid heatmap, wh scaling, 3x3 max-pool peak picking,
  TopK, box decoding), so peak picking and scores are exactly the float graph's operations.
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prep  # noqa: E402

MODELS = {
    # manifest name: (kind, onnx file)
    "efficientnet_lite0": ("classifier", "efficientnet_lite0_embed.onnx"),
    "mobilenet_v2": ("classifier", "mobilenet_v2_embed.onnx"),
    "centernet_mbv3_coco": ("detector", "centernet_mbv3_coco.onnx"),
}

# variant: (format, per_channel, calibration method, extra)
VARIANTS = {
    "qdq_pc_minmax": (QuantFormat.QDQ, True, CalibrationMethod.MinMax, {}),
    "qop_pc_minmax": (QuantFormat.QOperator, True, CalibrationMethod.MinMax, {}),
    "qdq_pt_minmax": (QuantFormat.QDQ, False, CalibrationMethod.MinMax, {}),
    "qdq_pc_percentile": (QuantFormat.QDQ, True, CalibrationMethod.Percentile,
                          {"CalibPercentile": 99.999}),
    "qdq_pc_entropy": (QuantFormat.QDQ, True, CalibrationMethod.Entropy, {}),
    # reduce_range: 7-bit weights, so that u8 x s8 pair sums cannot saturate the int16
    # intermediate of AVX2's VPMADDUBSW (machines without VNNI, like this one)
    "qdq_pc_minmax_rr": (QuantFormat.QDQ, True, CalibrationMethod.MinMax, {"reduce_range": True}),
    "qop_pc_minmax_rr": (QuantFormat.QOperator, True, CalibrationMethod.MinMax, {"reduce_range": True}),
    "qdq_pt_minmax_rr": (QuantFormat.QDQ, False, CalibrationMethod.MinMax, {"reduce_range": True}),
    "qdq_pc_percentile_rr": (QuantFormat.QDQ, True, CalibrationMethod.Percentile,
                             {"CalibPercentile": 99.999, "reduce_range": True}),
    # u8 weights: MLAS's U8U8 kernels widen to int16 first (no saturation), 8-bit weights
    "qdq_pc_minmax_u8u8": (QuantFormat.QDQ, True, CalibrationMethod.MinMax, {"weight_type": QuantType.QUInt8}),
    # only Conv quantized (element-wise hard-swish / SE / Resize / Concat stay float32)
    "qdq_pc_minmax_rr_conv": (QuantFormat.QDQ, True, CalibrationMethod.MinMax,
                              {"reduce_range": True, "op_types": ["Conv"]}),
    "qdq_pc_minmax_u8u8_conv": (QuantFormat.QDQ, True, CalibrationMethod.MinMax,
                                {"weight_type": QuantType.QUInt8, "op_types": ["Conv"]}),
    # diagnostic: the CenterNet head (everything named tower_0/CenternetHead/...) kept float32
    "qdq_pc_minmax_rr_backbone": (QuantFormat.QDQ, True, CalibrationMethod.MinMax,
                                  {"reduce_range": True, "exclude_prefix": "tower_0/CenternetHead/"}),
}


class Reader(CalibrationDataReader):
    """Feeds the calibration images one batch at a time, preprocessed as the manifest says."""

    def __init__(self, model, paths, input_name, batch):
        px = prep.pixels(model, paths)
        self.u8 = px if isinstance(px, np.ndarray) else px[0]
        self.model, self.input_name, self.batch, self.i = model, input_name, batch, 0

    def get_next(self):
        if self.i >= len(self.u8):
            return None
        x = prep.normalise(self.model, self.u8[self.i:self.i + self.batch])
        self.i += self.batch
        return {self.input_name: x}

    def rewind(self):
        self.i = 0


def fp32_tail(model_proto, outputs):
    """Names of the nodes that compute only from the given tensors onwards (downstream
    closure), plus the chain of single-input nodes that produce them back to the last Conv."""
    g = model_proto.graph
    producer = {o: n for n in g.node for o in n.output}
    keep = set()
    # walk back from each tensor over non-Conv single-data-input nodes
    for t in outputs:
        n = producer.get(t)
        while n is not None and n.op_type != "Conv":
            keep.add(n.name)
            n = producer.get(n.input[0])
    tensors = set(outputs)
    changed = True
    while changed:
        changed = False
        for n in g.node:
            if n.name not in keep and any(i in tensors for i in n.input):
                keep.add(n.name)
                tensors.update(n.output)
                changed = True
    return sorted(keep)


def classifier_tail(model_proto):
    return sorted(n.name for n in model_proto.graph.node
                  if n.op_type in ("GlobalAveragePool", "Flatten", "Gemm"))


def preprocessed(name):
    kind, file = MODELS[name]
    os.makedirs(prep.CACHE, exist_ok=True)
    out = os.path.join(prep.CACHE, f"{name}.pre.onnx")
    if not os.path.exists(out):
        quant_pre_process(os.path.join(prep.MODELS, file), out, skip_symbolic_shape=False)
    return out


def quantize(name, variant):
    kind, _ = MODELS[name]
    fmt, per_channel, method, extra = VARIANTS[variant]
    pre = preprocessed(name)
    m = onnx.load(pre)
    input_name = m.graph.input[0].name
    sets = prep.image_sets(kind)
    if kind == "classifier":
        exclude = classifier_tail(m)
        batch = 8
    else:
        exclude = fp32_tail(m, ["heatmap", "wh"])
        batch = 1
    reader = Reader(name, sets["calib"], input_name, batch)
    out = os.path.join(prep.CACHE, f"{name}.{variant}.onnx")
    opts = {"CalibMaxIntermediateOutputs": 16}
    opts.update(extra)
    reduce_range = opts.pop("reduce_range", False)
    weight_type = opts.pop("weight_type", QuantType.QInt8)
    op_types = opts.pop("op_types", None)
    prefix = opts.pop("exclude_prefix", None)
    if prefix:
        exclude = sorted(set(exclude) | {n.name for n in m.graph.node if n.name.startswith(prefix)})
    opts.update(ActivationSymmetric=False, WeightSymmetric=weight_type == QuantType.QInt8)
    t0 = time.time()
    quantize_static(pre, out, reader, quant_format=fmt, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=weight_type, reduce_range=reduce_range,
                    calibrate_method=method, nodes_to_exclude=exclude, op_types_to_quantize=op_types, extra_options=opts)
    print(f"{name} {variant}: {time.time() - t0:.0f} s, {len(sets['calib'])} calibration images, "
          f"{len(exclude)} nodes kept float32 -> {out} ({os.path.getsize(out) / 1e6:.2f} MB)", flush=True)
    return out


def describe(name, variant):
    kind, file = MODELS[name]
    fmt, per_channel, method, extra = VARIANTS[variant]
    n = len(prep.image_sets(kind)["calib"])
    calib = ("150 grocery/ + 50 coco-dev/" if kind == "classifier" else "50 imagenet-dev/ + 100 grocery/")
    w = "u8 asymmetric" if extra.get("weight_type") == QuantType.QUInt8 else "s8 symmetric"
    if extra.get("reduce_range"):
        w += " 7-bit (reduce_range)"
    if extra.get("op_types"):
        w += f" (only {'/'.join(extra['op_types'])} quantized)"
    kept = ("GlobalAveragePool/Flatten (`embedding`) and Gemm (`logits`) kept float32" if kind == "classifier"
            else "heads' sigmoid/scaling and the in-graph decoding (max-pool peaks, TopK, boxes) kept float32")
    return (f"static INT8 ({'QDQ' if fmt == QuantFormat.QDQ else 'QOperator'}, "
            f"{'per-channel' if per_channel else 'per-tensor'} {w} weights, u8 asymmetric activations, "
            f"{method.name} calibration on {n} images of ../shared/data ({calib}, none of them "
            f"evaluation images) preprocessed as [preprocess] says; {kept})")


def write_manifest(name, variant, results):
    """models/<name>_int8.toml: the fp32 manifest with name/file/sha256/source replaced,
    precision = "int8" and fp32 = "<name>" added, [metrics] = the measured figures."""
    import hashlib
    import re
    kind, file = MODELS[name]
    text = open(os.path.join(prep.MODELS, f"{name}.toml")).read()
    dst = f"{name}_int8.onnx"
    sha = hashlib.sha256(open(os.path.join(prep.MODELS, dst), "rb").read()).hexdigest()
    fsha = hashlib.sha256(open(os.path.join(prep.MODELS, file), "rb").read()).hexdigest()
    import onnx as _onnx
    import onnxruntime as _ort
    src = (f'source = """{describe(name, variant)}, made from {file} (sha256 {fsha}) by '
           f'models/quantize/quantize.py --model {name} --variant {variant} with onnxruntime '
           f'{_ort.__version__} and onnx {_onnx.__version__} (requirements/quantize.txt). '
           f'Float32 model: see {name}.toml."""\n')
    text = re.sub(r'^name = ".*"\n', f'name = "{name}_int8"\n', text, count=1, flags=re.M)
    text = re.sub(r'^(version = ".*"\n)', f'\\1precision = "int8"\nfp32 = "{name}"            '
                  f'# the float32 model this was quantized from\n', text, count=1, flags=re.M)
    text = re.sub(r'^file = ".*"\n', f'file = "{dst}"\n', text, count=1, flags=re.M)
    text = re.sub(r'^sha256 = ".*"\n', f'sha256 = "{sha}"\n', text, count=1, flags=re.M)
    text = re.sub(r'^source = """.*?"""\n', lambda _: src, text, count=1, flags=re.M | re.S)
    text = text[:text.index("[metrics]")] if "[metrics]" in text else text + "\n"
    r, f = results[variant], results["fp32"]
    if kind == "classifier":
        metrics = [
            ("imagenet_dev_top1", r["top1"], f"100 images of ../shared/data/imagenet-dev (fp32: {f['top1']})"),
            ("imagenet_dev_top5", r["top5"], f"fp32: {f['top5']}"),
            ("imagenet_dev_top1_agreement_fp32", r["top1_agreement_fp32"], "same top-1 class as the fp32 model"),
            ("embedding_cosine_mean", round(r["embedding_cosine_mean"], 4), "cosine to fp32's embedding, imagenet-dev"),
            ("embedding_cosine_min", round(r["embedding_cosine_min"], 4), ""),
        ]
    else:
        metrics = [
            ("coco_dev_map_50_95", round(r["map_50_95"], 4),
             f"128 coco-dev images, letterbox, all 100 rows (fp32: {f['map_50_95']:.4f})"),
            ("coco_dev_map_50", round(r["map_50"], 4), f"fp32: {f['map_50']:.4f}"),
        ]
    if "speedup" in r:
        m = results["_runs"][-1]["start"]
        isa = "AVX-512 VNNI" if m.get("avx512_vnni") or m.get("avx_vnni") else "AVX2, no VNNI"
        metrics.append(("speedup_vs_fp32", round(r["speedup"], 3),
                        f"batch {r['bench_batch']}, 2 threads, onnxruntime {_ort.__version__}, {m['cpu']} {isa}, {m['date'][:10]} (models/quantize/RESULTS.md)"))
    lines = ["[metrics]                    # measured by models/quantize/evaluate.py (models/quantize/RESULTS.md)"]
    for k, v, c in metrics:
        lines.append(f"{k} = {float(v)}" + (f"   # {c}" if c else ""))
    text += "\n".join(lines) + "\n"
    open(os.path.join(prep.MODELS, f"{name}_int8.toml"), "w").write(text)
    print("wrote", f"models/{name}_int8.toml", "sha256", sha)


def ship(name, variant, results_file):
    import json
    src = os.path.join(prep.CACHE, f"{name}.{variant}.onnx")
    dst = os.path.join(prep.MODELS, f"{name}_int8.onnx")
    shutil.copyfile(src, dst)
    print("shipped", src, "->", dst)
    results = json.load(open(results_file))[name]
    write_manifest(name, variant, results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", choices=list(MODELS))
    ap.add_argument("--variant", action="append", choices=list(VARIANTS))
    ap.add_argument("--ship", action="append", default=[], metavar="MODEL=VARIANT",
                    help="copy an already built variant to models/<model>_int8.onnx")
    ap.add_argument("--results", default=os.path.join(prep.HERE, "results-vnni.json"),
                    help="measurements whose figures go into the shipped manifest's [metrics]")
    a = ap.parse_args()
    if a.ship:
        for s in a.ship:
            ship(*s.split("="), a.results)
        return
    for name in a.model or list(MODELS):
        for v in a.variant or list(VARIANTS):
            quantize(name, v)


if __name__ == "__main__":
    main()
