"""Preprocessing exactly as each model's manifest (models/<name>.toml) says, the image sets
(calibration / selection / evaluation, disjoint), and a small on-disk cache of the uint8
pixels so that calibration, selection and evaluation read identical tensors.

Classifier (`kind = "center_crop"`): Pillow RGB, shorter side -> `resize_shorter` with the long
side truncated (int()), Image.BILINEAR (antialiased when downscaling), centre crop `crop`
(top/left = round((dim - crop) / 2)), uint8 -> float32 (x / 255 - mean) / std, NCHW.
Detector (`kind = "letterbox"`): scale = min(S / w, S / h), resized to (round(w * scale),
round(h * scale)) with Image.BILINEAR, pasted at ((S - nw) // 2, (S - nh) // 2) on a black SxS
canvas, float32 (x / 255 - mean) / std (= raw 0..255 for CenterNet), NHWC.
"""
import csv
import hashlib
import os
import random
import tomllib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
REPO = os.path.dirname(MODELS)
DATA = os.environ.get("SIGHTLINE_DATA", os.path.join(REPO, "..", "..", "shared", "data"))
if not os.path.isdir(DATA):
    DATA = "/work/shared/data"
CACHE = os.path.join(REPO, ".cache", "quant")


def manifest(name):
    with open(os.path.join(MODELS, f"{name}.toml"), "rb") as fh:
        return tomllib.load(fh)


# ---------------------------------------------------------------- image sets
def imagenet_dev():
    """[(path, class_index)] sorted by file name (evaluation set of the classifiers)."""
    d = os.path.join(DATA, "imagenet-dev")
    rows = list(csv.DictReader(open(os.path.join(d, "labels.csv"))))
    return [(os.path.join(d, r["file"]), int(r["class_index"])) for r in sorted(rows, key=lambda r: r["file"])]


def coco_dev():
    """[path] sorted (evaluation set of the detector)."""
    d = os.path.join(DATA, "coco-dev", "images")
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".jpg")]


def grocery_split(seed=11):
    """All grocery images, shuffled with a fixed seed (stratification is not needed for
    calibration); the first part is used for calibration, the next for variant selection."""
    d = os.path.join(DATA, "grocery")
    rows = list(csv.DictReader(open(os.path.join(d, "labels.csv"))))
    files = sorted(os.path.join(d, "images", r["file"]) for r in rows)
    random.Random(seed).shuffle(files)
    return files


def image_sets(kind):
    """Disjoint calibration and selection sets; the evaluation set is never used to choose.
    classifier: calib = 150 grocery + 50 coco-dev, select = 150 other grocery + 78 other coco-dev
    detector:   calib = 50 imagenet-dev + 100 grocery, select = 50 other imagenet-dev + 100 other grocery"""
    g = grocery_split()
    if kind == "classifier":
        c = coco_dev()
        cs = c[:]
        random.Random(12).shuffle(cs)
        return dict(calib=g[:150] + cs[:50], select=g[150:300] + cs[50:])
    im = [p for p, _ in imagenet_dev()]
    ims = im[:]
    random.Random(13).shuffle(ims)
    return dict(calib=ims[:50] + g[:100], select=ims[50:] + g[100:200])


# ---------------------------------------------------------------- preprocessing
def center_crop_u8(path, resize, crop):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nh, nw = resize, int(resize * w / h)
    img = img.resize((nw, nh), Image.BILINEAR)
    top = int(round((nh - crop) / 2.0))
    left = int(round((nw - crop) / 2.0))
    return np.asarray(img.crop((left, top, left + crop, top + crop)), dtype=np.uint8)


def letterbox_u8(path, size):
    """Returns (uint8 [S,S,3], (scale, dx, dy), (w, h))."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    scale = min(size / w, size / h)
    nw, nh = int(round(w * scale)), int(round(h * scale))
    canvas = np.zeros((size, size, 3), np.uint8)
    dx, dy = (size - nw) // 2, (size - nh) // 2
    canvas[dy:dy + nh, dx:dx + nw] = np.asarray(img.resize((nw, nh), Image.BILINEAR), dtype=np.uint8)
    return canvas, (scale, dx, dy), (w, h)


def pixels(model, paths):
    """uint8 pixels for `paths` as `model`'s manifest preprocesses them (cached).
    classifier: [N, crop, crop, 3]; detector: ([N, S, S, 3], [(scale, dx, dy)], [(w, h)])."""
    m = manifest(model)
    p = m["preprocess"]
    key = hashlib.sha1(repr((p, paths)).encode()).hexdigest()[:16]
    os.makedirs(CACHE, exist_ok=True)
    f = os.path.join(CACHE, f"px_{p['kind']}_{key}.npz")
    if os.path.exists(f):
        z = np.load(f)
        if p["kind"] == "center_crop":
            return z["x"]
        return z["x"], [tuple(t) for t in z["lb"]], [tuple(t) for t in z["wh"]]
    if p["kind"] == "center_crop":
        x = np.stack([center_crop_u8(q, p["resize_shorter"], p["crop"]) for q in paths])
        np.savez(f, x=x)
        return x
    assert p["kind"] == "letterbox"
    out = [letterbox_u8(q, p["size"]) for q in paths]
    x = np.stack([o[0] for o in out])
    lb = np.array([o[1] for o in out], np.float64)
    wh = np.array([o[2] for o in out], np.int64)
    np.savez(f, x=x, lb=lb, wh=wh)
    return x, [tuple(t) for t in lb], [tuple(t) for t in wh]


def normalise(model, u8):
    """uint8 NHWC pixels -> float32 model input (layout as the manifest says)."""
    m = manifest(model)
    mean = np.asarray(m["preprocess"]["mean"], np.float32)
    std = np.asarray(m["preprocess"]["std"], np.float32)
    x = (u8.astype(np.float32) / np.float32(255.0) - mean) / std
    if m["input"]["layout"] == "nchw":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)
