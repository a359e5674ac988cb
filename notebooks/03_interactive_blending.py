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
# # 3 · Interactive blending
#
# The paper's interface lets the user set, per component, how far to trust the strokes
# versus the manifold of real faces. Here that is a panel of ipywidgets built by
# `dsf.widgets.blending_panel`: one `refine` slider per part, a "move all together" slider,
# the sex pool of the bank, K, and a sketch chooser (the kit's samples, plus your own file
# through *upload sketch*). The face and the shadow update when you let go of a slider, and
# the status line shows the update time and which parts were recomputed.
#
# **Only the changed part is recomputed.** `Pipeline.run` caches, per part, the latent (keyed
# by the crop), the projection (crop, pool, K) and the feature map (also the refine value).
# Moving the mouth slider re-blends and re-decodes only the mouth, then re-runs fusion and
# the generator; changing the pool or K re-projects every part; a new sketch re-encodes. The
# cache is a few lines of `Pipeline` (shown below the first figure).
#
# If a callback fails (say an unreadable upload), the traceback appears in the panel's output
# area and the widgets keep working.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import display

import dsf
from dsf import viz, widgets
from dsf.png import png_bytes

ROOT = Path(dsf.__file__).resolve().parent.parent  # the kit's folder: sample sketches, out/
PARAMS = os.environ.get("DSF_PARAMS") or None  # None → the kit's shipped parameters
OUT = Path(os.environ.get("DSF_OUT") or ROOT / "out" / "notebooks")
pipe = dsf.load_pipeline(PARAMS)

# %%
panel = widgets.blending_panel(pipe, widgets.sample_sketches(ROOT / "sample_sketches"), value=0.5)
display(panel)

# %% [markdown]
# ## Driving the panel from code
#
# The panel exposes its controls (`panel.sliders[part]`, `panel.all_slider`, `panel.sex`,
# `panel.k`, `panel.chooser`, `panel.upload`) and its last result (`panel.last_trace`,
# `panel.last_shadow`, `panel.status`), so the same callbacks can be driven from code — this
# is how the tests check it. Below: move only the mouth slider, then everything together.

# %%
before = panel.last_trace
panel.sliders["mouth"].value = 1.0
after_mouth = panel.last_trace
print("after moving the mouth slider, recomputed:", after_mouth.recomputed,
      f"in {panel.last_update_s * 1000:.0f} ms")
panel.all_slider.value = 0.0
after_all = panel.last_trace
print("after 'move all together' → 0, recomputed:", after_all.recomputed)

fig = viz.image_row([before.sketch, panel.last_shadow, before.image, after_mouth.image, after_all.image],
                    ["sketch", "shadow", "all parts 0.5", "mouth → 1.0", "all parts 0.0"],
                    title=f"Blending panel on {panel.chooser.value}: what the sliders did")
viz.save_figure(fig, OUT / "03_interactive_blending.png")
plt.show()
viz.show_source(dsf.Pipeline._cached)

# %% [markdown]
# An error inside a callback lands in the output area instead of killing the widget: here a
# "sketch" that is not an image. Choosing a good sketch afterwards works as before.

# %%
panel.sketches["not an image"] = b"these bytes are not a PNG"
panel.chooser.options = list(panel.sketches)
panel.chooser.value = "not an image"
print("status:", panel.status.value)
panel.chooser.value = "07_drawn_clean"
print("status:", panel.status.value)

# %% [markdown]
# ## Reusing the controls
#
# The sliders and the pool/K controls are a separate builder, `dsf.widgets.refine_controls`,
# with an `on_change(values, changed)` hook — the sketch pad reuses them. For example, a
# minimal panel of your own:

# %%
face = widgets.W.Image(value=png_bytes(pipe.run(ROOT / "sample_sketches" / "03_female.png").image, 192))
errors = widgets.W.Output()


@widgets.guarded(errors)  # tracebacks go to `errors`, the sliders stay alive
def redraw(values, changed):
    trace = pipe.run(ROOT / "sample_sketches" / "03_female.png", refine=values["refine"], sex=values["sex"], k=values["k"])
    face.value = png_bytes(trace.image, 192)


controls = widgets.refine_controls(value=0.5, k=None, on_change=redraw)  # k=None: no K slider
display(widgets.W.VBox([widgets.W.HBox([controls, face]), errors]))
