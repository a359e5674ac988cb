"""The sketch pad: draw in JupyterLab, see the shadow of plausible parts and the face, on CPU.

    import dsf.sketch_pad
    pad = dsf.sketch_pad.sketch_pad()        # shipped parameters; or params="folder", pipeline=...
    pad                                     # show it (last line of a cell)
    pad.controller.sketch.save_json("my.json")

Three layers, each usable alone:

- `PadController` — the callback logic, no browser: holds the editable `dsf.strokes.Sketch`,
  receives stroke-end / undo / redo / clear / load events, and refreshes the face in ONE
  background thread, so drawing never waits for the network. A refresh starts `debounce` s
  after the last edit; edits that arrive while a refresh runs are coalesced into one
  follow-up refresh of the newest state. The face is published first, the shadow after it
  (skipped when newer edits are already waiting). The pipeline's per-part cache re-encodes
  only the parts whose crop a stroke changed; the shadow is cached per part too (a part's K
  neighbour sketches are decoded again only when its neighbours or weights changed).
- `SketchCanvas` — the drawing surface: an anywidget (a small ES module, no build step)
  with pointer drawing, the shadow faintly under the strokes (multiply blending), and the
  stroke list synced as vector polylines in [0, 1]² coordinates.
- `SketchPad` / `sketch_pad()` — the composite widget: toolbar (pen/eraser, width,
  undo/redo/clear, shadow toggle, load a sample or an uploaded image, save PNG + JSON), the
  canvas, the face, and the interactive notebook's per-part refine sliders and sex pool
  (`dsf.widgets.refine_controls`, reused as they are).

`benchmark_stroke_latency(pipe)` times stroke-end → face-published on the callback path.
"""
from __future__ import annotations

import base64
import os
import statistics
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import anywidget
import ipywidgets as W
import traitlets as T

from .config import PARTS
from .strokes import Sketch, Stroke, touched_parts
from .widgets import png_bytes

__all__ = ["PadController", "RefreshRecord", "SketchCanvas", "SketchPad", "sketch_pad",
           "benchmark_stroke_latency", "sample_sketches", "SAMPLES_DIR"]

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "sample_sketches"
BASE_SIZE = 512
"""Loaded/uploaded images are kept at this resolution as the sketch's raster base."""


def sample_sketches() -> list[Path]:
    """The kit's sample sketches (sample_sketches/*.png|jpg), sorted."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def data_url(array: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(array)).decode("ascii")


# ================================================================================================
# The callback logic
# ================================================================================================
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
        self._params = params if params is not None else (os.environ.get("DSF_PARAMS") or None)
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
        self._shadow_cache: dict = {}
        self._masks = None
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
            from .pipeline import load_pipeline

            self._status("loading parameters…")
            self._pipeline = load_pipeline(self._params)
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
        with self._cv:
            ok = self.sketch.undo()
        if ok:
            self._edited(PARTS)
        return ok

    def redo(self) -> bool:
        with self._cv:
            ok = self.sketch.redo()
        if ok:
            self._edited(PARTS)
        return ok

    def clear(self) -> None:
        with self._cv:
            self.sketch.clear()
        self._edited(PARTS)

    def remove(self, indices) -> None:
        """Remove strokes by index (undoable) and refresh."""
        with self._cv:
            self.sketch.remove(indices)
        self._edited(PARTS)

    def load(self, source, keep_strokes: bool = False) -> None:
        """Start from an image (path, bytes, PIL image or array) or a strokes JSON file / `Sketch`."""
        from .images import load_sketch

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
            self.shadow = self._shadow(pipe, trace)
            record.shadow_s = time.perf_counter() - t
            if self.on_shadow and self.shadow_on:
                self.on_shadow(self.shadow)
        self.records.append(record)
        re = ", ".join(record.recomputed) or "none"
        self._status(f"face {record.latency_s:.2f} s after the stroke (re-encoded/decoded: {re})"
                     + (f"; shadow {record.shadow_s:.2f} s" if record.shadow_s is not None else ""))
        with self._cv:
            self._done_generation = generation

    def _shadow(self, pipe, trace) -> np.ndarray:
        """`Pipeline.shadow`, with each part's decoded shadow cached by (neighbours, weights)."""
        from .components import composite, window_masks
        from .embedding import decode_sketch
        from .manifold import shadow_from_decoded

        per_part = {}
        for part in PARTS:
            idx = np.asarray(trace.neighbours[part])
            w = np.asarray(trace.weights[part], np.float32)
            key = (id(pipe), idx.tobytes(), w.tobytes())
            hit = self._shadow_cache.get(part)
            if hit is None or hit[0] != key:
                decoded = decode_sketch(pipe.networks[f"sketch_decoder/{part}"], pipe.banks[part].vectors[idx],
                                        pipe.windows[part].size)
                hit = self._shadow_cache[part] = (key, shadow_from_decoded(decoded, w))
            per_part[part] = hit[1]
        canvas = pipe.config.canvas
        if self._masks is None or self._masks[0] != canvas:
            self._masks = (canvas, window_masks(canvas))
        grey = composite(per_part, canvas, self._masks[1])
        return np.clip(grey * 255, 0, 255).astype(np.uint8)


# ================================================================================================
# Latency benchmark (no browser)
# ================================================================================================
def _bench_strokes(n: int, canvas: int, seed: int = 0) -> list[Stroke]:
    """Short strokes cycling through the windows and the remainder (like drawing a face)."""
    from .components import windows

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


# ================================================================================================
# The drawing surface (anywidget)
# ================================================================================================
_ESM = r"""
function render({ model, el }) {
  const size = model.get("size");
  const wrap = document.createElement("div");
  wrap.className = "dsf-pad";
  Object.assign(wrap.style, { position: "relative", width: size + "px", height: size + "px",
    background: "#fff", border: "1px solid #999", touchAction: "none", userSelect: "none",
    cursor: "crosshair", overflow: "hidden" });
  const shadow = document.createElement("img");
  shadow.className = "dsf-shadow";
  shadow.draggable = false;
  Object.assign(shadow.style, { position: "absolute", left: 0, top: 0, width: "100%", height: "100%",
    pointerEvents: "none", imageRendering: "auto" });
  const cv = document.createElement("canvas");
  cv.className = "dsf-canvas";
  cv.width = size; cv.height = size;
  // multiply: white paper lets the shadow through, ink stays black, the eraser (white) reveals it
  Object.assign(cv.style, { position: "absolute", left: 0, top: 0, width: "100%", height: "100%",
    mixBlendMode: "multiply" });
  wrap.append(shadow, cv);
  el.append(wrap);
  const ctx = cv.getContext("2d");
  let base = null, cur = null, seq = 0;
  let pending = [];  // strokes sent, not yet echoed back in model.strokes

  function drawStroke(s) {
    const p = s.points;
    if (!p || !p.length) return;
    const w = Math.max(1, s.width * size);
    const col = s.mode === "eraser" ? "#fff" : "#000";
    ctx.strokeStyle = col; ctx.fillStyle = col; ctx.lineWidth = w;
    ctx.lineCap = "round"; ctx.lineJoin = "round";
    if (p.length === 1) {
      ctx.beginPath(); ctx.arc(p[0][0] * size, p[0][1] * size, w / 2, 0, 2 * Math.PI); ctx.fill();
      return;
    }
    ctx.beginPath(); ctx.moveTo(p[0][0] * size, p[0][1] * size);
    for (let i = 1; i < p.length; i++) ctx.lineTo(p[i][0] * size, p[i][1] * size);
    ctx.stroke();
  }
  function redraw() {
    ctx.globalCompositeOperation = "source-over";
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, size, size);
    if (base && base.complete && base.naturalWidth) ctx.drawImage(base, 0, 0, size, size);
    for (const s of model.get("strokes")) drawStroke(s);
    for (const s of pending) drawStroke(s);
    if (cur) drawStroke(cur);
  }
  function loadBase() {
    const url = model.get("base");
    if (!url) { base = null; redraw(); return; }
    const im = new Image();
    im.onload = () => { base = im; redraw(); };
    im.src = url;
  }
  function showShadow() {
    const url = model.get("shadow");
    shadow.style.opacity = model.get("show_shadow") ? String(model.get("shadow_opacity")) : "0";
    if (url) shadow.src = url; else shadow.removeAttribute("src");
    shadow.style.visibility = url ? "visible" : "hidden";
  }
  function pos(e) {
    const r = cv.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
  }
  cv.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    cv.setPointerCapture(e.pointerId);
    cur = { points: [pos(e)], width: model.get("width"), mode: model.get("mode") };
    drawStroke(cur);
  });
  cv.addEventListener("pointermove", (e) => {
    if (!cur) return;
    const p = pos(e), q = cur.points[cur.points.length - 1];
    if (Math.abs(p[0] - q[0]) + Math.abs(p[1] - q[1]) < 0.5 / size) return;
    cur.points.push(p);
    drawStroke({ points: [q, p], width: cur.width, mode: cur.mode });
  });
  const end = (e) => {
    if (!cur) return;
    const s = cur; cur = null;
    s.seq = ++seq;
    pending.push(s);
    model.send({ type: "stroke", seq: s.seq, points: s.points, width: s.width, mode: s.mode });
  };
  cv.addEventListener("pointerup", end);
  cv.addEventListener("pointercancel", end);
  model.on("change:strokes", () => {
    const ack = model.get("ack");
    pending = pending.filter((s) => s.seq > ack);
    redraw();
  });
  model.on("change:base", loadBase);
  model.on("change:shadow", showShadow);
  model.on("change:show_shadow", showShadow);
  model.on("change:shadow_opacity", showShadow);
  loadBase(); showShadow();
}
export default { render };
"""


class SketchCanvas(anywidget.AnyWidget):
    """Pointer drawing surface. `strokes` (vector polylines, [0, 1]² coordinates) is set
    by Python; a finished stroke arrives as a message and goes to `on_stroke`."""

    _esm = _ESM
    strokes = T.List(T.Dict()).tag(sync=True)
    ack = T.Int(0).tag(sync=True)
    base = T.Unicode("").tag(sync=True)
    shadow = T.Unicode("").tag(sync=True)
    show_shadow = T.Bool(True).tag(sync=True)
    shadow_opacity = T.Float(0.35).tag(sync=True)
    mode = T.Unicode("pen").tag(sync=True)
    width = T.Float(3 / 512).tag(sync=True)
    size = T.Int(384).tag(sync=True)

    def __init__(self, on_stroke=None, **kw):
        super().__init__(**kw)
        self.on_stroke = on_stroke
        self.on_msg(self._handle)

    def _handle(self, _widget, content, _buffers):
        if not isinstance(content, dict) or content.get("type") != "stroke":
            return
        stroke = Stroke(tuple(tuple(p) for p in content["points"]), float(content["width"]),
                        content.get("mode", "pen"))
        if self.on_stroke:
            self.on_stroke(stroke, int(content.get("seq", 0)))


class SketchPad(W.HBox):
    """The composite sketch pad (see `sketch_pad`)."""

    def __init__(self, controller: PadController, size: int = 384, face_size: int = 320,
                 refine_controls=None):
        self.controller = controller
        c = controller
        self.canvas = SketchCanvas(on_stroke=self._on_stroke, size=size, show_shadow=c.shadow_on)
        self.face = W.Image(format="png", layout=W.Layout(width=f"{face_size}px", height=f"{face_size}px",
                                                          border="1px solid #999"))
        self.face.add_class("dsf-face")
        self.status = W.Label("starting…")
        self.status.add_class("dsf-status")
        narrow = {"description_width": "56px"}
        self.tool = W.ToggleButtons(options=[("pen", "pen"), ("eraser", "eraser")], value="pen",
                                    tooltips=["draw black strokes", "erase (paint white)"],
                                    style={"button_width": "64px"}, layout=W.Layout(width="150px"))
        self.width_slider = W.IntSlider(3, min=1, max=40, description="width", continuous_update=False,
                                        style=narrow, layout=W.Layout(width=f"{max(size - 160, 160)}px"))
        btn = lambda label, tip: W.Button(description=label, tooltip=tip, layout=W.Layout(width="62px"))  # noqa: E731
        self.undo_btn, self.redo_btn, self.clear_btn = btn("undo", "undo"), btn("redo", "redo"), btn("clear", "clear all")
        self.shadow_box = W.Checkbox(c.shadow_on, description="shadow", indent=False, layout=W.Layout(width="90px"))
        samples = sample_sketches()
        self.sample = W.Dropdown(options=[("load sample…", "")] + [(p.name, str(p)) for p in samples],
                                 value="", layout=W.Layout(width="170px"))
        self.upload = W.FileUpload(accept="image/*,.json", multiple=False, description="upload",
                                   layout=W.Layout(width="140px"))
        self.save_path = W.Text("sketch", description="save as", style=narrow,
                                layout=W.Layout(width=f"{max(size - 145, 160)}px"))
        self.save_btn = W.Button(description="save PNG+JSON", tooltip="writes <name>.png (512²) and <name>.json",
                                 layout=W.Layout(width="130px"))

        self.tool.observe(lambda ch: setattr(self.canvas, "mode", ch["new"]), "value")
        self.width_slider.observe(lambda ch: setattr(self.canvas, "width", ch["new"] / 512), "value")
        self.undo_btn.on_click(lambda _: c.undo())
        self.redo_btn.on_click(lambda _: c.redo())
        self.clear_btn.on_click(lambda _: c.clear())
        self.shadow_box.observe(self._on_shadow_toggle, "value")
        self.sample.observe(self._on_sample, "value")
        self.upload.observe(self._on_upload, "value")
        self.save_btn.on_click(self._on_save)

        c.on_face = self._show_face
        c.on_shadow = self._show_shadow
        c.on_status = self._show_status
        c.on_sketch = self._show_sketch
        self.refine_panel = refine_controls if refine_controls is not None else _refine_controls(c)

        toolbar = W.VBox([
            W.HBox([self.tool, self.width_slider]),
            W.HBox([self.undo_btn, self.redo_btn, self.clear_btn, self.shadow_box]),
            W.HBox([self.sample, self.upload]),
            W.HBox([self.save_path, self.save_btn]),
        ])
        left = W.VBox([toolbar, self.canvas], layout=W.Layout(min_width=f"{size + 12}px", margin="0 12px 0 0"))
        right = W.VBox([self.face, self.status] + ([self.refine_panel] if self.refine_panel is not None else []))
        super().__init__([left, right])
        self.add_class("dsf-sketch-pad")
        self._show_sketch(c.sketch)
        if c.face is None:
            c.refresh()

    def close(self):
        """Close the widgets and stop the controller's background thread."""
        self.controller.close()
        super().close()

    # Python → front end
    def _on_stroke(self, stroke, seq):
        # ack first: the front end drops its local copy of strokes up to `ack` when the
        # echoed stroke list (sent by add_stroke → on_sketch) arrives
        self.canvas.ack = max(self.canvas.ack, seq)
        self.controller.add_stroke(stroke)

    def _show_sketch(self, sketch):
        base = "" if sketch.base is None else data_url(sketch.base)
        with self.canvas.hold_sync():
            if base != self.canvas.base:
                self.canvas.base = base
            self.canvas.strokes = [s.to_dict() for s in sketch.strokes]

    def _show_face(self, image, record):
        self.face.value = png_bytes(image)

    def _show_shadow(self, grey):
        self.canvas.shadow = "" if grey is None else data_url(grey)

    def _show_status(self, text):
        self.status.value = text

    def _on_shadow_toggle(self, ch):
        self.canvas.show_shadow = ch["new"]
        self.controller.set_shadow(ch["new"])

    def _on_sample(self, ch):
        if ch["new"]:
            self.controller.load(ch["new"])
            self.sample.value = ""  # so the same sample can be loaded again

    def _on_upload(self, ch):
        files = ch["new"]
        if not files:
            return
        f = files[0]
        content = bytes(f["content"])
        if f["name"].lower().endswith(".json"):
            self.controller.load(Sketch.from_json(content.decode("utf-8")))
        else:
            self.controller.load(content)

    def _on_save(self, _):
        stem = Path(self.save_path.value or "sketch").with_suffix("")
        png = self.controller.sketch.save_png(stem.with_suffix(".png"), BASE_SIZE)
        js = self.controller.sketch.save_json(stem.with_suffix(".json"))
        self.status.value = f"saved {png} and {js}"


def _refine_controls(controller: PadController):
    """The interactive notebook's per-part refine sliders, sex pool and K
    (`dsf.widgets.refine_controls`), wired to the controller: a change re-runs the pipeline in
    the background (its cache re-decodes only the part whose slider moved)."""
    from . import widgets as dw

    pipe = controller._pipeline
    k = controller.k or (pipe.config.k if pipe is not None else None)
    k_max = 20
    if pipe is not None and k is not None:
        pool = min(dw.pool_size(pipe.banks[p], s) for p in PARTS for s in (None, "male", "female"))
        k, k_max = min(k, pool), min(max(20, k), pool)
    r = controller.refine
    controls = dw.refine_controls(value=float(r) if not isinstance(r, dict) else 0.5, sex=controller.sex,
                                  k=k, k_max=k_max)
    if isinstance(r, dict):
        controls.set_refine(r)

    def on_change(values, changed):
        controller.refine, controller.sex = values["refine"], values["sex"]
        if values.get("k") is not None:
            controller.k = values["k"]
        controller.refresh()

    controls.on_change(on_change)
    return controls


def sketch_pad(pipeline=None, *, params=None, refine=0.5, sex=None, k=None, shadow: bool = True,
               size: int = 384, face_size: int = 320, debounce: float = 0.02, start=None):
    """Open the sketch pad: returns a `SketchPad` widget (display it as a cell's last line).

    pipeline: a loaded `Pipeline`, or None to load `params` (a folder; None → $DSF_PARAMS, else
    the shipped parameters). refine / sex / k: initial settings of the interactive notebook's
    controls (`dsf.widgets.refine_controls`), shown beside the face. start: a sketch to begin from (path to an image
    or a strokes .json, a `Sketch`, an array). The face of the blank (or starting) sketch is
    computed at once in the background; the controller is `pad.controller`.
    """
    if pipeline is None:  # load here, so a bad folder fails in the cell that opened the pad
        from .pipeline import load_pipeline

        pipeline = load_pipeline(params if params is not None else (os.environ.get("DSF_PARAMS") or None))
    ctrl = PadController(pipeline, params=params, refine=refine, sex=sex, k=k, shadow=shadow, debounce=debounce)
    if start is not None:
        ctrl.load(start)
    return SketchPad(ctrl, size=size, face_size=face_size)
