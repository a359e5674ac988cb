"""Line sketches from photos (difference-of-Gaussians lines + cleanup), pencil drawings of photos
for training (`pencil_sketch`), and scanned-sketch cleanup.

Only FS2K has hand-drawn sketches; every other training photo needs one the kit draws itself.
What people draw, and what the model is given at test time, is a few thin dark contours on
white: eyes, brows, nose, lips, face outline, hair outline. A plain edge detector also fires on
skin texture, pores and noise, and draws both sides of every edge. So (`extract_sketch`):

1. Local contrast (CLAHE) so pale and dark faces give the same features, then two bilateral
   passes: edge-preserving smoothing flattens skin texture and keeps contours.
2. Dark-line response of a difference of Gaussians, L = max(G_kσ − G_σ, 0): positive on thin
   dark lines and on the dark side of edges (XDoG's line mode, Winnemöller et al. 2012),
   one response per contour rather than two.
3. Hysteresis (as in Canny): pixels with L > `low` are kept where their connected stroke has
   some pixel with L > `high`; strokes shorter than `min_component` pixels are texture.
4. Every stroke is thinned to its centre line (Zhang-Suen) and redrawn with an anti-aliased
   round pen `stroke_width` wide, so strokes are uniform, black and continuous like pen lines.

Lengths are given for a 256-pixel face canvas and scale with the input. Extraction runs on the
aligned photo at ≥ 256 px: a 128 canvas is drawn at 256 and area-downsampled, which keeps
strokes continuous instead of breaking them at the pixel grid. Settings were tuned by eye on
FS2K photos against their artist sketches (docs/figures/extractor_vs_artist.png); ink density
comes out ~3-15 % at 256 (artist sketches: 2-40 %, most of the excess being hair shading).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class LineParams:
    """Extractor settings at a 256-pixel canvas."""

    clahe_clip: float = 2.0          # CLAHE clip limit (4×4 tiles)
    smooth_sigma_colour: float = 20.0  # bilateral range sigma (grey levels)
    smooth_sigma_space: float = 2.0    # bilateral spatial sigma (px)
    sigma: float = 0.9               # inner Gaussian (px)
    k: float = 1.6                   # outer/inner sigma ratio
    low: float = 0.007               # hysteresis: weakest line response kept (image in [0, 1])
    high: float = 0.025              # hysteresis: a stroke needs one pixel this strong
    min_component: int = 30          # strokes with fewer pixels are texture (px at 256)
    stroke_width: float = 2.2        # redrawn pen width (px at 256)


DEFAULT = LineParams()
MIN_WORK_SIZE = 256


def extract_sketch(rgb: np.ndarray, params: LineParams = DEFAULT) -> np.ndarray:
    """Line sketch of a square aligned face photo: H×W uint8, black strokes on white (255)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] != rgb.shape[1]:
        raise ValueError(f"expected a square H×W×3 RGB photo, got shape {rgb.shape}")
    size = rgb.shape[0]
    work = max(size, MIN_WORK_SIZE)
    if work != size:
        rgb = cv2.resize(rgb, (work, work), interpolation=cv2.INTER_CUBIC)
    s = work / 256
    grey = cv2.createCLAHE(params.clahe_clip, (4, 4)).apply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    for _ in range(2):
        grey = cv2.bilateralFilter(grey, d=-1, sigmaColor=params.smooth_sigma_colour,
                                   sigmaSpace=params.smooth_sigma_space * s)
    img = grey.astype(np.float32) / 255
    inner = cv2.GaussianBlur(img, (0, 0), params.sigma * s)
    outer = cv2.GaussianBlur(img, (0, 0), params.sigma * params.k * s)
    line = np.maximum(outer - inner, 0)
    ink = hysteresis(line, params.low, params.high, min_component=int(round(params.min_component * s * s)))
    sketch = draw_strokes(ink, params.stroke_width * s)
    if work != size:
        sketch = cv2.resize(sketch, (size, size), interpolation=cv2.INTER_AREA)
    return sketch


def hysteresis(response: np.ndarray, low: float, high: float, min_component: int) -> np.ndarray:
    """Boolean mask of 8-connected strokes with response > low that reach > high somewhere
    and have at least `min_component` pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((response > low).astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[response > high])] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= min_component
    keep[0] = False  # background
    return keep[labels]


def draw_strokes(ink: np.ndarray, width: float) -> np.ndarray:
    """Thin a boolean ink mask to 1-px centre lines and redraw them `width` px wide, anti-aliased."""
    skeleton = cv2.ximgproc.thinning(ink.astype(np.uint8) * 255, thinningType=cv2.ximgproc.THINNING_ZHANGSUEN)
    # distance to the nearest centre line -> a soft round pen of the requested width
    dist = cv2.distanceTransform(255 - skeleton, cv2.DIST_L2, 3)
    darkness = np.clip(width / 2 + 0.5 - dist, 0, 1)
    return (255 * (1 - darkness)).round().astype(np.uint8)


PENCIL_SIGMA = 3.0  # blur of the pencil filter (px at a 128-pixel canvas)


def pencil_sketch(rgb: np.ndarray, sigma: float = PENCIL_SIGMA) -> np.ndarray:
    """A pencil drawing of an aligned photo (H×W×3 uint8 -> H×W uint8): the classic "colour dodge"
    of the grey photo by its blurred negative, grey / (1 − blur(1 − grey)), `sigma` px at a
    128-pixel canvas and scaled with it.

    Flat regions come out white, contours and hair as grey, hatching-like strokes: the look of
    FS2K's artist sketches, not of the kit's thin line sketches. What matters for training: the
    frozen encoders place these drawings of SCUT and CelebAMask photos among the FS2K artist
    sketches (81–95 % of each part's ten nearest bank latents are FS2K faces, against 8–14 % for
    their line sketches; `docs/campaign.md`, forty-fifth period). Unlike an artist's sketch it
    carries the photo's own shading, so it is a training input only, never an evaluation one."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blur = cv2.GaussianBlur(255 - grey, (0, 0), sigma * grey.shape[1] / 128)
    return np.clip(grey * 255 / np.maximum(255 - blur, 1), 0, 255).astype(np.uint8)


def normalise_artist_sketch(grey: np.ndarray) -> np.ndarray:
    """A scanned pencil sketch with its paper made white and strokes kept as drawn.

    Scans have grey, unevenly lit paper (FS2K: paper ~225-250). Dividing by a paper estimate
    (a large grey-level closing, which removes strokes, blurred) flattens the lighting; the
    estimate is kept within 10 % of the global paper level (90th percentile) so that wide solid
    shading, which a closing mistakes for paper, stays dark. Ratios above 0.92 of the paper
    (paper grain, scanner noise) become pure white.
    """
    grey = grey.astype(np.float32)
    k = max(3, int(round(min(grey.shape) / 12)) | 1)
    paper = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    paper = np.maximum(cv2.GaussianBlur(paper, (0, 0), k / 2), 0.9 * np.percentile(grey, 90))
    ratio = grey / np.maximum(paper, 1.0)
    return np.clip(255 * ratio / 0.92, 0, 255).round().astype(np.uint8)
