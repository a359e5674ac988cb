"""The face rate: does an off-the-shelf face detector find a face in an image?

The detector is the data module's offline face mesh (`dsf.data.landmarks.MeshDetector`,
mediapipe); images are upscaled to `DETECTOR_SIZE`² first (bicubic; nearer the sizes it was
built for). Without mediapipe the rate is reported as "not measured".
"""
from __future__ import annotations

import time

import numpy as np

DETECTOR_SIZE = 256
"""Side the images are upscaled to (bicubic) before the face-mesh detector sees them."""


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
        from ..data.landmarks import MeshDetector

        return MeshDetector(), "mediapipe 0.10 face mesh (dsf.data.landmarks.MeshDetector)"
    except ImportError:
        return None, "not measured (mediapipe is not installed)"


def upscale(img: np.ndarray, size: int) -> np.ndarray:
    """An RGB image resized to size×size (bicubic), or itself when already that size."""
    from PIL import Image

    if img.shape[0] == size:
        return np.ascontiguousarray(img)
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))


def batch_detector(kind, size: int, timings: dict):
    """(images → bool array "a face was found", or None; description), timing every call in
    `timings["detector"]`."""
    detector, description = face_detector(kind)
    if detector is None:
        return None, description
    timings["detector"] = 0.0

    def detect(images) -> np.ndarray:
        t = time.perf_counter()
        found = np.array([detector(upscale(im, size)) is not None for im in images], bool)
        timings["detector"] += time.perf_counter() - t
        return found
    return detect, description
