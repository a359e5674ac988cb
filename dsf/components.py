"""Component splitting (the input of the paper's Component Embedding).

A face sketch is cut into four square windows (two eyes, nose, mouth) and a remainder: the
whole sketch with those windows painted white. Window coordinates are the published ones on
the 512² canvas, scaled to other canvases by rounding half up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import PARTS, WINDOW_PARTS


@dataclass(frozen=True)
class Window:
    """A square window: columns x:x+size, rows y:y+size."""

    x: int
    y: int
    size: int

    @property
    def rows(self) -> slice:
        return slice(self.y, self.y + self.size)

    @property
    def cols(self) -> slice:
        return slice(self.x, self.x + self.size)

    @property
    def centre(self) -> tuple[float, float]:
        """(x, y) centre in pixel coordinates."""
        return (self.x + self.size / 2, self.y + self.size / 2)


PUBLISHED_WINDOWS = {
    "eye1": Window(108, 156, 128),
    "eye2": Window(255, 156, 128),
    "nose": Window(182, 232, 160),
    "mouth": Window(169, 301, 192),
    "remainder": Window(0, 0, 512),
}

NOSE_KEPT_ROWS = 124
"""Fusion pastes only the top 124 of the nose's 160 rows (published canvas) so the mouth shows."""

FUSION_ORDER = ("mouth", "nose", "eye1", "eye2")
"""Paste order onto the remainder's map; later parts overwrite earlier ones."""


def _scaled(v: float, canvas: int) -> int:
    return int(math.floor(v * canvas / 512 + 0.5))


def windows(canvas: int = 512) -> dict[str, Window]:
    """The five windows on a `canvas`² canvas (published coordinates scaled, half rounded up)."""
    if canvas % 32:
        raise ValueError(f"canvas must be a multiple of 32, got {canvas}")
    return {
        part: Window(_scaled(w.x, canvas), _scaled(w.y, canvas), _scaled(w.size, canvas))
        for part, w in PUBLISHED_WINDOWS.items()
    }


def part_regions(canvas: int) -> dict:
    """part → canvas×canvas bool mask: its window, or (remainder) outside all four windows.
    The regions in which a part's edit should show (evaluation's locality, stage 2's locality loss)."""
    regions, wins = {}, windows(canvas)
    for part in WINDOW_PARTS:
        regions[part] = np.zeros((canvas, canvas), bool)
        regions[part][wins[part].rows, wins[part].cols] = True
    regions["remainder"] = ~np.any(np.stack(list(regions.values())), axis=0)
    return {p: regions[p] for p in PARTS}


MIN_NETWORK_SIZE = 64
"""Smallest crop side the component networks accept: five stride-2 steps leave a 2×2
bottleneck, the least the reflection-padded residual blocks there can pad."""


def network_size(window_size: int) -> int:
    """Side of the square the component networks see for a window of this side: the next
    multiple of 32, at least `MIN_NETWORK_SIZE`. Published windows (128–512 px) are used as
    they are; on small canvases (at 128: eyes 32 px, nose 40, mouth 48) the crops are resized
    up to this side (bilinear) before encoding, and decoded maps are resized back."""
    return max(MIN_NETWORK_SIZE, -(-window_size // 32) * 32)


def nose_kept_rows(canvas: int = 512) -> int:
    """Rows of the nose window kept in the fused map (the spec's NOSE_KEPT_ROWS scaled to `canvas`)."""
    return _scaled(NOSE_KEPT_ROWS, canvas)


def _check_sketch(sketch: np.ndarray) -> int:
    if not isinstance(sketch, np.ndarray) or sketch.ndim != 2 or sketch.shape[0] != sketch.shape[1]:
        raise ValueError(f"expected a square 2-D greyscale array, got shape {getattr(sketch, 'shape', None)}")
    return sketch.shape[0]


def split_components(sketch: np.ndarray) -> dict[str, np.ndarray]:
    """Cut a square greyscale sketch (uint8 or float, white = 255) into its five components.

    Returns part -> array: the four window crops (copies) and the remainder (the whole sketch
    with the four windows painted white).
    """
    canvas = _check_sketch(sketch)
    wins = windows(canvas)
    crops = {part: sketch[wins[part].rows, wins[part].cols].copy() for part in WINDOW_PARTS}
    remainder = sketch.copy()
    for part in crops:
        remainder[wins[part].rows, wins[part].cols] = 255
    crops["remainder"] = remainder
    return {part: crops[part] for part in PARTS}


def crops_by_part(sketches: np.ndarray) -> dict[str, np.ndarray]:
    """N×H×W sketches → part → N×S×S crops (the remainder N×H×W, windows whited)."""
    per = [split_components(s) for s in sketches]
    return {p: np.stack([c[p] for c in per]) for p in PARTS}


def window_masks(canvas: int = 512, feather: float | None = None) -> dict[str, np.ndarray]:
    """Feathered float masks in [0, 1], one per window part, for compositing shadows.

    Each mask is 1 in the window's centre and falls to 0 at its border with a cosine ramp
    `feather` pixels wide (default: 1/8 of the window side). The remainder's mask is 1 where no
    window mask reaches 1 (1 − the max of the others).
    """
    wins = windows(canvas)
    masks = {}
    for part, w in wins.items():
        if part == "remainder":
            continue
        f = max(1.0, feather if feather is not None else w.size / 8)
        d = np.arange(w.size, dtype=np.float32)
        edge = np.minimum(d + 0.5, w.size - d - 0.5)  # distance to nearest border
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(edge / f, 0, 1))
        m = np.zeros((canvas, canvas), np.float32)
        m[w.rows, w.cols] = np.outer(ramp, ramp)
        masks[part] = m
    masks["remainder"] = 1.0 - np.max(np.stack(list(masks.values())), axis=0)
    return {part: masks[part] for part in PARTS}


def composite(parts: dict[str, np.ndarray], canvas: int, masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Blend per-part images (window-sized crops, remainder full-size) into one canvas image
    with feathered window masks. Used for shadows. Returns float32 in the parts' range."""
    masks = masks if masks is not None else window_masks(canvas)
    wins = windows(canvas)
    out = np.asarray(parts["remainder"], np.float32) * masks["remainder"]
    weight = masks["remainder"].copy()
    for part in WINDOW_PARTS:
        w = wins[part]
        full = np.zeros((canvas, canvas), np.float32)
        full[w.rows, w.cols] = parts[part]
        out += full * masks[part]
        weight += masks[part]
    return out / np.maximum(weight, 1e-6)
