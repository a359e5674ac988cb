"""Training-time sketch augmentation, numpy only (training and evaluation need no OpenCV).

People draw with other pens, less precisely, and leave strokes out. Training sketches are
clean and complete, so the auto-encoders would otherwise learn to expect exactly the
extractor's or the artist's lines. Three perturbations, all on greyscale uint8 sketches
(black strokes on white = 255):

- `change_stroke_width`: thicker or thinner pen (grey-level erosion / dilation, 3×3).
- `random_warp`: a small affine jitter plus a smooth elastic field (imprecise drawing). The
  photo is not warped with it: the model should tolerate sketches slightly off the face.
- `drop_strokes`: delete a fraction of the connected strokes (incomplete drawings). The
  evaluation reuses it to measure robustness to missing strokes.
"""
from __future__ import annotations

import numpy as np

INK_LEVEL = 250
"""Pixels darker than this are ink (anti-aliased stroke fringes included)."""


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean mask: (int32 labels, 0 = background, 1..n; n).

    Union-find on the pixel graph, vectorised: every round hooks each root onto the smallest
    root across its edges, then compresses paths; a few rounds suffice for sketch strokes.
    """
    h, w = mask.shape
    flat = np.flatnonzero(mask)
    labels = np.zeros(h * w, np.int32)
    if flat.size == 0:
        return labels.reshape(h, w), 0
    node = np.full(h * w, -1, np.int64)
    node[flat] = np.arange(flat.size)
    grid = node.reshape(h, w)
    pairs = []
    for a, b in ((grid[:, :-1], grid[:, 1:]), (grid[:-1, :], grid[1:, :]),
                 (grid[:-1, :-1], grid[1:, 1:]), (grid[:-1, 1:], grid[1:, :-1])):
        both = (a >= 0) & (b >= 0)
        pairs.append((a[both], b[both]))
    ea = np.concatenate([p[0] for p in pairs])
    eb = np.concatenate([p[1] for p in pairs])
    parent = np.arange(flat.size)
    while True:
        ra, rb = parent[ea], parent[eb]
        differ = ra != rb
        if not differ.any():
            break
        ra, rb = ra[differ], rb[differ]
        low = np.minimum(ra, rb)
        np.minimum.at(parent, ra, low)
        np.minimum.at(parent, rb, low)
        while True:  # path compression until every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    roots, inverse = np.unique(parent, return_inverse=True)
    labels[flat] = inverse + 1
    return labels.reshape(h, w), len(roots)


def drop_strokes(sketch: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Remove round(fraction · n) of the sketch's n connected strokes, chosen at random.

    A stroke is an 8-connected component of pixels darker than INK_LEVEL; removed strokes
    become white paper. Returns a new uint8 array.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    labels, n = label_components(sketch < INK_LEVEL)
    drop = rng.choice(n, size=int(round(fraction * n)), replace=False) + 1 if n else np.empty(0, int)
    out = sketch.copy()
    out[np.isin(labels, drop)] = 255
    return out


def _shifted_stack(img: np.ndarray) -> np.ndarray:
    p = np.pad(img, 1, mode="edge")
    h, w = img.shape
    return np.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])


def change_stroke_width(sketch: np.ndarray, steps: int) -> np.ndarray:
    """Thicker (steps > 0) or thinner (steps < 0) pen, |steps| times.

    Thickening is a 3×3 grey erosion (ink spreads one pixel). A full 3×3 dilation would erase
    the 1-px strokes of small canvases, so a thinning step averages the sketch with its
    dilation: stroke borders and 1-px strokes turn half as dark, as with a finer pencil.
    """
    out = sketch
    for _ in range(abs(steps)):
        stack = _shifted_stack(out)
        if steps > 0:
            out = stack.min(axis=0)
        else:
            out = ((out.astype(np.uint16) + stack.max(axis=0)) // 2).astype(np.uint8)
    return out.copy() if out is sketch else out


def bilinear_sample(img: np.ndarray, x: np.ndarray, y: np.ndarray, fill: float) -> np.ndarray:
    """Sample a 2-D image at float coordinates (x = column, y = row); outside reads `fill`."""
    h, w = img.shape
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    padded = np.pad(img.astype(np.float32), 1, constant_values=fill)

    def at(yy, xx):
        return padded[np.clip(yy, -1, h) + 1, np.clip(xx, -1, w) + 1]

    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def random_warp(sketch: np.ndarray, rng: np.random.Generator, max_rotate_deg: float = 3.0,
                max_scale: float = 0.04, max_shift: float = 0.02, elastic: float = 0.01,
                elastic_grid: int = 5) -> np.ndarray:
    """A small random affine (rotation, scale, shift as fractions of the side) plus a smooth
    elastic displacement (std `elastic` of the side, on an `elastic_grid`² control grid,
    bilinearly interpolated). Areas from outside the sketch become white."""
    h, w = sketch.shape
    side = float(max(h, w))
    angle = np.radians(rng.uniform(-max_rotate_deg, max_rotate_deg))
    scale = 1.0 + rng.uniform(-max_scale, max_scale)
    shift = rng.uniform(-max_shift, max_shift, size=2) * side
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # inverse map: output pixel -> source position
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    dx, dy = xs - cx - shift[0], ys - cy - shift[1]
    src_x = cos * dx + sin * dy + cx
    src_y = -sin * dx + cos * dy + cy
    if elastic > 0:
        field = rng.normal(0.0, elastic * side, size=(2, elastic_grid, elastic_grid)).astype(np.float32)
        gx = xs * (elastic_grid - 1) / max(w - 1, 1)
        gy = ys * (elastic_grid - 1) / max(h - 1, 1)
        src_x = src_x + bilinear_sample(field[0], gx, gy, 0.0)
        src_y = src_y + bilinear_sample(field[1], gx, gy, 0.0)
    return np.clip(bilinear_sample(sketch, src_x, src_y, 255.0), 0, 255).round().astype(np.uint8)


def augment_sketch(sketch: np.ndarray, rng: np.random.Generator, max_drop: float = 0.15,
                   width_steps: tuple[int, ...] = (-1, 0, 0, 0, 1)) -> np.ndarray:
    """One random training perturbation: pen width (a step drawn from `width_steps`), a small
    warp, then dropping a uniform [0, max_drop) fraction of the strokes."""
    out = change_stroke_width(sketch, int(rng.choice(width_steps)))
    out = random_warp(out, rng)
    return drop_strokes(out, rng.uniform(0.0, max_drop), rng)
