"""The image sets of the production-like benchmark (`scripts/bench.py`).

* phone: JPEGs of phone size (4032×3024, portrait 3024×4032, quality 90), made from the COCO dev
  images: each scaled up with Pillow (bicubic) to cover that size and centre-cropped to it. They
  are upscaled 640×480 photos, not camera output: smoother than a real phone photo, so smaller
  files (Huffman decoding costs a little less); the pixel count, which drives decode and resize
  cost, is a phone's. `grain` (a standard deviation in pixel levels, default 0) adds Gaussian
  noise to bring file sizes nearer a camera's (~3–5 MB).
* vga: the COCO dev originals (mostly 640×480 JPEG).
* png: PNG copies of COCO dev originals.

Generated sets are cached under `.cache/bench/`, keyed by their parameters; a finished set has a
`.complete` marker, so an interrupted generation is redone.
"""
from pathlib import Path

PHONE = (4032, 3024)
PHONE_QUALITY = 90
VERSION = 1  # bump when the generation changes: cached sets are keyed by it


def _cached(cache: Path, name: str, make) -> Path:
    d = cache / name
    if (d / ".complete").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    make(d)
    (d / ".complete").write_text("")
    return d


def phone_jpegs(sources: list, n: int, cache: Path, grain: float = 0.0) -> Path:
    """`n` phone-sized JPEGs upscaled from `sources` (cycled when n > len(sources))."""
    from PIL import Image

    def make(d):
        import numpy as np
        rng = np.random.default_rng(0)
        for i in range(n):
            src = sources[i % len(sources)]
            im = Image.open(src).convert("RGB")
            w, h = PHONE if im.width >= im.height else PHONE[::-1]
            scale = max(w / im.width, h / im.height)
            big = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
            left, top = (big.width - w) // 2, (big.height - h) // 2
            big = big.crop((left, top, left + w, top + h))
            if grain > 0:
                a = np.asarray(big, dtype=np.float32)
                a += rng.normal(0.0, grain, a.shape).astype(np.float32)
                big = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
            big.save(d / f"phone_{i:04d}_{src.stem}.jpg", quality=PHONE_QUALITY)

    return _cached(cache, f"phone-v{VERSION}-n{n}-{PHONE[0]}x{PHONE[1]}-q{PHONE_QUALITY}-grain{grain:g}", make)


def png_copies(sources: list, n: int, cache: Path) -> Path:
    """PNG copies of the first `n` of `sources` (cycled)."""
    from PIL import Image

    def make(d):
        for i in range(n):
            src = sources[i % len(sources)]
            Image.open(src).convert("RGB").save(d / f"png_{i:04d}_{src.stem}.png")

    return _cached(cache, f"png-v{VERSION}-n{n}", make)


def image_files(folder: Path) -> list:
    return sorted(f for f in folder.iterdir() if not f.name.startswith("."))


def link_set(dest: Path, files: list) -> Path:
    """A flat folder of symlinks to `files` (what `sightline run` and the peer read)."""
    dest.mkdir(parents=True)
    for f in files:
        (dest / f.name).symlink_to(f.resolve())
    return dest
