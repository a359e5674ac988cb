"""Measurements of the paper's effects on held-out sketches, all through `Pipeline` methods.

- **locality**: for pairs (a, b) of test sketches at refine 0.5, a's face with one part's
  blended latent (the one the feature decoder gets) replaced by b's, against a's own face:
  mean |Δ| inside the part's region and outside it; ratio = mean inside / mean outside
  (1: the part changes the whole face as much as its own window; large: a local edit).
- **refine response**: for each sketch, the face with one part at refine 1 against the face
  with that part at refine 0, every other part at 0.5: mean |Δ| inside and outside the part's
  region, in /255 units.
- **stage-1 reconstruction**: each part's crop through its encoder and sketch decoder: L1 on
  [0, 1] against the crop, and the Dice overlap of their ink (pixels darker than mid-grey,
  `RECONSTRUCTION_INK_LEVEL`; the decoders' blurry strokes rarely reach the sketches' black).

A part's region is its window (`dsf.components.windows`); the remainder's is everything
outside the four windows. |Δ| is averaged over the RGB channels and the region's pixels.
"""
from __future__ import annotations

import numpy as np

from ..components import crops_by_part, part_regions
from ..config import PARTS
from .batches import blend_all, synthesize_all
from .metrics import change_ratio, ink_dice, region_change, stats

RECONSTRUCTION_INK_LEVEL = 0.5
"""Ink threshold on [0, 1] for the stage-1 ink overlap."""
EXAMPLES = 4
"""Sketches (pairs) whose faces are kept for the figures."""


def sketch_pairs(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` pairs (a, b), a ≠ b, of rows 0..n−1: a spread evenly over the rows, b the same
    rows in a fixed shuffled order shifted by one (so every a is some pair's b once)."""
    if n < 2:
        raise ValueError(f"pairs need at least 2 sketches, got {n}")
    a = np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))
    a = a[np.random.default_rng(seed).permutation(len(a))]
    return a, np.roll(a, 1)


def summarise(inside, outside) -> dict:
    """Per-part summary of region changes (in /255 units)."""
    return {"inside": stats(inside), "outside": stats(outside), "ratio": change_ratio(inside, outside),
            "n": len(inside)}


def locality(pipe, latents, projected, a, b, batch: int, threads: int = 1) -> dict:
    """Part swaps between sketches a[i] and b[i] (rows of latents/projected) at refine 0.5.
    Returns {"parts": part → summary, "examples": faces for the figures}."""
    half = dict.fromkeys(PARTS, 0.5)
    own, other = blend_all(latents, projected, half, a), blend_all(latents, projected, half, b)
    base = synthesize_all(pipe, own, batch, threads)
    regions = part_regions(pipe.config.canvas)
    parts, examples = {}, {"face": base[:EXAMPLES], "swapped": {}}
    for part in PARTS:
        swapped = synthesize_all(pipe, {**own, part: other[part]}, batch, threads)
        parts[part] = summarise(*region_change(swapped, base, regions[part]))
        examples["swapped"][part] = swapped[:EXAMPLES]
    return {"parts": parts, "examples": examples}


def refine_response(pipe, latents, projected, rows, batch: int, threads: int = 1) -> dict:
    """One part's refine 0 → 1 (the others at 0.5) on the given rows. Returns
    {"parts": part → summary, "examples": part → (faces at r=0, faces at r=1)}."""
    regions = part_regions(pipe.config.canvas)
    parts, examples = {}, {}
    for part in PARTS:
        faces = [synthesize_all(pipe, blend_all(latents, projected, {**dict.fromkeys(PARTS, 0.5), part: r}, rows),
                                batch, threads) for r in (0.0, 1.0)]
        parts[part] = summarise(*region_change(faces[1], faces[0], regions[part]))
        examples[part] = (faces[0][:EXAMPLES], faces[1][:EXAMPLES])
    return {"parts": parts, "examples": examples}


def reconstruction(pipe, sketches: np.ndarray, latents: dict, batch: int) -> dict:
    """Stage 1 on held-out sketches: part → {"l1": stats, "ink_dice": stats, "n"} of each crop
    against its auto-encoder reconstruction (`latents` are the sketches' encodings)."""
    l1s, dices = {p: [] for p in PARTS}, {p: [] for p in PARTS}
    for i in range(0, len(sketches), batch):
        crops = crops_by_part(sketches[i:i + batch])
        for part in PARTS:
            crop = crops[part].astype(np.float32) / 255.0
            decoded = np.clip((pipe.decode_sketch(part, latents[part][i:i + batch]) + 1) / 2, 0, 1)
            l1s[part].append(np.abs(crop - decoded).mean(axis=(1, 2)))
            dices[part].append(ink_dice(crop, decoded, RECONSTRUCTION_INK_LEVEL))
    return {p: {"l1": stats(np.concatenate(l1s[p])), "ink_dice": stats(np.concatenate(dices[p])),
                "n": len(sketches)} for p in PARTS}
