"""Aligning any face sketch to the template: scans, phone photos of drawings, other datasets.

The model only works on sketches whose eyes, nose and mouth sit in their component windows
(`dsf.components.windows`). A scan, a photo of a drawing or a sketch from another dataset has
the face anywhere, at any size and tilt. `align_sketch` finds the face and warps it onto the
template with the fit that aligns the training photos (`dsf.data.align`):

    aligned = dsf.align_sketch("scan.jpg", canvas=pipe.config.canvas)
    trace = pipe.run(aligned.sketch)
    aligned.to_original(trace.image)      # the face, warped back into the scan's frame

Finding the face. MediaPipe's face mesh (`dsf.data.landmarks`; an optional dependency,
requirements-train.txt) runs on copies of the sketch scaled to a 512-pixel long side, tried in
order (ATTEMPTS) until it finds a face the template fits: blurred by 4 px first (the mesh finds
faces on soft pencil-like edges far more often than on thin sharp pen lines, and places them
better), then 6, 3 and 2 px, sharp, and blurred with a white margin (the face detector misses
faces that fill the frame). Measured with tools/align_scans.py:
  FS2K artist sketches as scanned (2,104)     99.0 % found as given, 99.95 % with the copies
  the kit's extracted line sketches (1,500)   68.9 % found as given, 99.1 % with the copies
  eye-centre error after alignment, FS2K test split, against the alignment the data
  preparation derived from each sketch's photo: 1.7 % of the canvas (mean; p90 2.7 %)
  samples moved by known similarity transforms onto a larger sheet: 1.5 % (78 of 80 found)

The `ink` fallback, when no copy gives a face: the ink's centroid and spread are matched to
those of the kit's aligned line sketches (INK_CENTRE, INK_SPREAD), upright. It is rough (on
FS2K scans a median eye error of 14 % of the canvas: hair shading and shoulders pull it) and
always comes with a `warning`; when its placement is within INK_TOLERANCE of the input's own,
the input is left as is.

The warp whitens the paper as the data preparation does for scanned sketches
(`normalise_artist_sketch`), thickens strokes before large shrinks as `dsf.images` does, and
warps with `dsf.data.align.warp_sketch`. An input already on the template (`offset_frac` at
most KEEP_TOLERANCE) is left as is: `sketch` is exactly what `dsf.images.load_sketch` makes of
the input. `check_template` is the landmark check for inputs taken as they are; `align_upload`
is the "align" toggle of the sketch pad's and the blending panel's uploads.
"""
from __future__ import annotations

import contextlib
import functools
import os
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from .data.align import Alignment, align_face, apply, reject_reason, rescale, template_points, warp_sketch
from .data.landmarks import FaceCentres
from .data.sketch_extraction import normalise_artist_sketch
from .images import SketchError, ensure_dark_on_white, letterbox_matrix, load_sketch, read_grey, thicken_for_shrink

DETECT_SIDE = 512
"""Long side (px) of the copy the landmarker sees."""

PAD_FRAC = 0.25
ATTEMPTS = (("blur 4 px", 4.0, False), ("blur 6 px", 6.0, False), ("blur 3 px", 3.0, False), ("blur 2 px", 2.0, False),
            ("sharp", 0.0, False), ("padded, blur 4 px", 4.0, True))
"""(name, Gaussian blur sigma in px of the DETECT_SIDE copy, white margin of PAD_FRAC or not),
tried in this order (see the module docstring)."""

KEEP_TOLERANCE = 0.03
"""An input at most this far off the template (`offset_frac`, in canvas sides) is left as it
is. On the prepared (aligned) sketches the landmarks put them 1.4 % (line sketches) and 2.0 %
(FS2K artist sketches) off in the median and 2.6 % / 3.2 % at the 90th percentile: that much
is the landmarker's own scatter on sketches, not worth a resampling."""

OFF_TEMPLATE = 0.06
"""`check_template` warns above this offset (the 99th percentile on aligned sketches is
4.8-5.3 %; an eye 6 % off is a fifth of its window's side away)."""

INK_CENTRE = (0.49, 0.53)
INK_SPREAD = 0.38
"""Median ink centroid (x, y) and RMS ink distance from it, in canvas sides, of the kit's
aligned line sketches (data/prepared_128, 1,500 extracted sketches): the `ink` fallback's targets."""

INK_TOLERANCE = 0.15
"""Without a face, an input whose ink placement lies within this of its own is left as is:
the ink heuristic is itself that far off on aligned line sketches (p90 13.5 % of the canvas)."""

NO_FACE_MOVED = ("no face found; placed by the ink's centre and spread (rough, upright only): "
                 "check the aligned sketch")
NO_FACE_KEPT = ("no face found; left as it is (its ink already sits where the template expects it, "
                "as far as the rough ink placement can tell)")

INSTALL_HINT = "sketch alignment needs mediapipe 0.10.14: pip install -r requirements-train.txt"


class AlignmentError(ValueError):
    """No face could be placed on the template (the message says why)."""


@dataclass(frozen=True)
class AlignedSketch:
    """A sketch on the template, the transform that put it there and how well it fits.

    sketch:      canvas² uint8, black strokes on white: the pipeline's input.
    matrix:      2×3 affine, source pixels -> canvas pixels (plain letterboxing when not moved).
    source:      the input as read (greyscale, dark strokes on light, its own size).
    method:      "landmarks" (the face mesh) or "ink" (the fallback).
    attempt:     which copy the landmarker found the face on (ATTEMPTS), None for "ink".
    moved:       False when the input was already on the template and is returned as is.
    offset_frac: how far the input was off the template: the largest move of a corner of the
                 face region by the fitted warp against plain letterboxing, / canvas.
    alignment:   the template fit and its checks (`dsf.data.align.Alignment`), for "landmarks".
    centres:     the detected eye1, eye2, nose, mouth centres in source pixels.
    warning:     what to look at, in words, or None.
    """

    sketch: np.ndarray
    matrix: np.ndarray
    canvas: int
    source: np.ndarray
    method: str
    attempt: str | None
    moved: bool
    offset_frac: float
    alignment: Alignment | None = None
    centres: FaceCentres | None = None
    warning: str | None = None

    def quality(self) -> dict:
        """JSON-ready quality measures: method, offset, and the fit's checks when there is one."""
        measures = {"method": self.method, "attempt": self.attempt, "moved": self.moved,
                    "offset_frac": round(self.offset_frac, 4), "warning": self.warning}
        if self.alignment is not None:
            measures.update(self.alignment.quality())
        return measures

    def to_original(self, image: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
        """Warp an image on the canvas (the face, the aligned sketch; any square size) back into
        the source's frame, over `background` (default: the source sketch) where it does not reach."""
        image = np.asarray(image)
        h, w = self.source.shape
        matrix = rescale(self.matrix, self.canvas, image.shape[0])
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # matrix maps source -> canvas
        back = cv2.warpAffine(image.astype(np.float32), matrix, (w, h), flags=flags)
        cover = cv2.warpAffine(np.ones(image.shape[:2], np.float32), matrix, (w, h), flags=flags)
        under = self.source if background is None else np.asarray(background)
        under = under.astype(np.float32)
        if back.ndim == 3 and under.ndim == 2:
            under = np.repeat(under[..., None], back.shape[2], axis=2)
        if back.ndim == 3:
            cover = cover[..., None]
        return np.clip(cover * back + (1 - cover) * under, 0, 255).round().astype(np.uint8)


# ---------------------------------------------------------------------------- the landmarker

@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: MediaPipe's C++ start-up chatter would bury every message."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def default_detector():
    """MediaPipe's face mesh, built once per process; ImportError with INSTALL_HINT without it."""
    from .data.landmarks import MeshDetector

    try:
        with _quiet_stderr():
            detector = MeshDetector()
            detector(np.full((64, 64, 3), 255, np.uint8))  # the first call logs too
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return detector


def landmarker_available() -> bool:
    """Whether the face mesh can be built (mediapipe installed)."""
    try:
        default_detector()
    except ImportError:
        return False
    return True


def _copies(grey: np.ndarray):
    """(attempt name, image for the landmarker, scale, margin) for each of ATTEMPTS, in order."""
    scale = DETECT_SIDE / max(grey.shape)
    work = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    margin = int(round(PAD_FRAC * DETECT_SIDE))
    padded = cv2.copyMakeBorder(work, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    for name, blur, pad in ATTEMPTS:
        copy = padded if pad else work
        yield name, cv2.GaussianBlur(copy, (0, 0), blur) if blur else copy, scale, margin if pad else 0


def _detect(detector, copy: np.ndarray, scale: float, margin: int) -> FaceCentres | None:
    with warnings.catch_warnings():  # protobuf's deprecation notice, raised on every call, says nothing to users
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        found = detector(cv2.cvtColor(copy, cv2.COLOR_GRAY2RGB))
    if found is None:
        return None
    to_source = lambda p: (np.asarray(p, np.float64) - margin) / scale  # noqa: E731
    return FaceCentres(points=to_source(found.points), nose_tip=to_source(found.nose_tip))


def fit_face(grey: np.ndarray, canvas: int, detector=None) -> tuple[Alignment, FaceCentres, str] | None:
    """Landmarks on a sketch and their template fit: (alignment, centres, attempt), or None.

    Tries ATTEMPTS in order and keeps the first face the template fits (no `bad_alignment`);
    if every face found fits badly, the one with the smallest residual."""
    detector = detector or default_detector()
    size = (grey.shape[1], grey.shape[0])
    fits = []
    for attempt, copy, scale, margin in _copies(grey):
        centres = _detect(detector, copy, scale, margin)
        if centres is None:
            continue
        fit = align_face(centres, size, canvas)
        if reject_reason(fit) != "bad_alignment":
            return fit, centres, attempt
        fits.append((fit, centres, attempt))
    return min(fits, key=lambda f: f[0].residual_frac) if fits else None


# ---------------------------------------------------------------------------- the fallback

def ink_matrix(grey: np.ndarray, canvas: int) -> np.ndarray | None:
    """The `ink` fallback: an upright similarity that puts the ink's centroid on INK_CENTRE and
    its RMS spread at INK_SPREAD (source pixels -> canvas); None for a blank sketch."""
    scale = min(1.0, DETECT_SIDE / max(grey.shape))  # moments of a small copy: cheap on big scans
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    darkness = np.clip((255.0 - small) / 255.0 - 0.25, 0, None)  # paper grain and light shading do not count
    total = darkness.sum()
    if total <= 0:
        return None
    ys, xs = np.indices(small.shape)
    cx, cy = (darkness * xs).sum() / total, (darkness * ys).sum() / total
    spread = np.sqrt((darkness * ((xs - cx) ** 2 + (ys - cy) ** 2)).sum() / total) / scale
    s = INK_SPREAD * canvas / max(spread, 1e-6)
    centre = np.array([cx, cy]) / scale
    return np.array([[s, 0, INK_CENTRE[0] * canvas - s * centre[0]],
                     [0, s, INK_CENTRE[1] * canvas - s * centre[1]]])


# ---------------------------------------------------------------------------- aligning

def offset_frac(matrix: np.ndarray, size: tuple[int, int], canvas: int) -> float:
    """How far off the template an input is: the face points that `matrix` puts on the template
    targets (eyes, nose, mouth), placed by plain letterboxing instead; their largest distance
    from the targets, / canvas."""
    targets = template_points(canvas)
    in_source = apply(cv2.invertAffineTransform(matrix), targets)
    return float(np.linalg.norm(apply(letterbox_matrix(size, canvas), in_source) - targets, axis=1).max() / canvas)


def align_sketch(image, canvas: int = 512, detector=None, fallback: bool = True) -> AlignedSketch:
    """Find the face in a sketch (path, bytes, PIL image or array) and warp it onto the template.

    detector: any callable `rgb -> FaceCentres | None`; default MediaPipe's face mesh (ImportError
              with the install hint when mediapipe is missing).
    fallback: when no face is found, place the sketch by its ink (True) or raise AlignmentError.
    See the module docstring for the attempts, the fallback and when an input is left as is.
    """
    grey = ensure_dark_on_white(read_grey(image))
    size = (grey.shape[1], grey.shape[0])
    found = fit_face(grey, canvas, detector)
    if found is not None:
        fit, centres, attempt = found
        placed = dict(matrix=fit.matrix, method="landmarks", attempt=attempt, alignment=fit, centres=centres,
                      warning=_fit_warning(fit))
        tolerance = KEEP_TOLERANCE
    elif not fallback:
        raise AlignmentError("no face found in the sketch (tried: " + ", ".join(a[0] for a in ATTEMPTS) + ")")
    else:
        matrix = ink_matrix(grey, canvas)
        if matrix is None:
            raise AlignmentError("the sketch is blank: there is nothing to align")
        placed = dict(matrix=matrix, method="ink", attempt=None, warning=NO_FACE_MOVED)
        tolerance = INK_TOLERANCE
    offset = offset_frac(placed["matrix"], size, canvas)
    if offset > tolerance:
        return AlignedSketch(sketch=_warp(grey, placed["matrix"], canvas), canvas=canvas, source=grey, moved=True,
                             offset_frac=offset, **placed)
    if placed["method"] == "ink":
        placed["warning"] = NO_FACE_KEPT
    placed["matrix"] = letterbox_matrix(size, canvas)
    return AlignedSketch(sketch=load_sketch(grey, canvas), canvas=canvas, source=grey, moved=False,
                         offset_frac=offset, **placed)


def align_upload(image, canvas: int) -> tuple[np.ndarray | None, str]:
    """The widgets' "align" toggle (sketch pad, blending panel): align an uploaded image and say
    how it went in one status line. (aligned sketch, its warning or "aligned (<method>)"), or
    (None, why not) for a file that is no image, a blank image, or no mediapipe (the install
    hint): a widget shows the line, never a traceback."""
    try:
        aligned = align_sketch(image, canvas=canvas)
    except ImportError as e:
        return None, str(e)
    except (SketchError, AlignmentError) as e:
        return None, " ".join(f"not aligned: {e}".split())  # one line, whatever the reader said
    return aligned.sketch, aligned.warning or f"aligned ({aligned.method})"


def _warp(grey: np.ndarray, matrix: np.ndarray, canvas: int) -> np.ndarray:
    """Whiten the paper, thicken strokes before a large shrink, warp onto the canvas."""
    shrink = 1 / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    return warp_sketch(thicken_for_shrink(normalise_artist_sketch(grey), shrink), matrix, canvas)


def _fit_warning(fit: Alignment) -> str | None:
    """The template fit's quality checks (dsf.data.align.reject_reason) in words; roll is
    not among them: the warp removes it."""
    reason = reject_reason(fit)
    messages = {
        "yaw_too_large": f"the face is turned (yaw asymmetry {fit.yaw_asymmetry:+.2f}); "
                         "the model expects frontal faces",
        "too_small": f"the face is small (eyes {fit.eye_distance_px:.0f} px apart): the aligned sketch is blurry",
        "out_of_frame": f"{fit.outside_frac:.0%} of the face region lies outside the image",
        "bad_alignment": f"the face fits the template poorly (a centre {fit.residual_frac:.0%} of the canvas "
                         "off its target): check the aligned sketch",
    }
    return messages.get(reason)


def check_template(grey: np.ndarray, detector=None) -> str | None:
    """The landmark check for an input the pipeline would take as it is (a square canvas, as
    from `load_sketch`): a warning when no face is found or it sits off the template, else None."""
    canvas = grey.shape[0]
    found = fit_face(grey, canvas, detector)
    if found is None:
        return ("no face found by the landmarker (it misses ~3 % of clean line sketches): if this is a face, "
                "align it (--align, dsf.align_sketch)")
    offset = offset_frac(found[0].matrix, (canvas, canvas), canvas)
    if offset > OFF_TEMPLATE:
        return (f"the face is off the template (aligning would move it {offset:.0%} of the canvas): "
                "align it (--align, dsf.align_sketch)")
    return None


def no_landmarks(rgb: np.ndarray) -> None:
    """A detector that finds nothing: `align_sketch(image, detector=no_landmarks)` places the
    sketch by the ink fallback alone (no mediapipe needed)."""
    return None


# ---------------------------------------------------------------------------- a picture of it

def show_alignment(aligned: AlignedSketch, faces: dict | None = None, axes=None, title: str | None = None):
    """One row of panels: the source with the detected centres and the fitted template (the
    four windows mapped back onto it), the aligned sketch with its windows, then each of
    `faces` (label -> image). Draws into `axes` (a row of 2 + len(faces)) or a new figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    from .components import windows
    from .viz import PART_COLOURS, show_windows

    faces = faces or {}
    if axes is None:
        fig, axes = plt.subplots(1, 2 + len(faces), figsize=(3.2 * (2 + len(faces)), 3.6), squeeze=False)
        axes = axes[0]
        if title:
            fig.suptitle(title)
    ax = axes[0]
    ax.imshow(aligned.source, cmap="gray", vmin=0, vmax=255)
    to_source = cv2.invertAffineTransform(aligned.matrix)
    for part, w in windows(aligned.canvas).items():
        if part == "remainder":
            continue
        corners = np.array([[w.x, w.y], [w.x + w.size, w.y], [w.x + w.size, w.y + w.size], [w.x, w.y + w.size]])
        ax.add_patch(Polygon(apply(to_source, corners - 0.5), fill=False, lw=1.2, edgecolor=PART_COLOURS[part]))
    if aligned.centres is not None:
        ax.scatter(*aligned.centres.points.T, s=18, c=[PART_COLOURS[p] for p in ("eye1", "eye2", "nose", "mouth")],
                   edgecolors="white", linewidths=0.6, zorder=3)
    found = f"landmarks ({aligned.attempt})" if aligned.method == "landmarks" else "no face found: ink fallback"
    ax.set_title(f"source: {found}\nand the fitted template", fontsize=8)
    ax.set_xticks([]), ax.set_yticks([])
    moved = f"moved {aligned.offset_frac:.0%} of the canvas" if aligned.moved else "left as it is"
    show_windows(aligned.sketch, title=f"aligned sketch ({moved})", ax=axes[1])
    axes[1].title.set_fontsize(8)
    for ax, (label, image) in zip(axes[2:], faces.items()):
        ax.imshow(image, cmap="gray" if np.ndim(image) == 2 else None)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    return axes[0].figure
