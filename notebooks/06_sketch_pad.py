# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6 · Sketch pad: draw a face, on CPU, in the notebook
#
# DeepFaceDrawing's released system is an interactive PyQt program that needs a GPU. This
# notebook brings its heart into JupyterLab (and Voilà), on CPU, with one call:
# `dsf.sketch_pad.sketch_pad(pipe)`.
#
# * **Draw** on the pad with the mouse (or a pen), *pen* or *eraser*, any *width*;
#   **undo / redo / clear**; start from a **sample** or an **uploaded** image (or a strokes
#   .json); **save** the sketch as PNG, with its strokes as JSON.
# * The **shadow** — each part's K decoded nearest neighbours, blended with their
#   locally-linear weights — is drawn faintly *under* your strokes, as guidance for the next
#   one (toggle *shadow*). The eraser reveals it again.
# * The **face** beside the pad is refreshed when a stroke ends, in a background thread, so
#   drawing never waits; strokes drawn while a face is being computed are coalesced into one
#   refresh. Only the parts whose window a stroke touched are re-encoded (the status line
#   names them, with the time from the end of the stroke to the new face).
# * The **refine sliders, sex pool and K** are the interactive blending notebook's own
#   controls (`dsf.widgets.pipeline_controls`): refine = the released code's part weight r
#   (1 = the projected, realistic part; 0 = your raw strokes).
#
# The parameters are the kit's shipped ones (`params/compact128`), or the folder named by the
# environment variable `DSF_PARAMS`.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import display

import dsf
from dsf import viz
from dsf.sketch_pad import sketch_pad

ROOT = Path(dsf.__file__).resolve().parent.parent  # the kit's folder: sample sketches, out/
PARAMS = os.environ.get("DSF_PARAMS") or None  # None → the kit's shipped parameters
OUT = Path(os.environ.get("DSF_OUT") or ROOT / "out" / "notebooks")
pipe = dsf.load_pipeline(PARAMS)

# %%
pad = sketch_pad(pipe)
display(pad)

# %% [markdown]
# ## Strokes are vectors; the pad can be driven from code
#
# The pad keeps every stroke as a polyline in canvas-independent coordinates (x, y in [0, 1],
# width a fraction of the canvas side), so a sketch re-renders at any size, saves and loads as
# JSON, and strokes can be removed programmatically — the robustness experiments use this.
# The controller behind the pad, `pad.controller`, takes the same events the browser sends
# (`add_stroke`, `undo`, `redo`, `clear`, `load`, `remove`); `wait()` blocks until the face
# covers them. Here, if the pad is still empty, two eyebrows are drawn from code. Below: how
# a stroke picks the parts to re-encode, and the shadow (decoded again only for the parts
# whose neighbours changed).

# %%
from dsf.strokes import Stroke, touched_parts

ctrl = pad.controller
if len(ctrl.sketch) == 0 and ctrl.sketch.base is None:
    for xs in ((0.25, 0.31, 0.38), (0.56, 0.63, 0.69)):
        ctrl.add_stroke(Stroke([(xs[0], 0.37), (xs[1], 0.355), (xs[2], 0.37)], width=4 / 512))
ctrl.wait()
last = ctrl.records[-1]
print(ctrl.sketch)
print(f"last refresh: face {last.latency_s:.2f} s after the stroke; re-encoded/decoded: {last.recomputed}")
print("the first stroke touches the windows of:", touched_parts(ctrl.sketch.strokes[0], ctrl.canvas))
viz.show_source(touched_parts, dsf.Pipeline.shadow, dsf.Pipeline._part_shadow)

# %%
sk = ctrl.sketch.copy()
print(sk.to_json()[:150], "…")
fig = viz.image_row([sk.render(512), ctrl.shadow, ctrl.face, sk.without([0]).render(128)],
                    ["strokes, rendered at 512²", "shadow (guidance)", "face", "first stroke removed, 128²"],
                    title="Sketch pad: vector strokes, the shadow under them, and the face")
viz.save_figure(fig, OUT / "06_sketch_pad.png")
plt.show()

# %% [markdown]
# ## Latency
#
# `dsf.pad_controller.benchmark_stroke_latency(pipe, n=10)` times the path a stroke takes without
# the browser: stroke end → (debounce) → re-encode the touched parts → project → decode →
# fuse → generator → face published, and reports the median (the kit's benchmark table lists
# it). The generator dominates; the pad's own share (debounce, rendering, hand-off) is a few
# hundredths of a second.
