"""ipywidgets builders the notebooks share (and the sketch pad, `dsf.sketch_pad`, reuses).

    panel = dsf.widgets.blending_panel(pipe, dsf.widgets.sample_sketches())
    panel                                   # in Jupyter: sliders, sketch chooser, face, shadow

`refine_controls` is the reusable part: one refine slider per component, a "move all
together" slider, the sex pool and K, with an `on_change` hook (`pipeline_controls` bounds K
by the pipeline's pools). `blending_panel` wires them to a pipeline: every change calls
`Pipeline.run`, whose per-part cache means that moving one part's slider re-blends and
re-decodes only that part (`panel.last_trace.recomputed`).

Callbacks never die silently: an exception inside one is caught, its traceback is appended to
the panel's `output` area (and the exception to its `errors`), the status line says what
failed, and the widgets stay live.
"""
from __future__ import annotations

import html
import time
import traceback
from pathlib import Path

import ipywidgets as W
import numpy as np

from .config import PARTS
from .png import png_bytes
from .sketch_align import align_upload

SEX_OPTIONS = (("all", None), ("male", "male"), ("female", "female"))
"""(label, value) of the sex-pool choices: None searches the whole bank."""

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_sketches"

__all__ = ["RefineControls", "BlendingPanel", "refine_controls", "pipeline_controls", "blending_panel",
           "sample_sketches", "guarded"]


def sample_sketches(folder=None) -> dict:
    """{name: path} of the kit's sample sketches (`sample_sketches/*.png`), sorted by name."""
    folder = Path(folder) if folder is not None else SAMPLE_DIR
    return {p.stem: p for p in sorted(folder.glob("*.png"))}


def _error_html(text: str) -> str:
    """One line of status HTML in red; escaped, as messages quote things like `<_io.BytesIO …>`."""
    return f"<span style='color:#b00'>{html.escape(text)}</span>"


def guarded(output: W.Output, status: W.HTML | None = None, errors: list | None = None):
    """Decorator: run a widget callback, and on an exception append its traceback to `output`
    (an `ipywidgets.Output`), show a one-line error in `status`, and record the exception in
    `errors` instead of letting it escape (which would leave a dead widget)."""

    def wrap(fn):
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - shown to the user, never swallowed silently
                output.append_stderr(traceback.format_exc())
                if status is not None:
                    status.value = _error_html(f"error: {type(e).__name__}: {e}")
                if errors is not None:
                    errors.append(e)
                return None

        run.__name__ = getattr(fn, "__name__", "callback")
        run.__doc__ = fn.__doc__
        return run

    return wrap


class RefineControls(W.VBox):
    """Per-part refine sliders, a "move all together" slider, the sex pool and K.

    Attributes: `sliders` (part → FloatSlider), `all_slider`, `sex` (ToggleButtons; value
    None / "male" / "female"), `k` (IntSlider, or None when built with k=None).
    `values()` → {"refine": {part: r}, "sex": ..., "k": ...}. Register callbacks with
    `on_change(fn)`: fn(values, changed) is called once per user change, where `changed` is
    the part name, "all", "sex" or "k". Moving `all_slider` sets every part slider and fires
    ONE change. `set_refine(...)` sets sliders programmatically (also one change).
    """

    def __init__(self, value: float = 0.5, sex=None, k: int | None = 10, k_max: int = 20,
                 continuous_update: bool = False):
        style = {"description_width": "110px"}
        layout = W.Layout(width="420px")
        kw = dict(min=0.0, max=1.0, step=0.05, readout_format=".2f", continuous_update=continuous_update,
                  style=style, layout=layout)
        self.sliders = {p: W.FloatSlider(value=value, description=f"refine {p}", **kw) for p in PARTS}
        self.all_slider = W.FloatSlider(value=value, description="move all together", **kw)
        self.sex = W.ToggleButtons(options=SEX_OPTIONS, value=sex, description="sex pool", style=style)
        self.k = (W.IntSlider(value=k, min=1, max=max(k_max, k), description="K neighbours",
                              continuous_update=continuous_update, style=style, layout=layout)
                  if k is not None else None)
        self._callbacks: list = []
        self._hold = False
        help_text = W.HTML("<small>refine = the released code's part weight r: 1 = projection onto the "
                           "component manifold only (realistic), 0 = the raw sketch (faithful); "
                           "the paper's w<sub>bc</sub> = 1 − r.</small>")
        children = [help_text, self.all_slider, *self.sliders.values(), self.sex]
        if self.k is not None:
            children.append(self.k)
        super().__init__(children)
        for part, s in self.sliders.items():
            s.observe(lambda ch, part=part: self._fire(part), names="value")
        self.all_slider.observe(lambda ch: self._move_all(ch["new"]), names="value")
        self.sex.observe(lambda ch: self._fire("sex"), names="value")
        if self.k is not None:
            self.k.observe(lambda ch: self._fire("k"), names="value")

    def on_change(self, fn) -> None:
        """Register fn(values, changed), called after every user change (see class docstring)."""
        self._callbacks.append(fn)

    def values(self) -> dict:
        return {"refine": {p: float(s.value) for p, s in self.sliders.items()}, "sex": self.sex.value,
                "k": None if self.k is None else int(self.k.value)}

    def set_refine(self, refine) -> None:
        """Set sliders from a float (all parts) or a dict part → float; fires one change."""
        values = {p: refine for p in PARTS} if not isinstance(refine, dict) else refine
        self._hold = True
        try:
            for p, v in values.items():
                self.sliders[p].value = float(v)
        finally:
            self._hold = False
        self._fire("all" if len(values) > 1 else next(iter(values)))

    def _move_all(self, value) -> None:
        if not self._hold:
            self.set_refine(float(value))

    def _fire(self, changed: str) -> None:
        if self._hold:
            return
        v = self.values()
        for fn in self._callbacks:
            fn(v, changed)


def refine_controls(value: float = 0.5, sex=None, k: int | None = 10, k_max: int = 20, on_change=None,
                    continuous_update: bool = False) -> RefineControls:
    """Build `RefineControls` (see there); `on_change`, if given, is registered at once."""
    c = RefineControls(value=value, sex=sex, k=k, k_max=k_max, continuous_update=continuous_update)
    if on_change is not None:
        c.on_change(on_change)
    return c


def pipeline_controls(pipe, value: float = 0.5, sex=None, k: int | None = None, on_change=None) -> RefineControls:
    """`refine_controls` for a pipeline: K starts at `k` (default the config's K) and its
    slider reaches 20, both bounded by `pipe.max_k` (the smallest pool a user can pick)."""
    k = min(k or pipe.config.k, pipe.max_k)
    return refine_controls(value=value, sex=sex, k=k, k_max=min(max(20, k), pipe.max_k), on_change=on_change)


class BlendingPanel(W.VBox):
    """The interactive blending panel of notebook 3 (build it with `blending_panel`).

    Widgets: `controls` (RefineControls) and its `sliders`, `all_slider`, `sex`, `k`;
    `chooser` (Dropdown of sketch names), `upload` (FileUpload: adds the file to the chooser
    and selects it), `align` (Checkbox: put an upload on the template first, with
    `dsf.align_sketch`), `show_shadow` (Checkbox); `sketch_image`, `shadow_image`, `image`
    (ipywidgets.Image, PNG); `status` (HTML: update time and recomputed parts, and how the
    chosen upload's alignment went); `output` (Output: tracebacks of failed callbacks).
    State: `pipe`, `sketches` (name → path/array/bytes), `notes` (name → alignment note),
    `last_trace`, `last_shadow`, `last_update_s`, `n_updates`, `errors` (exceptions caught in
    callbacks).
    """

    def __init__(self, pipe, sketches: dict, value: float = 0.5, sex=None, k: int | None = None,
                 shadow: bool = True, display_size: int = 256):
        if not sketches:
            raise ValueError("blending_panel needs at least one sketch")
        self.pipe = pipe
        self.sketches = dict(sketches)
        self.notes: dict = {}
        self.display_size = display_size
        self.errors: list = []
        self.last_trace = None
        self.last_shadow = None
        self.last_update_s = None
        self.n_updates = 0
        self._shadow_key = None
        self.status = W.HTML("")
        self.output = W.Output(layout=W.Layout(max_height="160px", overflow="auto"))
        self.controls = pipeline_controls(pipe, value=value, sex=sex, k=k)
        self.sliders, self.all_slider, self.sex, self.k = (self.controls.sliders, self.controls.all_slider,
                                                          self.controls.sex, self.controls.k)
        self.chooser = W.Dropdown(options=list(self.sketches), description="sketch")
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload sketch")
        self.align = W.Checkbox(value=False, description="align", indent=False, layout=W.Layout(width="70px"),
                                tooltip="put an uploaded scan or drawing on the template (dsf.align_sketch)")
        self.show_shadow = W.Checkbox(value=shadow, description="shadow (drawing guidance)")
        blank = png_bytes(np.full((8, 8), 255, np.uint8), display_size)
        size = W.Layout(width=f"{display_size}px", height=f"{display_size}px")
        self.sketch_image = W.Image(value=blank, format="png", layout=size)
        self.shadow_image = W.Image(value=blank, format="png", layout=size)
        self.image = W.Image(value=blank, format="png", layout=size)

        guard = guarded(self.output, self.status, self.errors)
        self._update = guard(self._update_impl)
        self.controls.on_change(lambda values, changed: self._update(changed))
        self.chooser.observe(lambda ch: self._update("sketch"), names="value")
        self.show_shadow.observe(lambda ch: self._update("shadow"), names="value")
        self.upload.observe(guard(self._on_upload), names="value")

        def captioned(widget, caption):
            return W.VBox([W.HTML(f"<b>{caption}</b>"), widget])

        pictures = W.HBox([captioned(self.sketch_image, "input sketch"),
                           captioned(self.shadow_image, "shadow"), captioned(self.image, "face")])
        choice = W.HBox([self.chooser, self.upload, self.align, self.show_shadow])
        super().__init__([choice, self.controls, pictures, self.status, self.output])
        self._update("sketch")

    def update(self, changed: str = "manual"):
        """Recompute now (what every callback does); errors go to `output` like theirs."""
        return self._update(changed)

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))  # ipywidgets 8 / 7
        name = f.get("name") or f.get("metadata", {}).get("name", "upload")
        data = bytes(f["content"])
        if self.align.value:
            sketch, note = align_upload(data, self.pipe.config.canvas)
            if sketch is None:  # not aligned: say why, leave the chooser alone
                self.status.value = _error_html(note)
                return
        else:
            self.pipe.load_sketch(data)  # fail here, with a clear SketchError, before touching the chooser
            sketch, note = data, ""
        label = f"upload: {name}"
        self.sketches[label], self.notes[label] = sketch, note
        self.chooser.options = list(self.sketches)
        self.chooser.value = label  # fires an update

    def _update_impl(self, changed: str):
        t = time.perf_counter()
        v = self.controls.values()
        sketch = self.sketches[self.chooser.value]
        trace = self.pipe.run(sketch, refine=v["refine"], sex=v["sex"], k=v["k"])
        if self.show_shadow.value:
            # The shadow depends on the projections only, not on refine (the usual change):
            # ask for it only when the sketch, pool or K changed.
            key = (self.chooser.value, v["sex"], v["k"])
            if key != self._shadow_key or self.last_shadow is None:
                self.last_shadow = self.pipe.shadow(trace.projections)
                self._shadow_key = key
            self.shadow_image.value = png_bytes(self.last_shadow, self.display_size)
        else:
            self.shadow_image.value = png_bytes(np.full((8, 8), 255, np.uint8), self.display_size)
        if changed in ("sketch", "manual") or self.last_trace is None:
            self.sketch_image.value = png_bytes(trace.sketch, self.display_size)
        self.image.value = png_bytes(trace.image, self.display_size)
        self.last_trace = trace
        self.last_update_s = time.perf_counter() - t
        self.n_updates += 1
        recomputed = ", ".join(trace.recomputed) or "nothing (cached)"
        note = self.notes.get(self.chooser.value)
        self.status.value = (f"update {self.last_update_s * 1000:.0f} ms after change of <b>{changed}</b>; "
                             f"recomputed: {recomputed}" + (f"<br>{html.escape(note)}" if note else ""))
        return trace


def blending_panel(pipe, sketches: dict | None = None, value: float = 0.5, sex=None, k: int | None = None,
                   shadow: bool = True, display_size: int = 256) -> BlendingPanel:
    """Interactive blending (notebook 3): refine sliders per part + "move all together", sex
    pool, K, a sketch chooser (`sketches`: name → path / array / PNG bytes; default the kit's
    samples) with a file upload, and the live face and shadow. See `BlendingPanel`."""
    return BlendingPanel(pipe, sketches if sketches is not None else sample_sketches(), value=value, sex=sex, k=k,
                         shadow=shadow, display_size=display_size)

