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
# # 1 · Pipeline walkthrough: one sketch through DeepFaceDrawing
#
# This notebook follows one sketch through the four stages of **DeepFaceDrawing** (Chen et
# al., SIGGRAPH 2020, Fig. 2), using the kit's shipped parameters on a CPU:
#
# 1. **Component embedding** — the sketch is cut into five components (two eyes, nose,
#    mouth, remainder); each has its own auto-encoder whose encoder gives a latent vector.
# 2. **Manifold projection** — each latent is replaced by a locally-linear combination of its
#    K nearest neighbours in a bank of training-sketch latents, then blended with the
#    original by the *refine* weight.
# 3. **Feature mapping** — a second decoder per component turns each latent into a
#    multi-channel feature map; the five maps are pasted into one fused map.
# 4. **Image synthesis** — a pix2pixHD-style generator turns the fused map into a photo.
#
# Every intermediate is kept on the `Trace` that `Pipeline.run` returns, so each cell below
# only calls `dsf` and plots — and then shows the lines of the package that computed what you
# just saw (`viz.show_source` reads them from `dsf` itself, so they are always the code that
# ran). Set `DSF_PARAMS` to use another parameter folder.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dsf
from dsf import components, embedding, fusion, manifold, synthesis, viz

ROOT = Path(dsf.__file__).resolve().parent.parent  # the kit's folder: sample sketches, out/
PARAMS = os.environ.get("DSF_PARAMS") or None  # None → the kit's shipped parameters (params/compact128)
OUT = Path(os.environ.get("DSF_OUT") or ROOT / "out" / "notebooks")
pipe = dsf.load_pipeline(PARAMS)
print(pipe)
print("config:", pipe.config.name, "| canvas", pipe.config.canvas, "| latent", pipe.config.latent,
      "| K", pipe.config.k, "| solver", pipe.config.solver)

# %% [markdown]
# ## The input sketch and the five windows
#
# The paper works on a 512×512 sketch aligned to a fixed face template; the kit's compact
# model uses the same layout scaled to its canvas. Four square windows hold the left eye
# (`eye1`, on the image's left), the right eye (`eye2`), the nose and the mouth; the
# **remainder** is the whole sketch with those four windows painted white.

# %%
sketch_path = ROOT / "sample_sketches" / "01_female_smiling.png"
trace = pipe.run(sketch_path, refine=0.5, shadow=True)
fig = viz.show_windows(trace.sketch, title=f"{sketch_path.name} on the {pipe.config.canvas}² canvas, with its windows")
plt.show()
viz.show_source(components.split_components)

# %% [markdown]
# ## Component embedding: the crops and their latents
#
# Each crop goes through its own encoder (five stride-2 convolution blocks with residual
# blocks, then a linear layer) and becomes one latent vector — 512-d in the paper, smaller in
# the compact model. On small canvases the crops are resized up to the networks' minimum
# input size first.

# %%
fig = viz.show_parts(trace)
plt.show()
viz.show_source(embedding.normalise, embedding.encode)

# %% [markdown]
# Below, each component's latent as a heat strip: **v** is the sketch's own latent, **p** its
# manifold projection (next section) and the bottom row the blend
# `refine·p + (1 − refine)·v` that feature mapping receives. `refine` is the released code's
# *part weight* r (1 = projection only, 0 = the raw sketch); the paper's blending weight is
# w<sub>bc</sub> = 1 − r.

# %%
fig = viz.show_latents(trace)
plt.show()
viz.show_source(manifold.blend)

# %% [markdown]
# ## Manifold projection: nearest neighbours and their weights
#
# A hand-drawn component is usually not like any training sketch, so its latent lies off
# the manifold the feature decoders learned. DeepFaceDrawing finds the **K nearest** latents
# of the same component in the training bank and solves weights w (Σw = 1) that best
# reconstruct v from them, as in locally-linear embedding; p = Σ wᵢ nᵢ. Decoding the
# neighbours with the component's *sketch decoder* shows what the manifold "thinks" the
# component looks like.

# %%
for part in ("mouth", "eye1"):
    fig = viz.show_neighbours(pipe, trace, part)
    plt.show()
viz.show_source(manifold.project)

# %% [markdown]
# ## The shadow (drawing guidance)
#
# The paper's interface shows a faint *shadow* under the user's strokes: each component's K
# decoded neighbour sketches, blended with their weights (clipped to [0, 0.5]), composited
# with feathered window masks. It depends only on the projection, not on `refine`.

# %%
fig = viz.image_row([trace.sketch, trace.shadow], ["input sketch", "shadow"],
                    title="Drawing guidance: the manifold's version of this sketch")
plt.show()
viz.show_source(manifold.shadow_from_decoded)

# %% [markdown]
# ## Feature mapping: per-part maps and the fused map
#
# A second decoder per component maps each blended latent to a feature map of the
# component's window size (32 channels). The maps are pasted onto the remainder's map in a
# fixed order — mouth, nose (top rows only, so the mouth shows), then the two eyes — giving
# one canvas-sized map. Feature maps have too many channels to look at directly, so the top
# row shows them through the first three principal components of the fused map, as RGB (one
# PCA for all six panels: equal colours mean similar features); the bottom row shows a few
# raw channels. The raw channels look like fine-grained noise: the trained decoders write a
# pixel-level code that the generator's first 7×7 convolution reads over a neighbourhood. So
# the top row blurs each channel first (Gaussian, σ = `viz.FEATURE_SMOOTH` = 2 feature
# pixels; `smooth=0` shows the raw map) and the parts' layout appears.

# %%
fig = viz.show_feature_maps(trace)
plt.show()
viz.show_source(fusion.decode_features, fusion.fuse)

# %% [markdown]
# ## Image synthesis: the face
#
# The generator (pix2pixHD's global generator: downsampling convolutions, residual blocks,
# upsampling) turns the fused feature map into an RGB image. Here is the whole pipeline in
# one strip — this figure is also what `python -m dsf generate --strip` saves.

# %%
fig = viz.stage_strip(trace)
viz.save_figure(fig, OUT / "01_pipeline_walkthrough.png")
plt.show()
viz.show_source(synthesis.to_uint8_image, synthesis.synthesize)

# %% [markdown]
# ## Stage timings
#
# Where the CPU time goes. The first run of a session also includes Jittor compiling its
# kernels; a second run with different refine values reuses the cached encodings and
# projections (those stages are absent from its timings).

# %%
fig = viz.timings_bar(trace, title="Stage timings, first run")
plt.show()
again = pipe.run(sketch_path, refine=0.8)
fig = viz.timings_bar(again, title="Stage timings, refine changed to 0.8")
plt.show()
print("recomputed in the second run:", again.recomputed)

# %% [markdown]
# ## Calling one stage at a time
#
# Each stage is also a method with explicit inputs, so you can reproduce the run by hand —
# or change one intermediate and see what happens downstream. `faces_from_latents` runs
# feature mapping, fusion and image synthesis on latents you choose (its code is below).

# %%
part = "nose"
v = pipe.encode(part, trace.parts[part])                             # component embedding
projection, blended = pipe.project(part, v, refine=0.5)              # manifold projection + blend
print("latent matches the trace:", np.allclose(v, trace.latents[part], atol=1e-5))
print("neighbours:", projection.indices, "\nweights:", np.round(projection.weights, 3), "sum", projection.weights.sum().round(6))
face = pipe.faces_from_latents(trace.blended)                        # feature mapping + fusion + synthesis
print("face from the trace's blended latents matches:", np.abs(face.astype(int) - trace.image).max() <= 1)
viz.show_source(dsf.Pipeline.faces_from_latents)

# %% [markdown]
# ## Using the authors' released parameters
#
# If you have the authors' released `Params` folder (holding `AE_whole/` and `Combine/`),
# the same code runs the published 512² model unchanged:
# `dsf.load_pipeline("path/to/Params")`. It has ~560 M parameters, so expect tens of seconds
# per face on a CPU. Set `DSF_RELEASED_PARAMS` to try it here.

# %%
released_path = os.environ.get("DSF_RELEASED_PARAMS")
if released_path and Path(released_path).is_dir():
    released = dsf.load_pipeline(released_path)
    rtrace = released.run(sketch_path, refine=0.5, sex="female")
    fig = viz.stage_strip(rtrace, title="The authors' released parameters")
    plt.show()
else:
    print("DSF_RELEASED_PARAMS is not set: skipping. Usage: pipe = dsf.load_pipeline('path/to/Params')")
