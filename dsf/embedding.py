"""Component Embedding (paper Fig. 2, step 1): one auto-encoder per component.

The encoder maps a component crop to a latent vector; the sketch decoder maps a latent back
to a sketch of the crop's size. Only the encoders are needed to make a face; the sketch
decoders draw the neighbours behind the shadow and train stage 1.
"""
from __future__ import annotations

import numpy as np

from ._jittor import jt
from ._nograd import no_grad
from .components import network_size


def resize(x: jt.Var, size: int) -> jt.Var:
    """Bilinear resize of a B×C×s×s Var to size×size (identity when already that size)."""
    return x if x.shape[-1] == size else jt.nn.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def normalise(crops: np.ndarray) -> jt.Var:
    """uint8/float crops (B×S×S or S×S, white = 255) → B×1×N×N Var in [-1, 1] via
    (p − 127.5)/127.5, where N = `network_size(S)` (equal to S on the published canvas)."""
    a = np.asarray(crops, np.float32)
    if a.ndim == 2:
        a = a[None]
    return resize(jt.array((a[:, None] - 127.5) / 127.5), network_size(a.shape[-1]))


def latent_var(latents) -> jt.Var:
    """A latent vector or B×latent array (or Var) as a B×latent float32 Var."""
    if isinstance(latents, jt.Var):
        return latents
    a = np.asarray(latents, np.float32)
    return jt.array(a.reshape(-1, a.shape[-1]))


def encode(encoder, crops: np.ndarray) -> np.ndarray:
    """Encode B crops (B×S×S, or one S×S) of one component → B×latent float32."""
    with no_grad():
        return encoder(normalise(crops)).numpy()


def decode_sketch(decoder, latents, size: int) -> np.ndarray:
    """Decode B latents of one component → B×size×size float32 sketches in the decoder's
    range (about −1 = black … 1 = white; the published decoder has no tanh, so values may
    overshoot). `size` is the component's window side."""
    with no_grad():
        return resize(decoder(latent_var(latents)), size).numpy()[:, 0]
