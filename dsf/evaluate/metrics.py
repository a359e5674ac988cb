"""Image metrics, numpy only: L1 and SSIM against the real photos, and the measures of the
paper's effects (region change for locality and refine response, identity ranks, ink overlap).

- **L1**: mean |a − b| over pixels and RGB channels, images scaled to [0, 1] (lower is better).
- **L1 at the photo's mean colour**: the same after each image channel is shifted so that its
  mean equals the photo's (clipped to [0, 1]). An oracle, not a method: what L1 would be if a
  model knew each photo's overall colour — skin tone, light, background — which a line sketch
  does not carry.
- **SSIM**: Wang et al. (2004), Gaussian window 11×11 with σ = 1.5, K1 = 0.01, K2 = 0.03, data
  range 1, on each RGB channel and averaged over channels and over the map; "valid" window
  positions only, as in the authors' `ssim_index.m`; biased, Gaussian-weighted variances.
  `ssim(..., mode="luma")` computes it on BT.601 luminance instead.
- **region change**: mean |a − b| (in /255 units, over RGB) inside a boolean region and outside it.
- **identity signature**: the image as BT.601 grey, block-averaged to 32×32, minus its mean,
  divided by its norm; the similarity of two images is the dot product (cosine similarity).
- **edge signature**: the same for the gradient magnitude of the grey image block-averaged to
  64×64 (forward differences): where the face's contours are, not its shading. The kit's
  identity loss (`dsf.train.losses.identity_contrast`) trains on the grey signature, so the
  edge signature is the identity measure no model was trained on.
- **ink Dice**: 2|A ∩ B| / (|A| + |B|) of the pixels darker than a level (1 when both are empty).
"""
from __future__ import annotations

import numpy as np

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SIGNATURE_SIDE = 32
"""Side of the grey thumbnails that identity similarity compares."""
EDGE_SIDE = 64
"""Side of the grey thumbnails whose gradient magnitude the edge signature compares."""

_LUMA = np.array([0.299, 0.587, 0.114])


# ------------------------------------------------------------------------------- L1 and SSIM
def to_float(img) -> np.ndarray:
    """An image or a batch as float64 in [0, 1] with a channel axis.

    uint8 is divided by 255; floats are taken as already in [0, 1]. Shapes: H×W (one grey
    image), H×W×C (one image), B×H×W×C (a batch). A grey H×W gets a channel axis (H×W×1).
    """
    a = np.asarray(img)
    if a.dtype == np.uint8:
        a = a.astype(np.float64) / 255.0
    elif np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float64)
    else:
        raise ValueError(f"expected a numeric image, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim not in (3, 4):
        raise ValueError(f"expected H×W, H×W×C or B×H×W×C, got shape {a.shape}")
    return a


def _pair(a, b) -> tuple[np.ndarray, np.ndarray, bool]:
    x, y = to_float(a), to_float(b)
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape, got {np.shape(a)} and {np.shape(b)}")
    single = x.ndim == 3
    return (x[None], y[None], True) if single else (x, y, False)


def l1(a, b):
    """Mean absolute difference on [0, 1] (uint8 images are scaled by 1/255), over pixels and
    channels. One image → float; a batch B×H×W×C → (B,) array, one value per image."""
    x, y, single = _pair(a, b)
    d = np.abs(x - y).mean(axis=(1, 2, 3))
    return float(d[0]) if single else d


def l1_at_photo_colour(a, b):
    """L1 (as `l1`) after shifting each channel of `a` to the mean of the same channel of `b`,
    clipped to [0, 1]: the error that is not the image's overall colour."""
    x, y, single = _pair(a, b)
    x = np.clip(x - x.mean(axis=(1, 2), keepdims=True) + y.mean(axis=(1, 2), keepdims=True), 0, 1)
    d = np.abs(x - y).mean(axis=(1, 2, 3))
    return float(d[0]) if single else d


def l1_chroma(a, b):
    """Mean absolute difference of the chroma (each pixel's RGB minus its channel mean) of `a`
    and `b` on [0, 1], over pixels and channels: the colour error with lightness taken out, so a
    cast (green hair, pink skin) counts and a face only lighter or darker than its photo does not."""
    x, y, single = _pair(a, b)
    d = np.abs((x - x.mean(axis=3, keepdims=True)) - (y - y.mean(axis=3, keepdims=True))).mean(axis=(1, 2, 3))
    return float(d[0]) if single else d


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """1-D normalised Gaussian taps; the 2-D window is its outer product (separable)."""
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of B×H×W×C with g ⊗ g over axes 1 and 2 (a tap loop
    with in-place accumulation: memory-bound, ~4× faster than batched banded products)."""
    k = len(g)
    h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
    acc = x[:, 0:h] * g[0]
    tmp = np.empty_like(acc)
    for i in range(1, k):
        np.multiply(x[:, i:i + h], g[i], out=tmp)
        acc += tmp
    out = acc[:, :, 0:w] * g[0]
    tmp = np.empty_like(out)
    for i in range(1, k):
        np.multiply(acc[:, :, i:i + w], g[i], out=tmp)
        out += tmp
    return out


def _channels(x: np.ndarray, y: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The channels SSIM compares: RGB as it is, or BT.601 luminance (mode "luma")."""
    if mode == "luma":
        if x.shape[-1] == 3:
            luma = _LUMA.astype(x.dtype)
            x, y = (x @ luma)[..., None], (y @ luma)[..., None]
    elif mode != "rgb":
        raise ValueError(f"mode must be 'rgb' (per-channel mean) or 'luma', got {mode!r}")
    return x, y


def ssim_map(a, b, mode: str = "rgb", window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA,
             k1: float = SSIM_K1, k2: float = SSIM_K2, dtype=np.float64) -> np.ndarray:
    """The SSIM map (valid positions): B×(H−w+1)×(W−w+1)×C (C = 1 with mode="luma"), or
    without the batch axis for a single image. Inputs as in `to_float`; data range 1.
    dtype: float64 (default) or float32 (half the time; SSIM differs by ~1e-6)."""
    x, y, single = _pair(a, b)
    x, y = _channels(x.astype(dtype, copy=False), y.astype(dtype, copy=False), mode)
    if min(x.shape[1:3]) < window:
        raise ValueError(f"images of {x.shape[1]}×{x.shape[2]} are smaller than the {window}×{window} SSIM window")
    g = gaussian_window(window, sigma).astype(dtype)
    c1, c2 = k1 ** 2, k2 ** 2
    mx, my = _filter_valid(x, g), _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mx * mx
    syy = _filter_valid(y * y, g) - my * my
    sxy = _filter_valid(x * y, g) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return m[0] if single else m


def ssim(a, b, mode: str = "rgb", **kw):
    """Mean SSIM (see `ssim_map`; the module docstring has the definition). One image → float;
    a batch B×H×W×C → (B,) array. mode "rgb": per-channel SSIM averaged over channels;
    "luma": SSIM of BT.601 luminance."""
    m = ssim_map(a, b, mode=mode, **kw)
    return float(m.mean(dtype=np.float64)) if m.ndim == 3 else m.mean(axis=(1, 2, 3), dtype=np.float64)


# -------------------------------------------------------------------------------- statistics
def stats(values) -> dict:
    """Mean, standard deviation and standard error of the mean of per-image values."""
    v = np.asarray(values, np.float64)
    sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "std": float(v.std()), "sem": sem}


def paired_difference(a, b) -> dict:
    """Mean and standard error of b − a over paired per-image values."""
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    s = stats(d)
    return {"mean": s["mean"], "sem": s["sem"]}


# ------------------------------------------------------------------ locality and refine response
def region_change(a, b, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean |a − b| in /255 units (over RGB) inside `region` (H×W bool) and outside it, per
    image of the batches a, b (B×H×W×C uint8). Returns two (B,) arrays."""
    d = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean(axis=-1)
    region = np.asarray(region, bool)
    return d[:, region].mean(axis=1), d[:, ~region].mean(axis=1)


def change_ratio(inside, outside) -> float:
    """mean(inside) / mean(outside): how much more a change stays in its region than leaks
    out of it (1: no locality; inf: perfectly local)."""
    i, o = float(np.mean(inside)), float(np.mean(outside))
    if o == 0.0:
        return float("inf") if i > 0 else float("nan")
    return i / o


# ---------------------------------------------------------------------------------- identity
def identity_signature(images, side: int = SIGNATURE_SIDE) -> np.ndarray:
    """B×H×W×3 images → B×side² float32 signatures: BT.601 grey, block-averaged to side×side
    (H and W must be multiples of side), zero mean, unit norm (a flat image gives zeros)."""
    return _unit_rows(_grey_blocks(images, side).reshape(-1, side * side))


def edge_signature(images, side: int = EDGE_SIDE) -> np.ndarray:
    """B×H×W×3 images → B×(side−1)² float32 signatures: the gradient magnitude (forward
    differences) of the BT.601 grey image block-averaged to side×side, zero mean, unit norm."""
    small = _grey_blocks(images, side)
    dx, dy = np.diff(small, axis=2)[:, :-1], np.diff(small, axis=1)[:, :, :-1]
    return _unit_rows(np.hypot(dx, dy).reshape(len(small), -1))


def _grey_blocks(images, side: int) -> np.ndarray:
    """B×side×side block means of the images' BT.601 grey (H and W multiples of side)."""
    x = to_float(images)
    if x.ndim == 3:
        x = x[None]
    grey = x @ _LUMA if x.shape[-1] == 3 else x[..., 0]
    b, h, w = grey.shape
    if h % side or w % side:
        raise ValueError(f"images of {h}×{w} do not divide into {side}×{side} blocks")
    return grey.reshape(b, side, h // side, side, w // side).mean(axis=(2, 4))


def _unit_rows(small: np.ndarray) -> np.ndarray:
    """Each row minus its mean, divided by its norm, as float32 (a flat row gives zeros)."""
    small = small - small.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(small, axis=1, keepdims=True)
    flat = norm < 1e-9  # rounding residue of a flat image, not structure
    return np.divide(small, norm, out=np.zeros_like(small), where=~flat).astype(np.float32)


def identity_ranks(queries: np.ndarray, gallery: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each query signature, the rank (1 = most similar) of its true gallery entry
    `truth[i]` among all gallery signatures by cosine similarity; ties count in its favour
    (rank = 1 + the number of entries strictly more similar)."""
    sim = queries @ gallery.T
    own = sim[np.arange(len(queries)), truth]
    return 1 + (sim > own[:, None]).sum(axis=1)


def top_k_rate(ranks, k: int) -> float:
    """Fraction of queries whose true entry is among the k most similar."""
    return float((np.asarray(ranks) <= k).mean())


# ------------------------------------------------------------------------------- ink overlap
def ink_dice(a, b, level: float) -> np.ndarray:
    """Dice overlap of the ink (pixels < level) of two batches of grey images B×H×W on the
    same scale; 1 where neither has ink. Returns (B,)."""
    ia, ib = np.asarray(a) < level, np.asarray(b) < level
    both = (ia & ib).sum(axis=(1, 2))
    total = ia.sum(axis=(1, 2)) + ib.sum(axis=(1, 2))
    return np.where(total > 0, 2.0 * both / np.maximum(total, 1), 1.0)
