"""Incomplete sketches for the robustness test: strokes removed, up to a share of the ink.

A stroke is an 8-connected component of ink (pixels darker than `INK_LEVEL`, as in
`dsf.data.augment`). Two ways to remove them (`removal`):

- "ink" (default): a stroke that crosses several tiles of a grid of `TILES`×`TILES` tiles
  (16 px at 128²) counts as one piece per tile, so a face outline drawn in one line or a dark
  hair mass is many pieces, not one. Pieces in a random order are removed while the ink
  removed stays within `fraction` of the sketch's ink pixels (a piece that would overshoot is
  skipped and the next one tried): the share removed is at most `fraction`, and close to it.
- "strokes": `dsf.data.augment.drop_strokes`, round(fraction · n) of the n whole strokes
  whatever their size (the evaluator's earlier test: on FS2K one connected component often
  holds most of the ink, so the share removed ran from none to nearly all).

Each sketch gets its own generator, `np.random.default_rng([seed, index])`.
"""
from __future__ import annotations

import numpy as np

from ..data.augment import INK_LEVEL, drop_strokes, label_components

REMOVALS = ("ink", "strokes")


TILES = 8
"""Tiles per side of the grid that cuts long strokes into pieces (removal "ink")."""


def stroke_pieces(sketch: np.ndarray, tiles: int = TILES) -> tuple[np.ndarray, int]:
    """Each stroke cut along a tiles×tiles grid: (int labels, 0 = paper, 1..n; n). A piece
    is the part of one stroke inside one tile."""
    strokes, _ = label_components(sketch < INK_LEVEL)
    h, w = sketch.shape
    tile = (np.arange(h)[:, None] * tiles // h) * tiles + np.arange(w)[None, :] * tiles // w
    ink = strokes > 0
    _, piece = np.unique(strokes[ink].astype(np.int64) * tiles * tiles + tile[ink], return_inverse=True)
    labels = np.zeros(strokes.shape, np.int32)
    labels[ink] = piece + 1
    return labels, int(piece.max(initial=-1)) + 1


def remove_ink(sketch: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Remove stroke pieces (`stroke_pieces`), in random order, while at most `fraction` of
    the ink is gone."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    labels, n = stroke_pieces(sketch)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    budget = fraction * sizes.sum()
    removed, chosen = 0, []
    for piece in rng.permutation(n):
        if removed + sizes[piece] <= budget:
            removed += sizes[piece]
            chosen.append(piece + 1)
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
