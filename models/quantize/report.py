"""Render a results file (default results-vnni.json; results.json holds the AVX2 machine's run)
as the Markdown tables of RESULTS.md (printed): `report.py [FILE]`."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
R = json.load(open(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results-vnni.json")))


def pct(v):
    return f"{100 * v:.0f} %"


def speed(r):
    if "speedup" not in r:
        return "–", "–"
    return f"{r['fp32_ms_per_batch']:.0f} → {r['int8_ms_per_batch']:.0f}", f"×{r['speedup']:.2f}"


for name in ("efficientnet_lite0", "mobilenet_v2"):
    if name not in R:
        continue
    print(f"\n### {name} (batch 8)\n")
    print("| variant | size MB | top-1 | top-5 | top-1 agree fp32 | emb. cos mean / min | select: agree / cos mean | ms/batch fp32 → int8 | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for v, r in R[name].items():
        if v.startswith("_"):
            continue
        if "top1" not in r:
            ms, sp = speed(r)
            print(f"| {v} | (accuracy not measured; QOperator matched QDQ exactly where measured) | | | | | | {ms} | {sp} |")
            continue
        ms, sp = speed(r)
        print(f"| {v} | {r['size_bytes'] / 1e6:.1f} | {pct(r['top1'])} | {pct(r['top5'])} | {pct(r['top1_agreement_fp32'])} | "
              f"{r['embedding_cosine_mean']:.4f} / {r['embedding_cosine_min']:.4f} | "
              f"{pct(r['select_top1_agreement_fp32'])} / {r['select_embedding_cosine_mean']:.4f} | {ms} | {sp} |")
name = "centernet_mbv3_coco"
if name in R:
    print(f"\n### {name} (batch 1)\n")
    print("| variant | size MB | mAP@[.5:.95] | mAP@.5 | fidelity to fp32 (eval / select), mAP@[.5:.95] | ms fp32 → int8 | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for v, r in R[name].items():
        if v.startswith("_"):
            continue
        if "map_50_95" not in r:
            ms, sp = speed(r)
            print(f"| {v} | (accuracy not measured) | | | | {ms} | {sp} |")
            continue
        ms, sp = speed(r)
        print(f"| {v} | {r['size_bytes'] / 1e6:.1f} | {r['map_50_95']:.4f} | {r['map_50']:.4f} | "
              f"{r['fidelity_eval_map_50_95']:.3f} / {r['select_fidelity_map_50_95']:.3f} | {ms} | {sp} |")
