"""Evaluation on a held-out split: how close the generated faces come to the real photos.

    python -m dsf.evaluate --params params/compact128 --data data/prepared_128 --split test

For every test sketch the model makes a face at refine r ∈ {0, 0.5, 1} (r = 1: fully
projected onto the training manifold, 0: the raw sketch latent), and each face is compared
with the real, aligned photo of that sketch:

- **L1**: mean |a − b| over pixels and RGB channels, images scaled to [0, 1] (lower is better);
- **SSIM**: Wang et al. (2004) structural similarity, Gaussian window 11×11 with σ = 1.5,
  K1 = 0.01, K2 = 0.03, data range 1, computed on each RGB channel separately and averaged
  over channels and over the map (higher is better). The map covers the "valid" window
  positions only (no padding), as in the authors' reference `ssim_index.m`; variances and
  the covariance are the Gaussian-weighted, biased ones. `ssim(..., mode="luma")` computes it
  on BT.601 luminance instead.
- **face rate**: the fraction of images in which the data module's offline face-mesh detector
  (`dsf.data.landmarks.MeshDetector`, mediapipe) finds a face; images are upscaled to 256²
  first (bicubic; nearer the sizes the detector was built for). The real photos are run
  through it too, as a reference. Without mediapipe the rate is reported as "not measured".

Two baselines every real model must beat, scored the same way:

- **mean face**: the mean of the training photos (one image for every test sketch);
- **NN retrieval**: the training photo whose sketch is nearest to the test sketch, measured on
  the five component latents of the model's own encoders, concatenated. The training latents
  are the bank rows; each row's "id" label finds its photo in the training pack (by id, not
  by position).

Robustness (the paper's claim that projection helps with incomplete sketches): each test
sketch loses ~30 % of its strokes (8-connected ink components, `dsf.data.augment.drop_strokes`,
one fixed-seed generator per sketch index) and everything above is measured again, paired
over the same sketches. A "stroke" is a connected component, so the ink removed varies a
lot (one dark hair mass can be a single stroke); the report gives its distribution.

Running it: encoding and synthesis go in batches of `--batch` (a short last batch is padded,
so Jittor compiles each kernel once); metrics and the face detector run in one worker thread
beside the synthesis (the detector is only ever called from that thread). The evaluation uses
float32 SSIM (within 1e-5 of float64). `--limit N` evaluates N sketches spread over the split;
`--robust-limit N` runs the stroke-removal part on N of them only (deltas stay paired).
`--max-minutes M` is a time budget: both parts run in a fixed shuffled order (the grids'
sketches first) and stop starting new batches when it is spent (the intact part at 80 % of
it), and the report says how many sketches each part covered. Per-image values go to
`per_image.npz`.

Outputs in `--out` (default `runs/eval_<params folder name>`): `report.md`, `report.json`,
`grid_test.png` (12 test sketches and their faces at r = 0.5), `grid_robustness.png` (intact
vs. strokes removed, faces at r = 0, 0.5, 1) and `grid_baselines.png` (sketch, real photo,
mean face, NN retrieval, model at r = 0.5).

The API: `l1`, `ssim`, `ssim_map` (metrics, numpy only), `evaluate(pipe, test, train, out)`
(packs as dicts, so tests can pass in-memory data), `main(argv)` (the command line).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .config import PARTS

__all__ = ["REFINES", "SSIM_SIGMA", "SSIM_WINDOW", "SSIM_K1", "SSIM_K2", "DETECTOR_SIZE",
           "gaussian_window", "to_float", "l1", "ssim", "ssim_map", "subset_indices",
           "face_detector", "evaluate", "main"]

REFINES = (0.0, 0.5, 1.0)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DETECTOR_SIZE = 256
"""Side the images are upscaled to (bicubic) before the face-mesh detector sees them."""

SETTINGS = ("intact", "strokes_removed")


def setting_titles(drop_fraction: float) -> dict:
    return {"intact": "intact", "strokes_removed": f"{round(100 * drop_fraction)}% strokes removed"}
_LUMA = np.array([0.299, 0.587, 0.114])


# ------------------------------------------------------------------------------------ metrics
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


def ssim_map(a, b, mode: str = "rgb", window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA,
             k1: float = SSIM_K1, k2: float = SSIM_K2, dtype=np.float64) -> np.ndarray:
    """The SSIM map (valid positions): B×(H−w+1)×(W−w+1)×C (C = 1 with mode="luma"), or
    without the batch axis for a single image. Inputs as in `to_float`; data range 1.
    dtype: float64 (default) or float32 (half the time; SSIM differs by ~1e-6)."""
    x, y, single = _pair(a, b)
    x, y = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
    if mode == "luma":
        if x.shape[-1] == 3:
            luma = _LUMA.astype(x.dtype)
            x, y = (x @ luma)[..., None], (y @ luma)[..., None]
    elif mode != "rgb":
        raise ValueError(f"mode must be 'rgb' (per-channel mean) or 'luma', got {mode!r}")
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


# ------------------------------------------------------------------------------------ helpers
def subset_indices(n: int, limit: int | None) -> np.ndarray:
    """All of range(n), or `limit` indices spread evenly over it (first and last included),
    so a quick run still samples every part of a pack ordered by source/style."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def face_detector(kind="auto"):
    """The face detector used for the face rate: `kind` "auto" → `MeshDetector` when mediapipe
    is installed, else None (not measured); None → None; a callable (rgb → result or None) is
    returned as it is. Returns (callable or None, description)."""
    if kind is None:
        return None, "not measured (disabled)"
    if callable(kind):
        return kind, getattr(kind, "__name__", type(kind).__name__)
    if kind != "auto":
        raise ValueError(f"detector must be 'auto', None or a callable, got {kind!r}")
    try:
        from .data.landmarks import MeshDetector

        return MeshDetector(), "mediapipe 0.10 face mesh (dsf.data.landmarks.MeshDetector)"
    except ImportError:
        return None, "not measured (mediapipe is not installed)"


def _upscale(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if img.shape[0] == size:
        return np.ascontiguousarray(img)
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))


def _detect(detector, images: np.ndarray, size: int) -> np.ndarray:
    return np.array([detector(_upscale(im, size)) is not None for im in images], bool)


def _check_pack(pack: dict, canvas: int, what: str) -> None:
    for key in ("photos", "sketches", "ids"):
        if key not in pack:
            raise ValueError(f"{what} pack has no {key!r} array")
    n = len(pack["ids"])
    if pack["photos"].shape[1:] != (canvas, canvas, 3) or pack["sketches"].shape[1:] != (canvas, canvas) \
            or len(pack["photos"]) != n or len(pack["sketches"]) != n:
        raise ValueError(f"{what} pack: photos {pack['photos'].shape}, sketches {pack['sketches'].shape}, "
                         f"{n} ids do not fit the model's {canvas}² canvas")
    if n == 0:
        raise ValueError(f"{what} pack is empty")


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """A short last batch padded to `size` rows (copies of its last row): every call then has
    the same shape, so Jittor compiles its kernels once. BatchNorm runs in eval or per-sample
    mode at inference, so the padding does not change the real rows."""
    return a if len(a) >= size else np.concatenate([a, np.repeat(a[-1:], size - len(a), axis=0)])


def _encode_all(pipe, sketches: np.ndarray, batch: int) -> dict:
    from ._jittor import jt

    from .components import split_components

    out = {p: [] for p in PARTS}
    for i in range(0, len(sketches), batch):
        crops = [split_components(s) for s in sketches[i:i + batch]]
        for p in PARTS:
            out[p].append(pipe.encode(p, _pad(np.stack([c[p] for c in crops]), min(batch, len(sketches))))[:len(crops)])
        jt.gc()
    return {p: np.concatenate(v).astype(np.float32) for p, v in out.items()}


def _bank_ids(pipe) -> np.ndarray | None:
    """The per-row ids shared by every part's bank, or None when absent or not shared."""
    ids = [pipe.banks[p].labels.get("id") for p in PARTS]
    if any(i is None for i in ids):
        return None
    ids = [np.asarray(i).astype(str) for i in ids]
    if any(len(i) != len(ids[0]) or not np.array_equal(i, ids[0]) for i in ids):
        return None
    return ids[0]


def _nn_retrieval(pipe, latents: dict, train_index: dict, bank_ids: np.ndarray) -> np.ndarray:
    """Training-pack index of the nearest training face (concatenated part latents) per query."""
    from .manifold import nearest_neighbours

    bank = np.concatenate([pipe.banks[p].vectors for p in PARTS], axis=1)
    q = np.concatenate([latents[p] for p in PARTS], axis=1)
    rows = nearest_neighbours(bank, q, 1)[0][:, 0]
    return np.array([train_index[bank_ids[r]] for r in rows], int)


def _stats(values: np.ndarray) -> dict:
    v = np.asarray(values, np.float64)
    sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "std": float(v.std()), "sem": sem}


# --------------------------------------------------------------------------------- evaluation
def evaluate(pipe, test: dict, train: dict, out=None, *, refines=REFINES, drop_fraction: float = 0.3,
             seed: int = 0, batch: int = 64, limit: int | None = None, detector="auto",
             detector_size: int = DETECTOR_SIZE, params=None, data=None, split: str = "test",
             robust_limit: int | None = None, max_minutes: float | None = None, threads: int = 2,
             curves=(), progress: bool = True) -> dict:
    """Score `pipe` on the `test` pack against its real photos, with both baselines and the
    stroke-removal robustness test; write the report and grids to `out` (skipped when None).

    test, train: packs as `dsf.data.dataset.load_pack` returns them (dicts with "photos"
      N×H×W×3 uint8, "sketches" N×H×W uint8, "ids"); the train pack gives the mean face
      and, matched by id to the banks' "id" labels, the NN-retrieval photos.
    refines: refine weights r of the model rows. drop_fraction / seed: stroke removal
      (`drop_strokes` with `np.random.default_rng([seed, index])` per test sketch).
    threads: synthesis threads. batch: sketches per encoding / synthesis batch. limit: evaluate `subset_indices(n, limit)`.
    robust_limit: run the stroke-removal part on `subset_indices(n, robust_limit)` of those
      only (None: all); its deltas are paired over the same sketches intact.
    max_minutes: time budget. The intact part always runs in full; the stroke-removal part
      (in a fixed shuffled order, the robustness grid's sketches first) starts no new batch
      once this many minutes have passed since the start (never before the grid's sketches), and the report says how many sketches it covered (None: no budget).
    detector: "auto", None or a callable (see `face_detector`). params / data: labels for the
      report. curves: image paths (training curves) copied next to the report and linked.
    Returns the report dict (also written to `report.json`).
    """
    from ._jittor import jt
    from tqdm import tqdm

    from .data.augment import INK_LEVEL, drop_strokes

    t_start = time.perf_counter()
    timings = {}
    titles = setting_titles(drop_fraction)
    canvas = pipe.config.canvas
    _check_pack(test, canvas, "test")
    _check_pack(train, canvas, "train")
    refines = tuple(float(r) for r in refines)
    for r in refines:
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"refine weights must lie in [0, 1], got {r}")

    idx = subset_indices(len(test["ids"]), limit)
    n = len(idx)
    photos = np.asarray(test["photos"][idx])
    test_ids = np.asarray(test["ids"][idx]).astype(str)
    # Positions (into the evaluated subset) that each sketch setting covers, in the order they
    # are processed: the grids' sketches first, then a fixed shuffle, so that when the time
    # budget stops a part early the sketches done are still spread over the whole split. The
    # stroke-removal part follows the intact part's order (its deltas need both).
    grid_pos = subset_indices(n, 12)  # grid_test / grid_baselines
    robust = subset_indices(n, robust_limit)
    rob_pos = robust[subset_indices(len(robust), 4)]  # grid_robustness
    first = np.union1d(grid_pos, rob_pos)
    rest = np.setdiff1d(np.arange(n), first)
    intact_order = np.concatenate([first, rest[np.random.default_rng(seed).permutation(len(rest))]])
    rank = np.empty(n, int)
    rank[intact_order] = np.arange(n)
    rob_rest = np.setdiff1d(robust, rob_pos)
    positions = {"intact": intact_order,
                 "strokes_removed": np.concatenate([rob_pos, rob_rest[np.argsort(rank[rob_rest])]])}
    n_planned = {k: len(v) for k, v in positions.items()}
    sketches = {"intact": np.asarray(test["sketches"][idx])}
    sketches["strokes_removed"] = np.stack([
        drop_strokes(sketches["intact"][p], drop_fraction, np.random.default_rng([seed, int(idx[p])]))
        for p in positions["strokes_removed"]])

    ink_before = (sketches["intact"][positions["strokes_removed"]] < INK_LEVEL).sum(axis=(1, 2))
    ink_after = (sketches["strokes_removed"] < INK_LEVEL).sum(axis=(1, 2))
    ink_removed = 1.0 - ink_after / np.maximum(ink_before, 1)

    bank_ids = _bank_ids(pipe)
    nn_note = None
    nn_index = None
    if bank_ids is None:
        nn_note = "not available: the banks carry no shared per-row 'id' label"
    else:
        train_ids = np.asarray(train["ids"]).astype(str)
        train_index = {v: i for i, v in enumerate(train_ids)}
        missing = sorted(set(bank_ids) - set(train_index))
        if missing:
            raise ValueError(f"{len(missing)} bank ids are not in the training pack (e.g. {missing[:3]}): "
                             f"is this the pack the model was trained on?")
        nn_index = {}

    # ---- encode and project (once per sketch setting) --------------------------------------
    # Latents, projections and NN rows of a setting are in its processing order, like its
    # metrics: row j belongs to sketch positions[s][j]. (`sketches["intact"]` stays indexed by
    # position for the grids and the stroke removal.)
    t = time.perf_counter()
    latents, projected = {}, {}
    in_order = {"intact": sketches["intact"][positions["intact"]], "strokes_removed": sketches["strokes_removed"]}
    for s in SETTINGS:
        latents[s] = _encode_all(pipe, in_order[s], batch)
    timings["encode"] = time.perf_counter() - t
    t = time.perf_counter()
    for s in SETTINGS:
        projected[s] = {p: pipe.project(p, latents[s][p], 1.0)[0].projected.astype(np.float32) for p in PARTS}
    timings["project"] = time.perf_counter() - t

    # ---- baselines --------------------------------------------------------------------------
    train_photos = np.asarray(train["photos"])
    mean_face_f = train_photos.reshape(len(train_photos), -1).mean(axis=0, dtype=np.float64)
    mean_face_f = mean_face_f.reshape(canvas, canvas, 3) / 255.0
    mean_face = np.clip(mean_face_f * 255 + 0.5, 0, 255).astype(np.uint8)
    if nn_index is not None:
        nn_index = {s: _nn_retrieval(pipe, latents[s], train_index, bank_ids) for s in SETTINGS}
        overlap = set(test_ids) & set(bank_ids)
        if overlap:
            nn_note = f"warning: {len(overlap)} test ids are also bank rows (leak)"

    det, det_desc = face_detector(detector)
    if det is not None:
        timings["detector"] = 0.0
        _raw_det = det

        def det(rgb):  # noqa: F811  (the same detector, timed)
            t0 = time.perf_counter()
            found = _raw_det(rgb)
            timings["detector"] += time.perf_counter() - t0
            return found

    # ---- the model and the baselines, batched, metrics streamed -------------------------------
    keep = {"intact": set(grid_pos.tolist()) | set(rob_pos.tolist()), "strokes_removed": set(rob_pos.tolist())}
    per_image = {}  # (method, setting) → {"l1": (m,), "ssim": (m,), "face": (m,) bool or None}
    kept = {}  # (method, setting) → {position in the subset: image} for the grids

    # Metrics and the detector run in one worker thread, alongside the synthesis (numpy,
    # mediapipe and Jittor all release the GIL while they compute); results land in
    # `per_image`, which the main thread reads only after the worker is done.
    pool = ThreadPoolExecutor(max_workers=1)
    pending = []
    timings["metrics"] = 0.0

    def work(rec, sl, images, targets, faces):
        t0 = time.perf_counter()
        rec["l1"][sl] = l1(images, targets)
        rec["ssim"][sl] = ssim(images, targets, dtype=np.float32)
        timings["metrics"] += time.perf_counter() - t0
        if rec["face"] is not None:
            rec["face"][sl] = _detect(det, images, detector_size) if faces is None else faces

    def score(key, s, images, j0, faces=None):
        """Queue the metrics of images j0:j0+len of setting s against their photos; `faces`:
        detector results already known (else the detector runs on `images`)."""
        pos = positions[s][j0:j0 + len(images)]
        m = len(positions[s])
        rec = per_image.setdefault((key, s), {"l1": np.zeros(m), "ssim": np.zeros(m),
                                              "face": None if det is None else np.zeros(m, bool)})
        # `images` is never written to afterwards (fresh synthesis output, a fancy-indexed
        # copy, or a read-only broadcast), so the worker may read it without a copy.
        pending.append(pool.submit(work, rec, slice(j0, j0 + len(images)), images, photos[pos], faces))
        for j, p in enumerate(pos):
            if int(p) in keep[s]:
                kept.setdefault((key, s), {})[int(p)] = images[j]

    def detect_later(target, images):
        def run():
            target[:] = _detect(det, images, detector_size)
        pending.append(pool.submit(run))

    model_keys = [f"model r={r:g}" for r in refines]
    n_steps = sum(-(-len(positions[s]) // batch) * (len(refines) + 1) for s in SETTINGS) + -(-n // batch)
    bar = tqdm(total=n_steps, desc="evaluate", disable=not progress, mininterval=2)
    real_face = None if det is None else np.zeros(n, bool)
    if det is not None:
        detect_later(real_face, photos)
    # The mean face is one image: the detector sees it once (in the worker: the detector is
    # never called from two threads); its metrics use the float mean (the uint8 copy is for
    # display and the detector only).
    mean_found = np.zeros(1, bool)
    if det is not None:
        detect_later(mean_found, mean_face[None])
    for j0 in range(0, n, batch):
        j1 = min(j0 + batch, n)
        score("mean face", "intact", np.broadcast_to(mean_face_f, (j1 - j0,) + mean_face_f.shape), j0,
              faces=False if det is not None else None)
        bar.update(1)
    kept[("mean face", "intact")] = {p: mean_face for p in keep["intact"]}
    if det is not None and nn_index is not None:  # retrieved photos repeat: detect each once
        nn_rows = np.unique(np.concatenate([nn_index[s] for s in SETTINGS]))
        nn_found = np.zeros(len(nn_rows), bool)
        detect_later(nn_found, train_photos[nn_rows])
    def keep_first(s, k, mask=None):
        """Cut setting s down to its first k sketches (or those where `mask` is true)."""
        nonlocal ink_removed
        sel = slice(0, k) if mask is None else mask
        positions[s] = positions[s][sel]
        for key_s, rec in list(per_image.items()):
            if key_s[1] == s:  # views on the worker's arrays (k is a prefix): its writes show
                per_image[key_s] = {k_: None if v is None else v[sel] for k_, v in rec.items()}
        if s == "strokes_removed":
            sketches[s] = sketches[s][sel]
            latents[s] = {p: v[sel] for p, v in latents[s].items()}
            projected[s] = {p: v[sel] for p, v in projected[s].items()}
            ink_removed = ink_removed[sel]
        if nn_index is not None:
            nn_index[s] = nn_index[s][sel]

    share = {"intact": 0.8, "strokes_removed": 1.0}  # of the budget, when it runs short
    # Synthesis runs in `threads` threads (Jittor leaves the GIL while it computes; outputs are
    # identical to a sequential run), a few batches ahead of the scoring, in order.
    synth_pool = ThreadPoolExecutor(max_workers=threads)
    window = []

    def drain(upto):
        while len(window) > upto:
            fut, key_, s_, j0_, size = window.pop(0)
            score(key_, s_, fut.result()[:size], j0_)
            bar.update(1)

    t_loop = time.perf_counter()
    for s in SETTINGS:
        bar.set_description(f"evaluate [{titles[s]}]")
        if s == "strokes_removed" and len(positions["intact"]) < n_planned["intact"]:
            keep_first(s, None, np.isin(positions[s], positions["intact"]))
        m = len(positions[s])
        for j0 in range(0, m, batch):
            j1 = min(j0 + batch, m)
            if (max_minutes is not None and j0 >= (len(first) if s == "intact" else len(rob_pos))
                    and time.perf_counter() - t_start > 60 * max_minutes * share[s]):
                keep_first(s, j0)  # the time budget is spent: stop this part here
                break
            if nn_index is not None:
                score("NN retrieval", s, train_photos[nn_index[s][j0:j1]], j0, faces=False if det is not None else None)
            bar.update(1)
            for r, key in zip(refines, model_keys):
                blended = {p: _pad(r * projected[s][p][j0:j1] + (1.0 - r) * latents[s][p][j0:j1], min(batch, m))
                           for p in PARTS}
                window.append((synth_pool.submit(pipe.synthesize, blended), key, s, j0, j1 - j0))
                drain(2 * threads)
        drain(0)
        jt.gc()
    synth_pool.shutdown()
    t_synth = time.perf_counter() - t_loop
    bar.close()
    t = time.perf_counter()
    for fut in tqdm(pending, desc="metrics and face detector", disable=not progress, mininterval=2):
        fut.result()
    pool.shutdown()
    timings["worker_wait"] = time.perf_counter() - t
    if det is not None:
        per_image[("mean face", "intact")]["face"][:] = mean_found[0]
    for s in SETTINGS:
        if len(positions[s]) < n_planned[s]:
            print(f"dsf.evaluate: time budget of {max_minutes} min spent; {titles[s]}: "
                  f"{len(positions[s])} of {n_planned[s]} sketches done", file=sys.stderr)
    # j index of each position in the intact arrays (the robustness deltas are paired)
    intact_j = np.full(n, -1)
    intact_j[positions["intact"]] = np.arange(len(positions["intact"]))
    rj = intact_j[positions["strokes_removed"]]
    per_image[("mean face", "strokes_removed")] = {
        k: None if v is None else v[rj] for k, v in per_image[("mean face", "intact")].items()}
    if det is not None and nn_index is not None:
        for s in SETTINGS:
            per_image[("NN retrieval", s)]["face"][:] = nn_found[np.searchsorted(nn_rows, nn_index[s])]
    timings["synthesis_loop"] = t_synth

    # ---- the report ---------------------------------------------------------------------------
    methods = ["mean face"] + (["NN retrieval"] if nn_index is not None else []) + model_keys
    rows = []
    for s in SETTINGS:
        for m in methods:
            rec = per_image[(m, s)]
            rows.append({
                "method": m, "setting": s, "refine": float(m.split("=")[1]) if m.startswith("model") else None,
                "n": len(positions[s]), "l1": _stats(rec["l1"]), "ssim": _stats(rec["ssim"]),
                "face_rate": None if rec["face"] is None else float(rec["face"].mean()),
            })
    table = {(r["method"], r["setting"]): r for r in rows}
    checks = {}
    main_key = "model r=0.5" if "model r=0.5" in model_keys else model_keys[len(model_keys) // 2]
    m = table[(main_key, "intact")]
    for base in ("mean face", "NN retrieval"):
        if (base, "intact") not in table:
            continue
        b = table[(base, "intact")]
        slug = base.replace(" ", "_").lower()
        checks[f"beats_{slug}_l1"] = m["l1"]["mean"] < b["l1"]["mean"]
        checks[f"beats_{slug}_ssim"] = m["ssim"]["mean"] > b["ssim"]["mean"]
        mi, bi = per_image[(main_key, "intact")], per_image[(base, "intact")]
        checks[f"win_rate_vs_{slug}_l1"] = float((mi["l1"] < bi["l1"]).mean())
        checks[f"win_rate_vs_{slug}_ssim"] = float((mi["ssim"] > bi["ssim"]).mean())
    checks["face_rate_at_least_0.9"] = None if m["face_rate"] is None else m["face_rate"] >= 0.9
    # robustness: paired over the sketches that lost strokes (the same sketches intact)
    rp = rj  # the intact arrays' entries of the sketches that lost strokes
    robustness = {}
    for key in model_keys + (["NN retrieval"] if nn_index is not None else []):
        a_, b_ = per_image[(key, "intact")], per_image[(key, "strokes_removed")]
        robustness[key] = {
            "n": len(rp),
            "l1_intact": float(a_["l1"][rp].mean()), "l1_removed": float(b_["l1"].mean()),
            "ssim_intact": float(a_["ssim"][rp].mean()), "ssim_removed": float(b_["ssim"].mean()),
            "l1_change": float((b_["l1"] - a_["l1"][rp]).mean()),
            "l1_change_sem": _stats(b_["l1"] - a_["l1"][rp])["sem"],
            "ssim_change": float((b_["ssim"] - a_["ssim"][rp]).mean()),
            "ssim_change_sem": _stats(b_["ssim"] - a_["ssim"][rp])["sem"],
            "face_rate_change": None if a_["face"] is None else float(b_["face"].mean() - a_["face"][rp].mean()),
        }
    lo, hi = f"model r={min(refines):g}", f"model r={max(refines):g}"
    if lo != hi:  # the paper's claim: projection makes the result degrade less
        checks[f"robustness_{hi.split()[1]}_loses_less_l1_than_{lo.split()[1]}"] = \
            robustness[hi]["l1_change"] < robustness[lo]["l1_change"]
        checks[f"robustness_{hi.split()[1]}_loses_less_ssim_than_{lo.split()[1]}"] = \
            robustness[hi]["ssim_change"] > robustness[lo]["ssim_change"]
    timings["total"] = time.perf_counter() - t_start

    report = {
        "params": None if params is None else str(params),
        "data": None if data is None else str(data),
        "split": split,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": pipe.config.name, "canvas": canvas, "k": pipe.config.k, "solver": pipe.config.solver,
        "bank_size": len(pipe.banks[PARTS[0]]), "n": len(positions["intact"]), "n_available": int(len(test["ids"])),
        "n_train_photos": int(len(train_photos)),
        "limit": limit, "robust_limit": robust_limit, "n_robust": len(positions["strokes_removed"]),
        "n_planned": n_planned["intact"], "n_robust_planned": n_planned["strokes_removed"],
        "max_minutes": max_minutes,
        "refines": list(refines), "drop_fraction": drop_fraction, "seed": seed,
        "ink_removed": {"mean": float(ink_removed.mean()), "median": float(np.median(ink_removed)),
                        "p10": float(np.percentile(ink_removed, 10)), "p90": float(np.percentile(ink_removed, 90)),
                        "over_half": float((ink_removed > 0.5).mean())},
        "metrics": {
            "l1": "mean |a - b| over pixels and RGB channels, images in [0, 1]",
            "ssim": {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1, "k2": SSIM_K2, "data_range": 1.0,
                     "channels": "per RGB channel, averaged", "positions": "valid (no padding)",
                     "precision": "float32 (within 1e-5 of float64)"},
            "face_rate": {"detector": det_desc, "input_size": detector_size},
        },
        "face_rate_real_photos": None if real_face is None else float(real_face[positions["intact"]].mean()),
        "nn_retrieval": nn_note or "nearest training face by concatenated 5-part sketch latents (bank rows), photo matched by id",
        "rows": rows,
        "checks": checks,
        "robustness": robustness,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "files": {},
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        removed = {int(p): sk for p, sk in zip(positions["strokes_removed"], sketches["strokes_removed"])
                   if int(p) in keep["strokes_removed"]}
        grid_sketches = {"intact": sketches["intact"], "strokes_removed": removed}
        report["files"] = _write_grids(out, grid_sketches, photos, test_ids, grid_pos, rob_pos, kept, mean_face,
                                       refines, model_keys, main_key, nn_index is not None, titles)
        for c in curves:
            c = Path(c)
            if not c.is_file():
                print(f"dsf.evaluate: training-curve image {c} not found; not linked", file=sys.stderr)
            else:
                dest = out / (f"curves_{c.parent.name}.png" if c.name == "curves.png" else c.name)
                shutil.copyfile(c, dest)
                report["files"].setdefault("curves", []).append(dest.name)
        report["timings_s"]["grids"] = round(time.perf_counter() - t, 2)
        arrays = {"ids": test_ids, **{f"positions/{s}": positions[s] for s in SETTINGS}}
        if real_face is not None:
            arrays["face/real photo"] = real_face
        for (key, s), rec in per_image.items():
            for metric, v in rec.items():
                if v is not None:
                    arrays[f"{metric}/{key}/{s}"] = v
        np.savez_compressed(out / "per_image.npz", **arrays)
        report["files"]["per_image"] = "per_image.npz"
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "report.md").write_text(_markdown(report))
    return report


# -------------------------------------------------------------------------------------- grids
MAX_PNG_BYTES = 550_000
"""Grids above this size are re-saved with a 256-colour palette (the docs keep PNGs small)."""


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt
    from PIL import Image

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if path.stat().st_size > MAX_PNG_BYTES:
        with Image.open(path) as im:
            pal = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        pal.save(path, optimize=True)


def _write_grids(out: Path, sketches, photos, ids, grid_pos, rob_pos, kept, mean_face, refines, model_keys,
                 main_key, has_nn, titles) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def show(ax, img, title=None, grey=False):
        ax.imshow(img, cmap="gray" if grey else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if title:
            ax.set_title(title, fontsize=7)

    files = {}
    # grid_test: 4 rows × 6 columns = 12 (sketch, face) pairs at the main refine
    pos = list(grid_pos)
    rows_, cols = 4, 6
    fig, axes = plt.subplots(rows_, cols, figsize=(cols * 1.7, rows_ * 1.85))
    for j, ax in enumerate(axes.flat):
        k = (j // cols) * (cols // 2) + (j % cols) // 2
        if k >= len(pos):
            ax.axis("off")
            continue
        p = pos[k]
        if j % 2 == 0:
            show(ax, sketches["intact"][p], f"{ids[p][-22:]}", grey=True)
        else:
            show(ax, kept[(main_key, "intact")][p], main_key.replace("model ", "face, "))
    fig.suptitle(f"Held-out test sketches and their faces ({main_key.replace('model ', '')})", fontsize=10)
    _save(fig, out / "grid_test.png")
    files["grid_test"] = "grid_test.png"

    # grid_robustness: a few sketches, intact vs strokes removed, faces at every refine
    rob = [int(p) for p in rob_pos if int(p) in sketches["strokes_removed"]]
    cols = 2 * (1 + len(refines))
    fig, axes = plt.subplots(len(rob), cols, figsize=(cols * 1.45, len(rob) * 1.6), squeeze=False)
    for row, p in enumerate(rob):
        c = 0
        for s in SETTINGS:
            show(axes[row, c], sketches[s][p], f"sketch, {titles[s]}" if row == 0 else None, grey=True)
            c += 1
            for key in model_keys:
                show(axes[row, c], kept[(key, s)][p], key.replace("model ", "") if row == 0 else None)
                c += 1
    fig.suptitle(f"Robustness: intact sketch vs {titles['strokes_removed']}; faces at each refine", fontsize=10)
    _save(fig, out / "grid_robustness.png")
    files["grid_robustness"] = "grid_robustness.png"

    # grid_baselines: sketch, real photo, mean face, NN retrieval, model at the main refine
    base = pos[:: max(1, len(pos) // 6)][:6]
    heads = ["sketch", "real photo", "mean face"] + (["NN retrieval"] if has_nn else []) + [main_key.replace("model", "model,")]
    fig, axes = plt.subplots(len(base), len(heads), figsize=(len(heads) * 1.5, len(base) * 1.55), squeeze=False)
    for row, p in enumerate(base):
        imgs = [(sketches["intact"][p], True), (photos[p], False), (mean_face, False)]
        if has_nn:
            imgs.append((kept[("NN retrieval", "intact")][p], False))
        imgs.append((kept[(main_key, "intact")][p], False))
        for c, (img, grey) in enumerate(imgs):
            show(axes[row, c], img, heads[c] if row == 0 else None, grey=grey)
    fig.suptitle("Baselines vs the model", fontsize=10)
    _save(fig, out / "grid_baselines.png")
    files["grid_baselines"] = "grid_baselines.png"
    return files


# ----------------------------------------------------------------------------------- markdown
def _fmt(stat: dict, digits: int = 4) -> str:
    return f"{stat['mean']:.{digits}f} ± {stat['sem']:.{digits}f}"


def _markdown(rep: dict) -> str:
    def rate(x):
        return "not measured" if x is None else f"{100 * x:.1f} %"

    limit = "" if rep["limit"] is None else f", --limit {rep['limit']}"
    budget = "" if rep["n_robust"] == rep["n_robust_planned"] else \
        f" (time budget of {rep['max_minutes']} min reached; {rep['n_robust_planned']} planned, taken in a fixed shuffled order)"
    if rep["n"] < rep["n_planned"]:
        limit += (f"; time budget of {rep['max_minutes']} min reached after {rep['n']} of {rep['n_planned']} "
                  f"planned, taken in a fixed shuffled order")

    lines = [
        f"# Evaluation: {rep['model']} on the {rep['split']} split",
        "",
        f"- parameters: `{rep['params']}`; data: `{rep['data']}`; split: `{rep['split']}` "
        f"({rep['n']} of {rep['n_available']} sketches{limit})",
        f"- date: {rep['date']}; canvas {rep['canvas']}²; projection k = {rep['k']}, solver `{rep['solver']}`, "
        f"bank of {rep['bank_size']} training faces; mean face over {rep['n_train_photos']} training photos",
        f"- L1: {rep['metrics']['l1']} (lower is better). SSIM: Gaussian window "
        f"{rep['metrics']['ssim']['window']}×{rep['metrics']['ssim']['window']}, σ = {rep['metrics']['ssim']['sigma']}, "
        f"K1 = {rep['metrics']['ssim']['k1']}, K2 = {rep['metrics']['ssim']['k2']}, per RGB channel and averaged, "
        f"valid positions (higher is better). Values: mean ± standard error over images.",
        f"- face rate: {rep['metrics']['face_rate']['detector']}, images upscaled to "
        f"{rep['metrics']['face_rate']['input_size']}²; on the real test photos: {rate(rep['face_rate_real_photos'])}",
        f"- NN retrieval: {rep['nn_retrieval']}",
        f"- strokes removed: {round(100 * rep['drop_fraction'])} % of each sketch's 8-connected strokes, "
        f"seed {rep['seed']} (per-sketch generator), on {rep['n_robust']} of the {rep['n']} sketches"
        f"{budget}; "
        f"ink pixels removed per sketch: mean {100 * rep['ink_removed']['mean']:.0f} %, median "
        f"{100 * rep['ink_removed']['median']:.0f} %, 10–90 % range {100 * rep['ink_removed']['p10']:.0f}–"
        f"{100 * rep['ink_removed']['p90']:.0f} %, over half the ink in {100 * rep['ink_removed']['over_half']:.0f} % "
        f"of sketches (strokes are connected components: one dark hair mass can be one \"stroke\")",
        "",
        "| method | sketch | L1 ↓ | SSIM ↑ | face rate ↑ | n |",
        "|---|---|---|---|---|---|",
    ]
    for r in rep["rows"]:
        lines.append(f"| {r['method']} | {setting_titles(rep['drop_fraction'])[r['setting']]} | {_fmt(r['l1'])} | {_fmt(r['ssim'])} | "
                     f"{rate(r['face_rate'])} | {r['n']} |")
    lines += ["", "## Checks (intact sketches, model at r = 0.5)", ""]
    for k, v in rep["checks"].items():
        lines.append(f"- {k}: {v if not isinstance(v, float) else f'{v:.3f}'}")
    lines += ["", f"## Robustness: the same {rep['n_robust']} sketches intact and with "
              f"{round(100 * rep['drop_fraction'])} % of their strokes removed", "",
              "| method | L1 intact | L1 removed | Δ L1 (+ = worse) | SSIM intact | SSIM removed | "
              "Δ SSIM (− = worse) | Δ face rate |", "|---|---|---|---|---|---|---|---|"]
    for k, v in rep["robustness"].items():
        dface = "—" if v["face_rate_change"] is None else f"{100 * v['face_rate_change']:+.1f} pts"
        lines.append(f"| {k} | {v['l1_intact']:.4f} | {v['l1_removed']:.4f} | {v['l1_change']:+.4f} ± "
                     f"{v['l1_change_sem']:.4f} | {v['ssim_intact']:.4f} | {v['ssim_removed']:.4f} | "
                     f"{v['ssim_change']:+.4f} ± {v['ssim_change_sem']:.4f} | {dface} |")
    if rep["files"]:
        lines += ["", "## Grids", ""]
        for name in ("grid_test", "grid_robustness", "grid_baselines"):
            if name in rep["files"]:
                lines.append(f"![{name}]({rep['files'][name]})")
                lines.append("")
        for c in rep["files"].get("curves", []):
            lines.append(f"![training curves]({c})")
            lines.append("")
    t = rep["timings_s"]
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v}" for k, v in t.items()), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsf.evaluate", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=None, help="model folder (default: the kit's shipped parameters)")
    ap.add_argument("--data", default="data/prepared", help="prepared data root with pack_<split>.npz")
    ap.add_argument("--split", default="test", help="split to evaluate (default: test)")
    ap.add_argument("--out", default=None, help="output folder (default: runs/eval_<params folder name>)")
    ap.add_argument("--limit", type=int, default=None, help="evaluate N sketches spread over the split")
    ap.add_argument("--batch", type=int, default=64, help="sketches per encoding / synthesis batch")
    ap.add_argument("--seed", type=int, default=0, help="stroke-removal seed")
    ap.add_argument("--drop", type=float, default=0.3, help="fraction of strokes removed (default 0.3)")
    ap.add_argument("--robust-limit", type=int, default=None,
                    help="run the stroke-removal part on N of the evaluated sketches, spread evenly (default: all)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="time budget: the stroke-removal part starts no new batch after this many minutes")
    ap.add_argument("--threads", type=int, default=2, help="synthesis threads (default 2)")
    ap.add_argument("--no-faces", action="store_true", help="skip the face detector (face rate not measured)")
    ap.add_argument("--curves", nargs="*", default=(), help="training-curve images to link in the report")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)

    from .data.dataset import load_pack
    from .params import DEFAULT_PARAMS
    from .pipeline import load_pipeline

    params = Path(a.params) if a.params else DEFAULT_PARAMS
    out = Path(a.out) if a.out else Path("runs") / f"eval_{params.name}"
    pipe = load_pipeline(params)
    test, train = load_pack(a.data, a.split), load_pack(a.data, "train")
    evaluate(pipe, test, train, out, drop_fraction=a.drop, seed=a.seed, batch=a.batch, limit=a.limit,
             robust_limit=a.robust_limit, max_minutes=a.max_minutes, threads=a.threads,
             detector=None if a.no_faces else "auto", params=a.params or str(DEFAULT_PARAMS),
             data=a.data, split=a.split, curves=a.curves, progress=not a.quiet)
    print((out / "report.md").read_text())
    print(f"wrote {out}/report.md, report.json and the grids")
    return 0


if __name__ == "__main__":
    sys.exit(main())
