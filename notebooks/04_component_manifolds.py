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
# # 4 · Component manifolds
#
# DeepFaceDrawing's central idea is that plausible faces occupy a *manifold* in each
# component's latent space, sampled by the bank of training-sketch latents, and that a drawn
# component should be **projected** onto it (paper Fig. 2, step 2). This notebook looks at the banks:
#
# * each part's bank in 2-D (its first two principal components), with the input sketch's
#   latent before projection, its K neighbours, the projection and the blend;
# * interpolation between two sketches, one part at a time;
# * swapping parts between sketches — the eyes of one, the mouth of another — which works
#   because every component has its own latent space and the feature maps are fused only at
#   the end.
#
# A 2-D PCA view shows only a small share of the variance of a 256- or 512-d latent, so
# distances in the plot are only a rough guide; the K nearest neighbours are found in the
# full space.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dsf
from dsf import manifold, viz

ROOT = Path(dsf.__file__).resolve().parent.parent  # the kit's folder: sample sketches, out/
PARAMS = os.environ.get("DSF_PARAMS") or None  # None → the kit's shipped parameters
FAST = os.environ.get("DSF_FAST") == "1"
OUT = Path(os.environ.get("DSF_OUT") or ROOT / "out" / "notebooks")
pipe = dsf.load_pipeline(PARAMS)
for part, bank in pipe.banks.items():
    print(f"{part:9s} {bank}")

# %% [markdown]
# ## Each component's bank in 2-D
#
# Grey, blue and orange dots are bank latents (by the sex label of their face). The red cross
# is the rough sketch's latent v, the black circles its K nearest neighbours, the green star
# the locally-linear projection p, and the purple dot the blend v′ = refine·p + (1 − refine)·v
# that feature mapping receives (refine 0.5 here). Below the plot, the code that finds the
# weights of p = Σ wᵢ nᵢ (the locally-linear solve, exact or as released).

# %%
A = ROOT / "sample_sketches" / "08_drawn_rough.png"
trace = pipe.run(A, refine=0.5)
fig, axes = plt.subplots(2, 3, figsize=(15, 9.5))
for ax, part in zip(axes.ravel(), dsf.PARTS):
    viz.bank_pca(pipe, part, trace, ax=ax)
ax = axes.ravel()[-1]
viz.show_windows(trace.sketch, title=f"input: {A.name}", ax=ax)
fig.suptitle("Component manifolds: where the sketch's latents fall before and after projection")
fig.tight_layout()
viz.save_figure(fig, OUT / "04_component_manifolds.png")
plt.show()
viz.show_source(manifold.locally_linear_weights)

# %% [markdown]
# The neighbours of one component, decoded back to sketches by that component's sketch
# decoder, with their locally-linear weights:

# %%
fig = viz.show_neighbours(pipe, trace, "eye1")
plt.show()

# %% [markdown]
# ## Interpolating between two sketches
#
# Take the blended latents of two sketches, A and B, and walk along the straight line between
# them — first for the mouth only (everything else from A), then for all parts at once. The
# pipeline's `faces_from_latents` accepts explicit latents (part → batch of vectors), so one batched
# call renders a whole row.

# %%
B = ROOT / "sample_sketches" / "05_female_smiling.png"
ta, tb = pipe.run(A, refine=0.5), pipe.run(B, refine=0.5)
T = np.linspace(0, 1, 3 if FAST else 6)


def interpolate(parts):
    """Batch of latents: `parts` move from A to B along T, the others stay A's."""
    return {p: np.stack([(1 - t) * ta.blended[p] + t * tb.blended[p] if p in parts else ta.blended[p] for t in T])
            for p in dsf.PARTS}


rows = [pipe.faces_from_latents(interpolate({"mouth"})), pipe.faces_from_latents(interpolate(set(dsf.PARTS)))]
fig = viz.refine_grid(rows, ["mouth only", "all parts"], [f"t={t:.2f}" for t in T],
                      title=f"Interpolation from {A.stem} (t=0) to {B.stem} (t=1)",
                      xlabel="t: weight of sketch B's latents", ylabel="what is interpolated")
viz.save_figure(fig, OUT / "04_interpolation.png")
plt.show()
viz.show_source(dsf.Pipeline.faces_from_latents)

# %% [markdown]
# ## Swapping parts between sketches
#
# Because each component is encoded on its own, a face can take its eyes from one sketch and
# its mouth from another: just pick each part's latent from a different trace.

# %%
swaps = {
    "A": {p: "A" for p in dsf.PARTS},
    "B": {p: "B" for p in dsf.PARTS},
    "A, eyes of B": {**{p: "A" for p in dsf.PARTS}, "eye1": "B", "eye2": "B"},
    "A, mouth of B": {**{p: "A" for p in dsf.PARTS}, "mouth": "B"},
    "eyes of A, mouth of B": {**{p: "B" for p in dsf.PARTS}, "eye1": "A", "eye2": "A"},
}
source = {"A": ta, "B": tb}
batch = {p: np.stack([source[choice[p]].blended[p] for choice in swaps.values()]) for p in dsf.PARTS}
faces = pipe.faces_from_latents(batch)
fig = viz.image_row([ta.sketch, tb.sketch, *faces], [f"sketch A ({A.stem})", f"sketch B ({B.stem})", *swaps],
                    title="Swapping components between two sketches")
viz.save_figure(fig, OUT / "04_part_swaps.png")
plt.show()

# %% [markdown]
# Where did each swap change the face? The difference maps compare each swapped face with the
# face it started from, the swapped parts' windows outlined; beneath each, the mean change
# inside those windows and outside them (in /255) — a local edit reads much larger inside.

# %%
edits = {"A, eyes of B": ("A", ["eye1", "eye2"]), "A, mouth of B": ("A", ["mouth"]),
         "eyes of A, mouth of B": ("B", ["eye1", "eye2"])}
face_of = dict(zip(swaps, faces))
fig = viz.change_maps([face_of[start] for start, _ in edits.values()], [face_of[name] for name in edits],
                      [parts for _, parts in edits.values()], [f"{name} vs {start}" for name, (start, _) in edits.items()],
                      title="What each swap changed")
viz.save_figure(fig, OUT / "04_part_swap_changes.png")
plt.show()
