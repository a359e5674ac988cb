"""The sketch pad: draw in JupyterLab, see the shadow of plausible parts and the face, on CPU.

    import dsf.sketch_pad
    pad = dsf.sketch_pad.sketch_pad()        # shipped parameters; or params="folder", pipeline=...
    pad                                     # show it (last line of a cell)
    pad.controller.sketch.save_json("my.json")

Three layers, each usable alone:

- `dsf.pad_controller.PadController` — the callback logic, no browser and no widgets: the
  editable sketch, its events, and the debounced background refresh of face and shadow.
- `SketchCanvas` — the drawing surface: an anywidget (a small ES module, no build step)
  with pointer drawing, the shadow faintly under the strokes (multiply blending), and the
  stroke list synced as vector polylines in [0, 1]² coordinates.
- `SketchPad` / `sketch_pad()` — the composite widget: toolbar (pen/eraser, width,
  undo/redo/clear, shadow toggle, load a sample or an uploaded image — with "align" ticked,
  put on the template first by `dsf.align_sketch` — save PNG + JSON), the
  canvas, the face, and the interactive notebook's per-part refine sliders and sex pool
  (`dsf.widgets.pipeline_controls`, reused as they are).
"""
from __future__ import annotations

from pathlib import Path

import anywidget
import ipywidgets as W
import traitlets as T

from .pad_controller import BASE_SIZE, PadController, load_pipeline_from
from .images import SketchError
from .png import data_url, png_bytes
from .sketch_align import align_upload
from .strokes import Sketch, Stroke
from .widgets import pipeline_controls, refine_controls, sample_sketches

__all__ = ["SketchCanvas", "SketchPad", "sketch_pad"]


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
        self._status_text, self._upload_note = self.status.value, ""
        toolbar = self._toolbar(size)
        self._connect(c)
        self.refine_panel = refine_controls if refine_controls is not None else _refine_controls(c)
        left = W.VBox([toolbar, self.canvas], layout=W.Layout(min_width=f"{size + 12}px", margin="0 12px 0 0"))
        right = W.VBox([self.face, self.status] + ([self.refine_panel] if self.refine_panel is not None else []))
        super().__init__([left, right])
        self.add_class("dsf-sketch-pad")
        self._show_sketch(c.sketch)
        if c.face is None:
            c.refresh()

    def _toolbar(self, size: int) -> W.VBox:
        """The drawing tools, sample/upload/save controls above the canvas (`size` px wide)."""
        narrow = {"description_width": "56px"}
        self.tool = W.ToggleButtons(options=[("pen", "pen"), ("eraser", "eraser")], value="pen",
                                    tooltips=["draw black strokes", "erase (paint white)"],
                                    style={"button_width": "64px"}, layout=W.Layout(width="150px"))
        self.width_slider = W.IntSlider(3, min=1, max=40, description="width", continuous_update=False,
                                        style=narrow, layout=W.Layout(width=f"{max(size - 160, 160)}px"))
        btn = lambda label, tip: W.Button(description=label, tooltip=tip, layout=W.Layout(width="62px"))  # noqa: E731
        self.undo_btn, self.redo_btn, self.clear_btn = btn("undo", "undo"), btn("redo", "redo"), btn("clear", "clear all")
        self.shadow_box = W.Checkbox(self.controller.shadow_on, description="shadow", indent=False, layout=W.Layout(width="90px"))
        samples = sample_sketches().values()
        self.sample = W.Dropdown(options=[("load sample…", "")] + [(p.name, str(p)) for p in samples],
                                 value="", layout=W.Layout(width="170px"))
        self.upload = W.FileUpload(accept="image/*,.json", multiple=False, description="upload",
                                   layout=W.Layout(width="140px"))
        self.align = W.Checkbox(description="align", value=False, indent=False, layout=W.Layout(width="70px"),
                                tooltip="put an uploaded scan or drawing on the template (dsf.align_sketch)")
        self.save_path = W.Text("sketch", description="save as", style=narrow,
                                layout=W.Layout(width=f"{max(size - 145, 160)}px"))
        self.save_btn = W.Button(description="save PNG+JSON", tooltip="writes <name>.png (512²) and <name>.json",
                                 layout=W.Layout(width="130px"))
        return W.VBox([
            W.HBox([self.tool, self.width_slider]),
            W.HBox([self.undo_btn, self.redo_btn, self.clear_btn, self.shadow_box]),
            W.HBox([self.sample, self.upload, self.align]),
            W.HBox([self.save_path, self.save_btn]),
        ])

    def _connect(self, c: PadController) -> None:
        """Widgets → controller actions; controller results → widgets."""
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
        self._status_text = text
        self.status.value = f"{text} · {self._upload_note}" if self._upload_note else text

    def _note_upload(self, note):
        """Keep a note on the loaded image (how its alignment went) after every status until the
        next load: the controller's refresh messages would replace it within a second."""
        self._upload_note = note
        self._show_status(self._status_text)

    def _on_shadow_toggle(self, ch):
        self.canvas.show_shadow = ch["new"]
        self.controller.set_shadow(ch["new"])

    def _on_sample(self, ch):
        if ch["new"]:
            self._note_upload("")
            self.controller.load(ch["new"])
            self.sample.value = ""  # so the same sample can be loaded again

    def _on_upload(self, ch):
        files = ch["new"]
        if not files:
            return
        f = files[0]
        content = bytes(f["content"])
        note = ""
        try:
            if f["name"].lower().endswith(".json"):
                self.controller.load(Sketch.from_json(content.decode("utf-8")))
            elif self.align.value:
                sketch, note = align_upload(content, BASE_SIZE)
                if sketch is not None:
                    self.controller.load(sketch)
            else:
                self.controller.load(content)
        except (SketchError, ValueError) as e:  # a bad file: say so in the status line, keep the sketch
            note = f"not loaded: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        self._note_upload(note)

    def _on_save(self, _):
        stem = Path(self.save_path.value or "sketch").with_suffix("")
        png = self.controller.sketch.save_png(stem.with_suffix(".png"), BASE_SIZE)
        js = self.controller.sketch.save_json(stem.with_suffix(".json"))
        self.status.value = f"saved {png} and {js}"


def _refine_controls(controller: PadController):
    """The interactive notebook's per-part refine sliders, sex pool and K, wired to the
    controller: a change re-runs the pipeline in the background (its cache re-decodes only the
    part whose slider moved). K is bounded by the pipeline's pools once it is loaded."""
    r = controller.refine
    value = 0.5 if isinstance(r, dict) else float(r)
    pipe = controller._pipeline
    controls = (pipeline_controls(pipe, value, controller.sex, controller.k) if pipe is not None
                else refine_controls(value, controller.sex, controller.k))
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
    controls (`dsf.widgets.pipeline_controls`), shown beside the face. start: a sketch to begin
    from (path to an image or a strokes .json, a `Sketch`, an array). The face of the blank (or starting) sketch is
    computed at once in the background; the controller is `pad.controller`.
    """
    if pipeline is None:  # load here, so a bad folder fails in the cell that opened the pad
        pipeline = load_pipeline_from(params)
    ctrl = PadController(pipeline, refine=refine, sex=sex, k=k, shadow=shadow, debounce=debounce)
    if start is not None:
        ctrl.load(start)
    return SketchPad(ctrl, size=size, face_size=face_size)
