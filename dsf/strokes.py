"""The sketch pad's stroke model: a sketch as vector polylines, independent of canvas size.

    from dsf.strokes import Sketch, Stroke
    s = Sketch()
    s.add(Stroke([(0.30, 0.42), (0.40, 0.40)], width=3 / 512))   # normalised coordinates
    s.add(Stroke([(0.35, 0.41), (0.37, 0.41)], width=8 / 512, mode="eraser"))
    s.undo(); s.redo(); s.clear(); s.undo()
    grey = s.render(512)                  # H×W uint8, black strokes on white
    s.save_json("face.json"); Sketch.load_json("face.json").render(128)
    s.without([0, 3])                      # a copy with strokes 0 and 3 removed (robustness)
    touched_parts(stroke, canvas=128)      # the parts whose crop this stroke can change

Coordinates are (x, y) in [0, 1]² (x to the right, y down, the canvas side is 1); a stroke's
`width` is a fraction of the canvas side, so the same sketch renders at any canvas size with
strokes of the same relative thickness. "pen" strokes paint black (0), "eraser" strokes
white (255), in order, with round caps and joins.

A sketch may start from a raster `base` (a loaded sample or uploaded image, greyscale uint8,
any square size): it is resized to the canvas before the strokes are drawn over it, and an
eraser stroke removes its ink too.

Undo/redo work on whole states (base + strokes), so `add`, `remove`, `clear` and
`set_base` are all undoable; every state is immutable (tuples), so history is cheap.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .components import windows
from .config import PARTS, WINDOW_PARTS
from .images import read_grey
from .png import png_bytes, save_png

__all__ = ["Stroke", "Sketch", "stroke_box", "touched_parts", "changed_parts", "MODES", "JSON_FORMAT"]

MODES = ("pen", "eraser")
JSON_FORMAT = "dsf-strokes"
JSON_VERSION = 1


@dataclass(frozen=True)
class Stroke:
    """One polyline: points (x, y) in [0, 1]² (values outside are allowed and clipped by the
    canvas), width as a fraction of the canvas side, mode "pen" (black) or "eraser" (white)."""

    points: tuple
    width: float = 3 / 512
    mode: str = "pen"

    def __post_init__(self):
        pts = tuple((float(x), float(y)) for x, y in self.points)
        if not pts:
            raise ValueError("a stroke needs at least one point")
        if not all(math.isfinite(v) for p in pts for v in p):
            raise ValueError("stroke points must be finite")
        if not (math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"stroke width must be a positive fraction of the canvas side, got {self.width}")
        if self.mode not in MODES:
            raise ValueError(f"stroke mode must be one of {MODES}, got {self.mode!r}")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "width", float(self.width))

    @classmethod
    def from_pixels(cls, points, canvas: int, width_px: float = 3.0, mode: str = "pen") -> "Stroke":
        """A stroke given in pixel coordinates of a `canvas`-sized canvas."""
        return cls(tuple((x / canvas, y / canvas) for x, y in points), width_px / canvas, mode)

    def to_dict(self) -> dict:
        return {"points": [[round(x, 6), round(y, 6)] for x, y in self.points],
                "width": round(self.width, 8), "mode": self.mode}

    @classmethod
    def from_dict(cls, d: dict) -> "Stroke":
        try:
            return cls(tuple(tuple(p) for p in d["points"]), float(d.get("width", 3 / 512)), d.get("mode", "pen"))
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a stroke: {d!r:.80} ({e})") from None


def _draw(draw: ImageDraw.ImageDraw, stroke: Stroke, size: int) -> None:
    fill = 0 if stroke.mode == "pen" else 255
    w = max(1.0, stroke.width * size)
    # Pixel (i, j) covers [i, i+1): point x·size lands between pixel centres, hence the −0.5.
    pts = [(x * size - 0.5, y * size - 0.5) for x, y in stroke.points]
    r = w / 2
    if len(pts) > 1 and w > 1.5:
        draw.line(pts, fill=fill, width=int(round(w)), joint="curve")
    elif len(pts) > 1:  # PIL truncates the coordinates of 1-px lines: round them ourselves
        draw.line([(round(x), round(y)) for x, y in pts], fill=fill, width=1)
    if w > 1.5:  # round caps (and joins: PIL's "curve" joint misses very sharp turns)
        for x, y in pts:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    elif len(pts) == 1:
        draw.point([(round(x), round(y)) for x, y in pts], fill=fill)


def _png_b64(grey: np.ndarray) -> str:
    return base64.b64encode(png_bytes(np.asarray(grey, np.uint8))).decode("ascii")


def _from_png_b64(text) -> np.ndarray:
    """A document's base image, read with the same checks as any sketch file (size, format)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ValueError("base_png is not base64 text") from None
    return read_grey(data)


@dataclass(frozen=True)
class _State:
    base: np.ndarray | None = field(default=None, compare=False)
    strokes: tuple = ()


class Sketch:
    """An editable sketch: an optional raster base plus vector strokes, with undo/redo."""

    def __init__(self, strokes=(), base=None):
        self._state = _State(self._check_base(base), tuple(strokes))
        self._undo: list[_State] = []
        self._redo: list[_State] = []

    # ---- state ---------------------------------------------------------------------------
    @property
    def strokes(self) -> tuple:
        return self._state.strokes

    @property
    def base(self) -> np.ndarray | None:
        return self._state.base

    def __len__(self) -> int:
        return len(self._state.strokes)

    def __repr__(self):
        base = "none" if self.base is None else f"{self.base.shape[0]}²"
        return f"Sketch({len(self)} strokes, base {base}, undo {len(self._undo)}, redo {len(self._redo)})"

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def _push(self, state: _State) -> None:
        self._undo.append(self._state)
        self._redo.clear()
        self._state = state

    @staticmethod
    def _check_base(base):
        if base is None:
            return None
        a = np.asarray(base)
        if a.ndim != 2 or a.shape[0] != a.shape[1] or a.dtype != np.uint8:
            raise ValueError(f"a base must be a square 2-D uint8 array (use dsf.images.load_sketch), got "
                             f"{a.dtype} {a.shape}")
        a = a.copy()
        a.flags.writeable = False
        return a

    # ---- edits (all undoable) --------------------------------------------------------------
    def add(self, stroke: Stroke) -> Stroke:
        if isinstance(stroke, dict):
            stroke = Stroke.from_dict(stroke)
        if not isinstance(stroke, Stroke):
            raise TypeError(f"expected a Stroke, got {type(stroke).__name__}")
        self._push(_State(self._state.base, self._state.strokes + (stroke,)))
        return stroke

    def remove(self, indices) -> None:
        """Remove strokes by index (an int or several), as one undoable edit."""
        drop = self._indices(indices)
        self._push(_State(self._state.base, tuple(s for i, s in enumerate(self.strokes) if i not in drop)))

    def without(self, indices) -> "Sketch":
        """A new sketch (no history) with the given strokes removed; this one is unchanged."""
        drop = self._indices(indices)
        return Sketch([s for i, s in enumerate(self.strokes) if i not in drop], self.base)

    def _indices(self, indices) -> set:
        idx = {int(indices)} if np.isscalar(indices) else {int(i) for i in indices}
        n = len(self)
        bad = [i for i in idx if not -n <= i < n]
        if bad:
            raise IndexError(f"stroke index {bad[0]} out of range for {n} strokes")
        return {i % n for i in idx}

    def clear(self) -> None:
        """Remove every stroke and the base (undoable)."""
        if self.strokes or self.base is not None:
            self._push(_State(None, ()))

    def set_base(self, base, keep_strokes: bool = False) -> None:
        """Start from a raster image (square uint8; see `dsf.images.load_sketch`), undoable.
        By default the strokes are dropped (loading a sample starts a new drawing)."""
        self._push(_State(self._check_base(base), self.strokes if keep_strokes else ()))

    def replace(self, strokes=(), base=None) -> None:
        """Replace base and strokes at once (one undoable edit)."""
        strokes = tuple(s if isinstance(s, Stroke) else Stroke.from_dict(s) for s in strokes)
        self._push(_State(self._check_base(base), strokes))

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self._state)
        self._state = self._undo.pop()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self._state)
        self._state = self._redo.pop()
        return True

    def copy(self) -> "Sketch":
        """The current state, without history."""
        return Sketch(self.strokes, self.base)

    # ---- rendering -------------------------------------------------------------------------
    def render(self, size: int = 512, strokes=None) -> np.ndarray:
        """size×size uint8, black (0) strokes on white (255): base, then strokes in order."""
        size = int(size)
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        if self.base is None:
            im = Image.new("L", (size, size), 255)
        else:
            im = Image.fromarray(np.asarray(self.base))
            if im.size != (size, size):
                im = im.resize((size, size), Image.BOX if im.size[0] > size else Image.LANCZOS)
        draw = ImageDraw.Draw(im)
        for s in self.strokes if strokes is None else strokes:
            _draw(draw, s, size)
        return np.asarray(im, np.uint8)

    def save_png(self, path, size: int = 512) -> Path:
        """The sketch rendered at `size`² as a PNG file (parent folders created)."""
        return save_png(self.render(size), path)

    # ---- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"format": JSON_FORMAT, "version": JSON_VERSION, "strokes": [s.to_dict() for s in self.strokes]}
        if self.base is not None:
            d["base_png"] = _png_b64(self.base)
        return d

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d) -> "Sketch":
        if isinstance(d, list):  # a bare list of strokes
            d = {"format": JSON_FORMAT, "strokes": d}
        if not isinstance(d, dict) or d.get("format") != JSON_FORMAT:
            raise ValueError(f"not a {JSON_FORMAT} document (missing \"format\": \"{JSON_FORMAT}\")")
        if int(d.get("version", 1)) > JSON_VERSION:
            raise ValueError(f"{JSON_FORMAT} version {d['version']} is newer than this kit reads ({JSON_VERSION})")
        base = _from_png_b64(d["base_png"]) if d.get("base_png") else None
        return cls([Stroke.from_dict(s) for s in d.get("strokes", [])], base)

    @classmethod
    def from_json(cls, text: str) -> "Sketch":
        return cls.from_dict(json.loads(text))

    def save_json(self, path, indent: int | None = 1) -> Path:
        path = Path(path)
        path.write_text(self.to_json(indent))
        return path

    @classmethod
    def load_json(cls, path) -> "Sketch":
        return cls.from_json(Path(path).read_text())


# ---- which component crops a stroke can change ------------------------------------------------
def stroke_box(stroke: Stroke, canvas: int) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1), end-exclusive, clipped to the canvas, that holds every pixel
    the stroke can paint at this canvas size (its points' bounding box grown by half the width
    and one pixel of rounding). Empty (x0 >= x1 or y0 >= y1) when the stroke is off the canvas."""
    pad = max(1.0, stroke.width * canvas) / 2 + 1
    xs = [x * canvas - 0.5 for x, _ in stroke.points]
    ys = [y * canvas - 0.5 for _, y in stroke.points]
    x0, x1 = math.floor(min(xs) - pad), math.ceil(max(xs) + pad) + 1
    y0, y1 = math.floor(min(ys) - pad), math.ceil(max(ys) + pad) + 1
    clip = lambda v: min(max(v, 0), canvas)  # noqa: E731
    return clip(x0), clip(y0), clip(x1), clip(y1)


def touched_parts(stroke: Stroke, canvas: int = 512) -> tuple:
    """The parts whose encoder input this stroke can change, in `PARTS` order.

    A window part is touched when the stroke's box (`stroke_box`) intersects its window (the
    windows overlap, so one stroke can touch several). The remainder is the whole sketch with
    the four windows painted white, so a stroke lying entirely inside the windows does not
    change it: the remainder is touched only when some of the box lies outside all four.
    Conservative (a box, not the painted pixels); `changed_parts` gives the exact answer."""
    x0, y0, x1, y1 = stroke_box(stroke, canvas)
    if x0 >= x1 or y0 >= y1:
        return ()
    wins = windows(canvas)
    out = [p for p in WINDOW_PARTS
           if x0 < wins[p].x + wins[p].size and wins[p].x < x1 and y0 < wins[p].y + wins[p].size and wins[p].y < y1]
    outside = np.ones((y1 - y0, x1 - x0), bool)
    for p in WINDOW_PARTS:
        w = wins[p]
        outside[max(w.y - y0, 0):max(w.y + w.size - y0, 0), max(w.x - x0, 0):max(w.x + w.size - x0, 0)] = False
    if outside.any():
        out.append("remainder")
    return tuple(p for p in PARTS if p in out)


def changed_parts(before: np.ndarray, after: np.ndarray) -> tuple:
    """The parts whose crop differs between two renders of the same canvas (exact; this is
    what the pipeline's per-part cache sees)."""
    from .components import split_components

    a, b = split_components(before), split_components(after)
    return tuple(p for p in PARTS if not np.array_equal(a[p], b[p]))
