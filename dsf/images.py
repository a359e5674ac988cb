"""Reading and normalising sketches, with clear errors for bad input.

Any input becomes a square greyscale uint8 canvas, black strokes on white:
- a path, a PIL image, or a numpy array (H×W, H×W×3, H×W×4; uint8, bool, or float in [0, 1]);
- colour is converted to grey; transparency is composited onto white;
- a non-square or differently sized image is letterboxed (centred) onto a white square, then
  resized to the canvas (when shrinking by 2× or more, strokes are first thickened by a
  minimum filter so thin pen lines stay dark);
- a white-on-black sketch (mostly dark) is inverted, with a `SketchWarning`;
- a blank sketch is accepted with a `SketchWarning`: the face then comes from the component
  manifolds alone (this is how drawing starts in the sketch pad).
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError


class SketchError(ValueError):
    """The input cannot be read as a sketch; the message says why."""


class SketchWarning(UserWarning):
    """The input was normalised in a way the user should know about."""


INK_THRESHOLD = 128
"""A pixel darker than this counts as ink."""


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise SketchError(f"sketch file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()  # force decoding now, so a truncated file fails here
            return im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise SketchError(f"cannot read {path} as an image ({e.__class__.__name__}: {e})") from None


def _array_to_image(a: np.ndarray) -> Image.Image:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or min(a.shape[:2]) < 1:
        raise SketchError(f"a sketch array must be H×W, H×W×3 or H×W×4, got shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise SketchError("the sketch array contains NaN or infinite values")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def _to_grey_on_white(im: Image.Image) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.asarray(im.convert("L"), dtype=np.uint8)


def _letterbox(grey: np.ndarray, canvas: int) -> np.ndarray:
    h, w = grey.shape
    side = max(h, w)
    square = np.full((side, side), 255, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = grey
    if side == canvas:
        return square
    im = Image.fromarray(square)
    factor = side / canvas
    if factor >= 2:
        # Thicken strokes before shrinking, or thin pen lines would fade to light grey.
        im = im.filter(ImageFilter.MinFilter(2 * int(factor // 2) + 1))
    return np.asarray(im.resize((canvas, canvas), Image.BOX if factor > 1 else Image.LANCZOS), dtype=np.uint8)


def load_sketch(source, canvas: int = 512) -> np.ndarray:
    """Read a sketch (path, PIL image or numpy array) as a `canvas`×`canvas` uint8 array,
    black strokes on white. See the module docstring for the normalisations applied."""
    if isinstance(source, (str, os.PathLike)):
        im = _open(Path(source))
    elif isinstance(source, (bytes, bytearray)):
        try:
            im = Image.open(io.BytesIO(source))
            im.load()
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise SketchError(f"cannot read the given bytes as an image ({e})") from None
    elif isinstance(source, Image.Image):
        im = source
    elif isinstance(source, np.ndarray):
        im = _array_to_image(source)
    else:
        raise SketchError(f"a sketch must be a path, PIL image or numpy array, got {type(source).__name__}")

    grey = _letterbox(_to_grey_on_white(im), canvas)
    ink = grey < INK_THRESHOLD
    if ink.mean() > 0.5:
        warnings.warn("the sketch looks white-on-black (mostly dark); inverted it", SketchWarning, stacklevel=2)
        grey = 255 - grey
        ink = ~ink
    if ink.sum() == 0:
        warnings.warn("the sketch is blank; the face will come from the component manifolds alone", SketchWarning, stacklevel=2)
    return grey
