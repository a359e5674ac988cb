"""Incomplete sketches for the robustness test: whole strokes removed, up to a share of the ink.

A stroke is an 8-connected component of ink (pixels darker than `INK_LEVEL`, as in
`dsf.data.augment`). Two ways to remove them (`removal`):

- "ink" (default): strokes in a random order are removed while the ink removed stays within
  `fraction` of the sketch's ink pixels; a stroke that would overshoot is skipped and the next
  one tried. So one dark hair mass (a single "stroke" with most of the ink) is never removed
  whole, and the achieved share is at most `fraction` (close to it when strokes are small).
- "strokes": `dsf.data.augment.drop_strokes`, round(fraction · n) of the n strokes whatever
  their size (the evaluator's earlier test: the ink removed varies from none to nearly all).

Each sketch gets its own generator, `np.random.default_rng([seed, index])`.
"""
from __future__ import annotations

import numpy as np

from ..data.augment import INK_LEVEL, drop_strokes, label_components

REMOVALS = ("ink", "strokes")


def remove_ink(sketch: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Remove whole strokes, in random order, while at most `fraction` of the ink is gone."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    labels, n = label_components(sketch < INK_LEVEL)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    budget = fraction * sizes.sum()
    removed, chosen = 0, []
    for stroke in rng.permutation(n):
        if removed + sizes[stroke] <= budget:
            removed += sizes[stroke]
            chosen.append(stroke + 1)
    out = sketch.copy()
    out[np.isin(labels, chosen)] = 255
    return out


def ink_removed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Share of each sketch's ink pixels that are gone (B×H×W uint8 batches) → (B,)."""
    ink_before = (before < INK_LEVEL).sum(axis=(1, 2))
    ink_after = (after < INK_LEVEL).sum(axis=(1, 2))
    return 1.0 - ink_after / np.maximum(ink_before, 1)


def incomplete_sketches(sketches: np.ndarray, indices, fraction: float, seed: int,
                        removal: str = "ink") -> np.ndarray:
    """Each sketch with strokes removed (see the module docstring); `indices` name each
    sketch's generator (its index in the test pack), so results do not depend on the order."""
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")
    remove = remove_ink if removal == "ink" else drop_strokes
    return np.stack([remove(s, fraction, np.random.default_rng([seed, int(i)])) for s, i in zip(sketches, indices)])


def removal_summary(shares: np.ndarray) -> dict:
    """Distribution of the per-sketch share of ink removed."""
    return {"mean": float(shares.mean()), "median": float(np.median(shares)),
            "p10": float(np.percentile(shares, 10)), "p90": float(np.percentile(shares, 90)),
            "over_half": float((shares > 0.5).mean())}
