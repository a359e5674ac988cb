"""Feature Mapping (paper Fig. 2, step 3): decode each component's latent into a feature map
and fuse the five maps into one canvas-sized map.

Fusion starts from the remainder's map and pastes, later over earlier, mouth, nose (only its
top rows, so the mouth shows), eye1, eye2 — the published order and trim.
"""
from __future__ import annotations

import numpy as np

from ._jittor import jt
from .components import FUSION_ORDER, nose_kept_rows, windows
from .embedding import latent_var, resize


def decode_features(decoder, latents, size: int) -> jt.Var:
    """Decode B latents (numpy or Var, B×latent) of one component → B×C×size×size feature
    Var, `size` being the component's window side. Differentiable."""
    return resize(decoder(latent_var(latents)), size)


def fuse(feature_maps: dict, canvas: int) -> jt.Var:
    """Fuse per-part feature maps (part → B×C×S×S Var, the remainder canvas-sized) into one
    B×C×canvas×canvas Var. Differentiable: training back-propagates through it."""
    wins = windows(canvas)
    fused = feature_maps["remainder"]
    for part in FUSION_ORDER:
        w, fmap = wins[part], feature_maps[part]
        rows = nose_kept_rows(canvas) if part == "nose" else w.size
        fused = _paste(fused, fmap[:, :, :rows, :], w.y, w.x)
    return fused


def _paste(base: jt.Var, patch: jt.Var, top: int, left: int) -> jt.Var:
    # Pad the patch to canvas size and select with a mask: differentiable, no in-place writes.
    _, _, h, w = patch.shape
    H, W = base.shape[2], base.shape[3]
    padded = jt.nn.pad(patch, (left, W - left - w, top, H - top - h))
    mask = np.zeros((1, 1, H, W), np.float32)
    mask[..., top : top + h, left : left + w] = 1
    mask = jt.array(mask)
    return base * (1 - mask) + padded * mask
