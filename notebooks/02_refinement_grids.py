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
# # 2 · Refinement grids: how much to trust the sketch
#
# DeepFaceDrawing's key control is the blend between a component's own latent v and its
# **manifold projection** p: `refine·p + (1 − refine)·v`. With `refine` = 0 the face follows
# the strokes as drawn (faithful, but a rough sketch gives an odd face); with 1 it uses only
# the projection onto real faces (realistic, but less like the sketch). The paper's
# blending weight w<sub>bc</sub> is the same knob in the other direction (w<sub>bc</sub> = 1 − refine).
#
# This notebook renders grids over `refine` (all parts, then one part at a time), over K
# (neighbours in the projection) and over the sex pool of the bank, using the batched call
# `Pipeline.run_batch`: encoding and projection happen once; the decoders and the generator
# run once per batch (its code, and the blend's, is shown under the first grid). Every grid
# is saved as a PNG.

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dsf
from dsf import manifold, viz

ROOT = Path(dsf.__file__).resolve().parent.parent  # the kit's folder: sample sketches, out/
PARAMS = os.environ.get("DSF_PARAMS") or None  # None → the kit's shipped parameters
FAST = os.environ.get("DSF_FAST") == "1"       # CI: fewer columns, same code path
OUT = Path(os.environ.get("DSF_OUT") or ROOT / "out" / "notebooks")
pipe = dsf.load_pipeline(PARAMS)

SKETCH = ROOT / "sample_sketches" / "08_drawn_rough.png"
REFINES = [0.0, 0.5, 1.0] if FAST else [0.0, 0.25, 0.5, 0.75, 1.0]
fig = viz.show_windows(pipe.load_sketch(SKETCH), title=f"The sketch of this notebook: {SKETCH.name}")
plt.show()

# %% [markdown]
# ## All parts together, then one part at a time
#
# The first row moves every part's `refine` together. Each following row moves one part and
# holds the others at 0.5, which isolates what the projection does to that component (the
# remainder covers the face outline, hair and everything outside the four windows).

# %%
OTHERS = 0.5
rows, labels = [], []
t = time.perf_counter()
rows.append(pipe.run_batch(SKETCH, REFINES))
labels.append("all parts")
for part in dsf.PARTS:
    rows.append(pipe.run_batch(SKETCH, [{**{p: OTHERS for p in dsf.PARTS}, part: r} for r in REFINES]))
    labels.append(f"{part} only")
print(f"{len(rows) * len(REFINES)} faces in {time.perf_counter() - t:.1f} s ({len(rows)} batched calls)")
fig = viz.refine_grid(rows, labels, [f"{r:.2f}" for r in REFINES],
                      title=f"Refine sweep on {SKETCH.name} (one part at a time: others at {OTHERS})",
                      ylabel="which parts move")
viz.save_figure(fig, OUT / "02_refinement_grid.png")
plt.show()
viz.show_source(manifold.blend, dsf.Pipeline.run_batch)

# %% [markdown]
# ## What one part's refine changed
#
# Side by side, a part's faces at refine 0 and 1 can look alike at this size. The difference
# map shows where the face changed: each column takes one row of the grid above (that part
# from refine 0 to 1, the others at 0.5) and draws |face(1) − face(0)| with the part's window
# outlined, with the mean change inside the window and outside it (in /255) beneath. In the
# paper each part's feature map is pasted into its own window, so the change should sit
# inside the outline; `python -m dsf evaluate` averages the same numbers over the test set
# ("refine response" in `docs/eval/report.md`).

# %%
part_rows = rows[1:]  # one per part, in dsf.PARTS order
fig = viz.change_maps([row[0] for row in part_rows], [row[-1] for row in part_rows], [[p] for p in dsf.PARTS],
                      list(dsf.PARTS), title=f"One part from refine {REFINES[0]} to {REFINES[-1]} on {SKETCH.name}")
viz.save_figure(fig, OUT / "02_refine_changes.png")
plt.show()

# %% [markdown]
# ## K: how many neighbours the projection uses
#
# With few neighbours the projection snaps to one or two training sketches; with more, the
# locally-linear weights average over a larger neighbourhood. The paper's supplement settles
# on K = 10; the released code uses 15. (K can be at most `pipe.max_k`, the smallest pool.)

# %%
KS = [k for k in ((2, 5, 10) if FAST else (1, 3, 5, 10, 15, 20)) if k <= pipe.max_k]
K_REFINES = [0.5, 1.0]
columns = [pipe.run_batch(SKETCH, K_REFINES, k=k) for k in KS]          # one batch per K
grid = [[columns[j][i] for j in range(len(KS))] for i in range(len(K_REFINES))]
fig = viz.refine_grid(grid, [f"refine {r}" for r in K_REFINES], [f"K={k}" for k in KS],
                      title="Neighbour count K in the manifold projection", xlabel="K (neighbours)",
                      ylabel="refine (all parts)")
viz.save_figure(fig, OUT / "02_k_sweep.png")
plt.show()

# %% [markdown]
# ## The sex pool
#
# The released banks are split by sex and the released script picks one with a flag; the
# kit's banks carry a `sex` label per row and `sex=None` searches all of them. The same
# sketch projected onto the male or the female pool pulls its components toward male or
# female training faces.

# %%
POOLS = [None, "male", "female"]
SKETCHES = [ROOT / "sample_sketches" / n for n in ("02_male_smiling.png", "03_female.png")]
if not FAST:
    SKETCHES.append(SKETCH)
grid = [[pipe.run_batch(s, [1.0], sex=sex)[0] for sex in POOLS] for s in SKETCHES]
fig = viz.refine_grid(grid, [s.stem for s in SKETCHES], [f"pool: {p or 'all'}" for p in POOLS],
                      title="Sex pool of the bank (refine 1.0: projection only)", xlabel="bank pool",
                      ylabel="sketch")
viz.save_figure(fig, OUT / "02_sex_pools.png")
plt.show()

# %% [markdown]
# The grids were saved to `out/notebooks/` (or `$DSF_OUT`). The next notebook turns these
# knobs into live sliders.
