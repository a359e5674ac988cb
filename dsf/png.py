"""numpy images ↔ PNG, for the widgets, the sketch pad and training (no model, no widgets)."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(image, size: int | None = None) -> bytes:
    """H×W or H×W×3 uint8 image → PNG bytes (for `ipywidgets.Image`), optionally resized
    (nearest neighbour) so its longer side is `size`."""
    im = Image.fromarray(np.asarray(image, np.uint8))
    if size is not None and max(im.size) != size:
        scale = size / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="png")
    return buf.getvalue()


def data_url(image) -> str:
    """H×W or H×W×3 uint8 image → a `data:image/png;base64,…` URL (for the sketch pad's canvas)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def save_png(image, path) -> Path:
    """Write an H×W or H×W×3 uint8 image as a PNG file (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, np.uint8)).save(path)
    return path
