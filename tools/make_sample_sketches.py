"""Make the kit's `sample_sketches/` (512×512 PNG, black strokes on white).

    python tools/make_sample_sketches.py --fs2k /path/to/fs2k     # needs requirements-train.txt

Two kinds of sample, both legitimately shippable:

* **extracted** — the kit's own line extractor (`dsf.data.sketch_extraction.extract_sketch`)
  run on FS2K *test-split* photos (held out from every training stage), each aligned to the
  512 template with the data module's aligner (MediaPipe face mesh → `align_face` →
  `warp_photo`). Only the extracted line drawing is written; no photo (and no FS2K artist
  sketch) is shipped.
* **drawn** — drawn by this script with PIL: a clean-stroke face, a rough multi-stroke face,
  and a deliberately incomplete one (no nose, no mouth, half an outline).

PNGs are written as 4-bit greyscale (16 levels) to stay small. Without `--fs2k` only the
drawn samples are (re)written.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

CANVAS = 512
OUT = Path(__file__).resolve().parent.parent / "sample_sketches"

# FS2K test-split photos (photo3: the largest, 475×340), picked once by an automatic score
# (alignment error, yaw, ink in the eye/mouth windows, little hair texture) and then named by
# eye: FS2K's `smile` flag disagreed with what the photos show for several of these.
PICKS = [
    ("01_female_smiling", "photo3/image0288", "female", "smiling"),
    ("02_male_smiling", "photo3/image0244", "male", "smiling"),
    ("03_female", "photo3/image0249", "female", "neutral"),
    ("04_male", "photo3/image0205", "male", "neutral"),
    ("05_female_smiling", "photo3/image0274", "female", "smiling"),
    ("06_male", "photo3/image0261", "male", "neutral (moustache)"),
]


def save_png(grey: np.ndarray, path: Path) -> None:
    """Save a uint8 greyscale sketch as a 4-bit greyscale PNG (16 levels, white stays 255)."""
    q = (np.round(grey.astype(np.float32) / 17.0) * 17).clip(0, 255).astype(np.uint8)
    Image.fromarray(q, "L").save(path, bits=4, optimize=True)


# ------------------------------------------------------------------------------ drawn by code
def _centres():
    from dsf.components import windows

    w = windows(CANVAS)
    return {p: w[p].centre for p in ("eye1", "eye2", "nose", "mouth")}


def _stroke(draw, pts, width, rng=None, jitter=0.0, repeats=1):
    """Draw a polyline; with jitter, each of `repeats` passes gets its own offset and a slow
    wobble (a hand going over the same line several times)."""
    pts = np.asarray(pts, np.float64)
    t = np.linspace(0, 1, len(pts))[:, None]
    for _ in range(repeats):
        p = pts
        if rng is not None and jitter:
            f = rng.uniform(1, 3, 2)
            ph = rng.uniform(0, 2 * np.pi, 2)
            p = pts + rng.normal(0, jitter, 2) + jitter * np.sin(2 * np.pi * f * t + ph)
        draw.line([tuple(x) for x in p], fill=0, width=width, joint="curve")


def _ellipse_pts(cx, cy, rx, ry, a0=0, a1=360, n=80):
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _eye(cx, cy, w=36, h=13):
    top = [(cx - w, cy), (cx - w / 2, cy - h), (cx + w / 2, cy - h), (cx + w, cy)]
    bottom = [(cx - w, cy), (cx - w / 2, cy + h * 0.7), (cx + w / 2, cy + h * 0.7), (cx + w, cy)]
    return _smooth(top), _smooth(bottom)


def _smooth(ctrl, n=30):
    """Catmull-Rom through the control points."""
    p = np.asarray(ctrl, np.float64)
    p = np.vstack([p[0], p, p[-1]])
    out = []
    for i in range(1, len(p) - 2):
        for t in np.linspace(0, 1, n, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(0.5 * ((2 * p[i]) + (-p[i - 1] + p[i + 1]) * t + (2 * p[i - 1] - 5 * p[i] + 4 * p[i + 1] - p[i + 2]) * t2
                              + (-p[i - 1] + 3 * p[i] - 3 * p[i + 1] + p[i + 2]) * t3))
    out.append(p[-2])
    return np.array(out)


def drawn_face(style: str = "clean", seed: int = 0) -> np.ndarray:
    """A face drawn with strokes on the template: style "clean", "rough" (several jittered,
    wobbly passes per stroke) or "incomplete" (eyes, brows and half an outline only)."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (CANVAS, CANVAS), 255)
    d = ImageDraw.Draw(img)
    c = _centres()
    rough = style == "rough"
    kw = dict(rng=rng, jitter=3.0 if rough else 0.0, repeats=3 if rough else 1)
    width = 2 if rough else 3
    # outline: jaw from temple to temple
    a1 = 90 if style == "incomplete" else 360
    outline = _ellipse_pts(256, 262, 150, 205, -10 if style != "incomplete" else -90, a1 - 10 if style != "incomplete" else a1)
    _stroke(d, outline, width, **kw)
    # hair line
    if style != "incomplete":
        _stroke(d, _smooth([(110, 230), (130, 120), (256, 60), (382, 120), (402, 230)]), width, **kw)
        _stroke(d, _smooth([(130, 150), (200, 105), (300, 100), (380, 150)]), width, **kw)
    for part in ("eye1", "eye2"):
        cx, cy = c[part]
        top, bottom = _eye(cx, cy)
        _stroke(d, top, width, **kw)
        _stroke(d, bottom, width, **kw)
        r = 10
        d.ellipse([cx - r, cy - r * 0.9, cx + r, cy + r * 0.9], outline=0, width=width + 1)
        _stroke(d, _smooth([(cx - 42, cy - 28), (cx, cy - 40), (cx + 42, cy - 30)]), width + 1, **kw)  # brow
    if style == "incomplete":
        return np.asarray(img)
    nx, ny = c["nose"]
    _stroke(d, _smooth([(nx - 8, ny - 60), (nx - 10, ny - 10), (nx - 22, ny + 18), (nx - 8, ny + 26)]), width, **kw)
    _stroke(d, _smooth([(nx - 8, ny + 26), (nx, ny + 30), (nx + 8, ny + 26)]), width, **kw)
    _stroke(d, _smooth([(nx + 8, ny + 26), (nx + 22, ny + 18), (nx + 14, ny + 4)]), width, **kw)
    mx, my = c["mouth"]
    my -= 20
    _stroke(d, _smooth([(mx - 48, my), (mx - 20, my - 12), (mx, my - 8), (mx + 20, my - 12), (mx + 48, my)]), width, **kw)
    _stroke(d, _smooth([(mx - 48, my), (mx, my + 4), (mx + 48, my)]), width, **kw)
    _stroke(d, _smooth([(mx - 46, my + 1), (mx - 20, my + 22), (mx + 20, my + 22), (mx + 46, my + 1)]), width, **kw)
    for sx in (-1, 1):  # ears
        _stroke(d, _smooth([(256 + sx * 148, 225), (256 + sx * 168, 240), (256 + sx * 165, 290), (256 + sx * 145, 310)]), width, **kw)
    return np.asarray(img)


DRAWN = [
    ("07_drawn_clean", "clean", "drawn by code (PIL strokes on the window template), clean single strokes"),
    ("08_drawn_rough", "rough", "drawn by code, rough: every stroke is three jittered, wobbly passes"),
    ("09_drawn_incomplete", "incomplete", "drawn by code, deliberately incomplete: eyes, brows and half a face outline; no nose, mouth or hair"),
]


# ------------------------------------------------------------------------------- from FS2K
def extracted(fs2k: Path):
    """Yield (name, sketch, meta) for the PICKS: each FS2K test photo aligned to the 512
    template by the data module's aligner, then drawn by the kit's extractor."""
    import cv2

    from dsf.data.align import align_face, reject_reason, warp_photo
    from dsf.data.landmarks import MeshDetector
    from dsf.data.sketch_extraction import extract_sketch

    test = {a["image_name"]: a for a in json.loads((fs2k / "anno_test.json").read_text())}
    det = MeshDetector()
    for name, image_name, sex, expression in PICKS:
        if image_name not in test:
            raise RuntimeError(f"{image_name} is not in FS2K's test split")
        folder, stem = image_name.split("/")
        rgb = cv2.cvtColor(cv2.imread(str(fs2k / "photo" / folder / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)
        centres = det(rgb)
        if centres is None:
            raise RuntimeError(f"no face found on {image_name}")
        al = align_face(centres, (rgb.shape[1], rgb.shape[0]), CANVAS)
        if reject_reason(al) is not None:
            raise RuntimeError(f"{image_name}: alignment rejected ({reject_reason(al)})")
        sketch = extract_sketch(warp_photo(rgb, al.matrix, CANVAS))
        meta = (f"kit extractor on FS2K test-split photo `{image_name}` ({sex}, {expression}), "
                f"aligned to the 512 template")
        yield name, sketch, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fs2k", type=Path, default=None, help="FS2K root (with anno_test.json and photo/)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.fs2k is not None:
        for name, sketch, meta in extracted(args.fs2k):
            save_png(sketch, args.out / f"{name}.png")
            rows.append((name, meta))
    for name, style, meta in DRAWN:
        save_png(drawn_face(style, seed=7), args.out / f"{name}.png")
        rows.append((name, meta))
    for name, meta in rows:
        size = (args.out / f"{name}.png").stat().st_size
        print(f"{name}.png  {size / 1024:.1f} KB  {meta}")


if __name__ == "__main__":
    main()
