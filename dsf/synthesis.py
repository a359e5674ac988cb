"""Image Synthesis (paper Fig. 2, step 4): the pix2pixHD global generator turns the fused
feature map into a photo."""
from __future__ import annotations

import numpy as np

from ._jittor import jt
from ._nograd import no_grad


def to_uint8_image(y: np.ndarray) -> np.ndarray:
    """Generator output B×3×H×W in [-1, 1] → B×H×W×3 uint8, as the released code does it:
    (y + 1)/2·255, clipped, truncated (not rounded)."""
    return np.clip((np.asarray(y) + 1) / 2 * 255, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def synthesize(generator, fused: jt.Var) -> np.ndarray:
    """Fused feature map (B×C×H×W Var) → B×H×W×3 uint8 faces."""
    with no_grad():
        return to_uint8_image(generator(fused).numpy())
