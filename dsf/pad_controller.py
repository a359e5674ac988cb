"""The sketch pad's controller: the callback logic behind the drawing widget, no browser.

`PadController` holds the editable `dsf.strokes.Sketch`, receives stroke-end / undo / redo /
clear / load events, and refreshes the face in ONE background thread, so drawing never waits
for the network. A refresh starts `debounce` s after the last edit; edits that arrive while a
refresh runs are coalesced into one follow-up refresh of the newest state. The face is
published first, the shadow after it (skipped when newer edits are already waiting). The
pipeline's per-part caches re-encode only the parts whose crop a stroke changed and decode a
part's shadow again only when its neighbours or weights changed.

`benchmark_stroke_latency(pipe)` times stroke-end → face-published on this callback path.
The widget that draws (`dsf.sketch_pad`) sits on top; this module needs no widget library.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .components import windows
from .config import PARTS
from .images import load_sketch
from .strokes import Sketch, Stroke, touched_parts

__all__ = ["PadController", "RefreshRecord", "benchmark_stroke_latency", "load_pipeline_from", "BASE_SIZE"]

BASE_SIZE = 512
"""Loaded/uploaded images are kept at this resolution as the sketch's raster base."""


def load_pipeline_from(params=None):
    """`dsf.load_pipeline(params)`, where params None means $DSF_PARAMS, else the shipped parameters."""
    from .pipeline import load_pipeline

    return load_pipeline(params if params is not None else (os.environ.get("DSF_PARAMS") or None))


@dataclass
class RefreshRecord:
    """One finished refresh. latency_s: newest edit covered → face published (the figure the
    issue targets); since_first_s: oldest edit covered → face published (> latency_s when
    edits were coalesced); run_s: the pipeline run; shadow_s: the shadow after it (None if
    skipped); recomputed: parts the pipeline re-projected/re-decoded; touched: parts the
    covered strokes touched (`touched_parts`); edits: edits coalesced into this refresh."""

    generation: int
    latency_s: float
    since_first_s: float
    run_s: float
    shadow_s: float | None
    recomputed: tuple
    touched: tuple
    edits: int
    timings: dict = field(default_factory=dict)


class PadController:
    """Sketch state + debounced background refresh of face and shadow (see module docstring).

    pipeline: a `dsf.pipeline.Pipeline`, or None to load `params` (a folder; None → the env
    var DSF_PARAMS, else the shipped parameters) in the background thread on first refresh.
    on_face(image H×W×3 uint8, record), on_shadow(grey H×W uint8 or None), on_status(text):
    called from the worker thread. Pipeline calls happen only on that thread.
    """

    def __init__(self, pipeline=None, *, params=None, refine=0.5, sex=None, k=None, shadow=True,
                 debounce: float = 0.02, on_face=None, on_shadow=None, on_status=None, on_sketch=None):
        self._pipeline = pipeline
        self._params = params
        self.sketch = Sketch()
        self.refine = refine
        self.sex = sex
        self.k = k
        self.shadow_on = bool(shadow)
        self.debounce = float(debounce)
        self.on_face, self.on_shadow, self.on_status, self.on_sketch = on_face, on_shadow, on_status, on_sketch
        self.face: np.ndarray | None = None
        self.shadow: np.ndarray | None = None
        self.trace = None
        self.error: BaseException | None = None
        self.records: list[RefreshRecord] = []
        self._cv = threading.Condition()
        self._generation = 0          # bumped by every edit / settings change
        self._done_generation = 0     # generation of the last published face
        self._pending_since = None    # perf_counter of the oldest edit not yet covered
        self._last_edit_t = 0.0
        self._pending_touched: set = set()
        self._pending_edits = 0
        self._running = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="dsf-sketch-pad", daemon=True)
        self._thread.start()

    # ---- state ---------------------------------------------------------------------------
    @property
    def canvas(self) -> int:
        """The pipeline's canvas side (the pipeline must be loaded; `wait()` first if not)."""
        return self.pipeline.config.canvas

    @property
    def pipeline(self):
        if self._pipeline is None:
            self._status("loading parameters…")
            self._pipeline = load_pipeline_from(self._params)
        return self._pipeline

    @property
    def busy(self) -> bool:
        with self._cv:
            return self._running or self._generation != self._done_generation

    def __repr__(self):
        return f"PadController({self.sketch!r}, refreshes {len(self.records)}, busy {self.busy})"

    # ---- events (any thread; they never wait for the pipeline) --------------------------------
    def add_stroke(self, stroke) -> tuple:
        """A stroke ended: add it (a `Stroke` or its dict) and request a refresh. Returns the
        parts it touches on the pipeline's canvas (512 until the pipeline is loaded)."""
        stroke = stroke if isinstance(stroke, Stroke) else Stroke.from_dict(stroke)
        canvas = self._pipeline.config.canvas if self._pipeline is not None else 512
        touched = touched_parts(stroke, canvas)
        with self._cv:
            self.sketch.add(stroke)
        self._edited(touched)
        return touched

    def undo(self) -> bool:
        return self._edit_sketch(self.sketch.undo)

    def redo(self) -> bool:
        return self._edit_sketch(self.sketch.redo)

    def clear(self) -> None:
        self._edit_sketch(self.sketch.clear)

    def remove(self, indices) -> None:
        """Remove strokes by index (undoable) and refresh."""
        self._edit_sketch(lambda: self.sketch.remove(indices))

    def _edit_sketch(self, edit):
        # An edit that may change any window: refresh every part, unless it did nothing (False).
        with self._cv:
            result = edit()
        if result is not False:
            self._edited(PARTS)
        return result

    def load(self, source, keep_strokes: bool = False) -> None:
        """Start from an image (path, bytes, PIL image or array) or a strokes JSON file / `Sketch`."""
        if isinstance(source, Sketch):
            new = source
        elif isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".json"):
            new = Sketch.load_json(source)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                new = Sketch(base=load_sketch(source, BASE_SIZE))
        with self._cv:
            strokes = (self.sketch.strokes if keep_strokes else ()) + tuple(new.strokes)
            self.sketch.replace(strokes, new.base)  # one undoable edit
        self._edited(PARTS)

    def set_refine(self, refine) -> None:
        self.refine = refine
        self._edited(())

    def set_sex(self, sex) -> None:
        self.sex = sex
        self._edited(())

    def set_shadow(self, on: bool) -> None:
        self.shadow_on = bool(on)
        if self.shadow_on:
            self._edited(())
        elif self.on_shadow:
            self.on_shadow(None)

    def refresh(self) -> None:
        """Request a refresh of the current state."""
        self._edited(())

    def _edited(self, touched) -> None:
        now = time.perf_counter()
        with self._cv:
            self._generation += 1
            self._last_edit_t = now
            if self._pending_since is None:
                self._pending_since = now
            self._pending_touched.update(touched)
            self._pending_edits += 1
            self._cv.notify_all()
        if self.on_sketch:
            self.on_sketch(self.sketch)

    # ---- waiting / closing ------------------------------------------------------------------
    def wait(self, timeout: float | None = 120) -> bool:
        """Block until the face (and shadow) cover every edit so far. False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._running or self._generation != self._done_generation:
                if self._closed:
                    return False
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left if left is None else min(left, 0.5))
        return True

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    # ---- the worker -----------------------------------------------------------------------
    def _status(self, text: str) -> None:
        if self.on_status:
            try:
                self.on_status(text)
            except Exception:  # a display callback must never kill the worker
                pass

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._closed and self._generation == self._done_generation:
                    self._cv.wait()
                if self._closed:
                    return
                self._running = True
            try:
                while True:  # debounce: start `debounce` s after the newest edit
                    with self._cv:
                        delay = self._last_edit_t + self.debounce - time.perf_counter()
                    if delay <= 0:
                        break
                    time.sleep(delay)
                self._refresh_once()
            except BaseException as e:  # keep the pad alive; show the error
                self.error = e
                self._status(f"error: {e.__class__.__name__}: {e}")
                with self._cv:
                    self._done_generation = self._generation  # do not spin on a failing state
            finally:
                with self._cv:
                    self._running = False
                    self._cv.notify_all()

    def _refresh_once(self) -> None:
        pipe = self.pipeline
        with self._cv:
            generation = self._generation
            newest, oldest = self._last_edit_t, self._pending_since
            touched, edits = tuple(p for p in PARTS if p in self._pending_touched), self._pending_edits
            self._pending_since, self._pending_touched, self._pending_edits = None, set(), 0
            sketch = self.sketch.copy()
            refine, sex, k, want_shadow = self.refine, self.sex, self.k, self.shadow_on
        grey = sketch.render(pipe.config.canvas)
        self._status("drawing the face…")
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a blank sketch warns; that is how drawing starts
            trace = pipe.run(grey, refine=refine, sex=sex, k=k, shadow=False)
        done = time.perf_counter()
        record = RefreshRecord(generation, done - newest, done - (oldest or newest), done - t, None,
                               tuple(trace.recomputed), touched, edits, dict(trace.timings))
        self.trace, self.face = trace, trace.image
        if self.on_face:
            self.on_face(trace.image, record)
        with self._cv:
            stale = self._generation != generation
        if want_shadow and not stale:
            t = time.perf_counter()
            self.shadow = pipe.shadow(trace.projections)
            record.shadow_s = time.perf_counter() - t
            if self.on_shadow and self.shadow_on:
                self.on_shadow(self.shadow)
        self.records.append(record)
        re = ", ".join(record.recomputed) or "none"
        self._status(f"face {record.latency_s:.2f} s after the stroke (re-encoded/decoded: {re})"
                     + (f"; shadow {record.shadow_s:.2f} s" if record.shadow_s is not None else ""))
        with self._cv:
            self._done_generation = generation


def _bench_strokes(n: int, canvas: int, seed: int = 0) -> list[Stroke]:
    """Short strokes cycling through the windows and the remainder (like drawing a face)."""
    rng = np.random.default_rng(seed)
    wins = windows(canvas)
    out = []
    for i in range(n):
        part = PARTS[i % len(PARTS)]
        w = wins[part]
        if part == "remainder":  # the face outline, outside the four windows
            cx, cy, r = canvas * 0.5, canvas * 0.55, canvas * 0.42
            a0 = rng.uniform(0.1, 0.9) * np.pi
            pts = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in np.linspace(a0, a0 + 0.4, 8)]
        else:
            x0, y0 = rng.uniform(w.x + 0.2 * w.size, w.x + 0.5 * w.size), rng.uniform(w.y + 0.3 * w.size, w.y + 0.7 * w.size)
            pts = [(x0 + t * 0.3 * w.size, y0 + np.sin(t * 3) * 0.05 * w.size) for t in np.linspace(0, 1, 8)]
        out.append(Stroke.from_pixels(pts, canvas, width_px=max(1.0, canvas / 170)))
    return out


def benchmark_stroke_latency(pipe, n: int = 10, shadow: bool = True, refine=0.5, seed: int = 0,
                             debounce: float | None = None) -> dict:
    """Median time from a stroke's end to the refreshed face, on the sketch pad's callback path
    (background thread, debounce, pipeline cache; no browser).

    Draws `n` short strokes one at a time, cycling through the five parts (each refresh waits
    for the previous one, face and shadow), twice: the first pass is a warm-up (Jittor compiles
    each new combination of recomputed parts once), the sketch is cleared, and the second pass
    is measured. Returns {"median_s", "mean_s", "min_s", "max_s", "n", "latencies_s",
    "run_median_s", "overhead_median_s" (the pad's own share: debounce, render, hand-off),
    "shadow_median_s", "stages_median_s" (pipeline stage → median s),
    "recomputed" (per stroke), "debounce_s", "canvas"}. median_s includes the debounce.
    """
    debounce = PadController.__init__.__kwdefaults__["debounce"] if debounce is None else debounce
    ctrl = PadController(pipe, refine=refine, shadow=shadow, debounce=debounce)
    strokes = _bench_strokes(n, pipe.config.canvas, seed)

    def one_pass():
        start = len(ctrl.records)
        for s in strokes:
            ctrl.add_stroke(s)
            if not ctrl.wait(900):
                raise TimeoutError("a refresh did not finish within 900 s")
            if ctrl.error is not None:
                raise ctrl.error
        return ctrl.records[start:]

    try:
        ctrl.refresh()
        ctrl.wait(900)
        one_pass()                      # warm-up
        ctrl.clear()
        ctrl.wait(900)
        recs = one_pass()
        lat = [r.latency_s for r in recs]
        shadows = [r.shadow_s for r in recs if r.shadow_s is not None]
        stages = sorted({k for r in recs for k in r.timings})
        return {
            "median_s": statistics.median(lat), "mean_s": statistics.fmean(lat), "min_s": min(lat),
            "max_s": max(lat), "n": len(lat), "latencies_s": lat,
            "run_median_s": statistics.median(r.run_s for r in recs),
            "overhead_median_s": statistics.median(r.latency_s - r.run_s for r in recs),
            "shadow_median_s": statistics.median(shadows) if shadows else None,
            "stages_median_s": {k: statistics.median(r.timings.get(k, 0.0) for r in recs) for k in stages},
            "recomputed": [r.recomputed for r in recs], "debounce_s": debounce, "canvas": pipe.config.canvas,
        }
    finally:
        ctrl.close()
