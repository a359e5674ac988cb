"""Reading and normalising sketches, with clear errors for bad input.

Any input becomes a square greyscale uint8 canvas, black strokes on white:
- a path, bytes, a PIL image, or a numpy array (H×W, H×W×3, H×W×4; uint8, bool, 16-bit
  integers, or float in [0, 1]);
- colour is converted to grey; transparency is composited onto white; a photo's EXIF
  orientation is applied (phone photos of drawings are often stored sideways);
- a non-square or differently sized image is letterboxed (centred) onto a white square, then
  resized to the canvas (when shrinking by 2× or more, strokes are first thickened by a
  minimum filter so thin pen lines stay dark);
- a white-on-black sketch (mostly dark) is inverted, with a `SketchWarning`;
- a blank sketch is accepted with a `SketchWarning`: the face then comes from the component
  manifolds alone (this is how drawing starts in the sketch pad);
- a sketch that does not look like a face sketch on the template (`template_problem`: no ink in
  an eye window, mostly dark or grey, mostly isolated specks) is accepted with a
  `SketchWarning` that says to align it (`python -m dsf generate --align`, `dsf.align_sketch`).

Refused with a `SketchError` (one line saying why): a missing file, a file that is not an
image or is truncated, an image whose longer side exceeds MAX_SIDE (a decompression-bomb guard),
and arrays or types that cannot be a sketch.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .components import windows
from .config import WINDOW_PARTS


class SketchError(ValueError):
    """The input cannot be read as a sketch; the message says why."""


class SketchWarning(UserWarning):
    """The input was normalised in a way the user should know about."""


INK_THRESHOLD = 128
"""A pixel darker than this counts as ink."""

MAX_SIDE = math.isqrt(Image.MAX_IMAGE_PIXELS)
"""Longest accepted image side (9,459 px): the letterboxed square stays within Pillow's
decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`), so no input can exhaust memory."""

ALIGN_HINT = ("if it is a face sketch, align it first: `python -m dsf generate --align`, "
              "or `dsf.align_sketch(image).sketch`")

_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError)  # what Pillow raises on bad files


def _decode(opener, name: str) -> Image.Image:
    """Open, size-check and fully decode an image; every refusal becomes a SketchError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below instead
            with opener() as im:
                _check_size(im.size, name)
                im.load()  # force decoding now, so a truncated file fails here
                return ImageOps.exif_transpose(im)  # a copy, upright
    except SketchError:
        raise
    except Image.DecompressionBombError as e:
        raise SketchError(f"{name} is too large to load safely ({e}): scale it down") from None
    except _READ_ERRORS as e:
        raise SketchError(f"cannot read {name} as an image ({e.__class__.__name__}: {e})") from None


def _check_size(size: tuple[int, int], name: str) -> None:
    if max(size) > MAX_SIDE:
        raise SketchError(f"{name} is {size[0]}×{size[1]} pixels; sketches may be at most {MAX_SIDE} px on "
                          "their longer side (a guard against decompression bombs): scale it down")


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """bool, uint8, wider integers (16-bit when above 255) or floats (in [0, 1] when at most 1) -> uint8."""
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise SketchError("the sketch array contains NaN or infinite values")
    top = a.max(initial=0)
    scale = 255.0 if top <= 1.0 else (255.0 / 65535.0 if top > 255 else 1.0)
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


def _array_to_image(a: np.ndarray) -> Image.Image:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or min(a.shape[:2]) < 1:
        raise SketchError(f"a sketch array must be H×W, H×W×3 or H×W×4, got shape {a.shape}")
    _check_size((a.shape[1], a.shape[0]), "the sketch array")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    return Image.fromarray(_to_uint8(a))


def _to_grey_on_white(im: Image.Image) -> np.ndarray:
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey: PIL's convert("L") would clip it white
        return _to_uint8(np.asarray(im))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.asarray(im.convert("L"), dtype=np.uint8)


def read_grey(source) -> np.ndarray:
    """Any accepted input (path, bytes, PIL image, numpy array) as a greyscale uint8 array at its
    own size, transparency on white. SketchError with the reason when it cannot be a sketch."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise SketchError(f"sketch file not found: {path}")
        im = _decode(lambda: Image.open(path), str(path))
    elif isinstance(source, (bytes, bytearray)):
        im = _decode(lambda: Image.open(io.BytesIO(source)), "the given bytes")
    elif isinstance(source, Image.Image):
        _check_size(source.size, "the image")
        im = source
    elif isinstance(source, np.ndarray):
        im = _array_to_image(source)
    else:
        raise SketchError("a sketch must be a path, PIL image or numpy array (or image file bytes), "
                          f"got {type(source).__name__}")
    return _to_grey_on_white(im)


def thicken_for_shrink(grey: np.ndarray, shrink: float) -> np.ndarray:
    """Before shrinking by `shrink` (≥ 2), thicken dark strokes with a minimum filter, or thin
    pen lines would fade to light grey; smaller shrinks leave the image as it is."""
    if shrink < 2:
        return grey
    im = Image.fromarray(grey).filter(ImageFilter.MinFilter(2 * int(shrink // 2) + 1))
    return np.asarray(im, dtype=np.uint8)


def letterbox_matrix(size: tuple[int, int], canvas: int) -> np.ndarray:
    """2×3 affine from a (width, height) image's pixels to the canvas, as `load_sketch` places it."""
    w, h = size
    side = max(w, h)
    f = canvas / side
    return np.array([[f, 0, f * ((side - w) // 2)], [0, f, f * ((side - h) // 2)]], np.float64)


def _letterbox(grey: np.ndarray, canvas: int) -> np.ndarray:
    h, w = grey.shape
    side = max(h, w)
    square = np.full((side, side), 255, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = grey
    if side == canvas:
        return square
    factor = side / canvas
    im = Image.fromarray(thicken_for_shrink(square, factor))
    return np.asarray(im.resize((canvas, canvas), Image.BOX if factor > 1 else Image.LANCZOS), dtype=np.uint8)


def ensure_dark_on_white(grey: np.ndarray, stacklevel: int = 3) -> np.ndarray:
    """Invert a white-on-black sketch (mostly ink), with a SketchWarning."""
    if (grey < INK_THRESHOLD).mean() > 0.5:
        warnings.warn("the sketch looks white-on-black (mostly dark); inverted it", SketchWarning,
                      stacklevel=stacklevel)
        return 255 - grey
    return grey


def template_problem(sketch: np.ndarray) -> str | None:
    """Why a square sketch does not look like a face sketch on the template, or None.

    Cheap (~0.1 ms at 128²) and run on every input. On the kit's aligned training sketches
    (data/prepared_128) it warns on 46 of 8,702 (21 of 2,055 FS2K artist sketches, 25 of 6,647
    extracted line sketches); it does not see a face that is merely off the template (see
    `dsf.sketch_align.check_template`). Checks, in order:
      eyes    an eye window with < 0.2 % ink (eyes are always drawn; the windows then sit on
              forehead, cheeks or background)
      dark    a component window > 60 % ink, or > 60 % of the canvas mid-grey (48-207): a
              photo, noise or solid shading, not a line sketch
      specks  > 50 % of the ink in pixels with at most one ink neighbour: noise, not strokes
    """
    ink = sketch < INK_THRESHOLD
    wins = windows(sketch.shape[0])
    share = {part: ink[wins[part].rows, wins[part].cols].mean() for part in WINDOW_PARTS}
    empty = [part for part in ("eye1", "eye2") if share[part] < 0.002]
    if empty:
        return f"no strokes in the {' and '.join(empty)} window{'s' if len(empty) > 1 else ''}"
    if max(share.values()) > 0.6 or ((sketch >= 48) & (sketch < 208)).mean() > 0.6:
        return "it is mostly dark or grey: a photo, noise or solid shading rather than a line sketch"
    padded = np.pad(ink, 1).astype(np.uint8)
    h, w = ink.shape
    neighbours = sum(padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    if (ink & (neighbours <= 1)).sum() > 0.5 * ink.sum():
        return "its ink is mostly isolated specks: noise rather than strokes"
    return None


def load_sketch(source, canvas: int = 512) -> np.ndarray:
    """Read a sketch (path, bytes, PIL image or numpy array) as a `canvas`×`canvas` uint8 array,
    black strokes on white. See the module docstring for the normalisations and warnings."""
    grey = ensure_dark_on_white(_letterbox(read_grey(source), canvas))
    if not (grey < INK_THRESHOLD).any():
        warnings.warn("the sketch is blank; the face will come from the component manifolds alone", SketchWarning, stacklevel=2)
        return grey
    problem = template_problem(grey)
    if problem:
        warnings.warn(f"this does not look like a face sketch on the template: {problem}; {ALIGN_HINT}",
                      SketchWarning, stacklevel=2)
    return grey
