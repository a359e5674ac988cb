"""The model on many sketches at once, through `Pipeline`'s stage methods only.

Every call runs on batches of one fixed size (a short last batch is padded with copies of
its last row), so Jittor compiles each kernel once. BatchNorm runs in eval or per-sample
mode at inference, so the padding does not change the real rows.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._jittor import jt
from ..components import crops_by_part
from ..config import PARTS
from ..manifold import blend


def pad(a: np.ndarray, size: int) -> np.ndarray:
    """`a` padded to `size` rows with copies of its last row (unchanged when long enough)."""
    return a if len(a) >= size else np.concatenate([a, np.repeat(a[-1:], size - len(a), axis=0)])


def encode_all(pipe, sketches: np.ndarray, batch: int) -> dict:
    """Component embedding of N sketches: part → N×latent float32."""
    out = {p: [] for p in PARTS}
    size = min(batch, len(sketches))
    for i in range(0, len(sketches), batch):
        crops = crops_by_part(sketches[i:i + batch])
        for p in PARTS:
            out[p].append(pipe.encode(p, pad(crops[p], size))[:len(crops[p])])
        jt.gc()
    return {p: np.concatenate(v).astype(np.float32) for p, v in out.items()}


def project_all(pipe, latents: dict) -> dict:
    """Manifold projection (refine 1) of every latent: part → N×latent float32."""
    return {p: pipe.project(p, latents[p], 1.0)[0].projected.astype(np.float32) for p in PARTS}


def blend_all(latents: dict, projected: dict, refine: dict, rows=slice(None)) -> dict:
    """part → refine[part]·projected + (1 − refine[part])·latent, for the given rows."""
    return {p: blend(latents[p][rows], projected[p][rows], refine[p]).astype(np.float32) for p in PARTS}


def synthesize_all(pipe, blended: dict, batch: int, threads: int = 1) -> np.ndarray:
    """Faces for N blended latent sets (part → N×latent), in padded batches → N×H×W×3 uint8.
    threads > 1 runs batches side by side (Jittor leaves the GIL while it computes)."""
    n = len(blended[PARTS[0]])
    size = min(batch, n)
    chunks = [{p: pad(v[i:i + batch], size) for p, v in blended.items()} for i in range(0, n, batch)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        faces = list(pool.map(pipe.faces_from_latents, chunks))
    jt.gc()
    return np.concatenate(faces)[:n]
