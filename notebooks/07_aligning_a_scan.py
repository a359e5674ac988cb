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
# # 7 · Aligning a scan: any face sketch onto the template
#
# The model cuts every sketch into the same five windows (two eyes, nose, mouth, remainder):
# it only works when the eyes, nose and mouth sit in them. The sample sketches were drawn or
# prepared that way; a scan, a phone photo of a drawing or a sketch from another dataset has
# the face anywhere, at any size and tilt, and the windows then fall on forehead, cheeks or
# paper.
#
# `dsf.align_sketch` finds the face with the landmarker the data preparation uses on photos
# (MediaPipe's face mesh, an optional dependency: `pip install -r requirements-train.txt`),
# fits the same similarity transform onto the template (`dsf.data.align`) and warps the sketch.
# Without a face (or without MediaPipe, in this notebook) it places the sketch by its ink, an
# upright and much rougher guess. It returns the aligned sketch, the transform (to map the face
# back onto the scan) and quality measures. On the command line: `python -m dsf generate scan.jpg --align`.

# %%
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import dsf
from dsf import sketch_align, viz

ROOT = Path(dsf.__file__).resolve().parent.parent  # the kit's folder: sample sketches, out/
PARAMS = os.environ.get("DSF_PARAMS") or None  # None → the kit's shipped parameters
OUT = Path(os.environ.get("DSF_OUT") or ROOT / "out" / "notebooks")
SCAN = os.environ.get("DSF_SCAN")  # your own scan or photo of a drawing; unset: a simulated scan
pipe = dsf.load_pipeline(PARAMS)

# %% [markdown]
# ## An unaligned scan
#
# Set `DSF_SCAN=path/to/scan.jpg` to use your own. Otherwise the notebook makes one from the
# sample drawing `08_drawn_rough.png`: tilted by 12°, shrunk and placed off-centre on a larger
# sheet of unevenly lit grey paper, as a careless scan would give it.

# %%
def simulated_scan(drawing: Path, size=(700, 900), angle=12, side=330, corner=(250, 130)) -> np.ndarray:
    """The drawing tilted, shrunk and pasted onto grey paper that darkens towards one side."""
    face = Image.open(drawing).convert("L").rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    sheet = Image.new("L", size, 255)
    sheet.paste(face.resize((side, side), Image.LANCZOS), corner)
    light = np.linspace(0.95, 0.80, size[0])[None, :]  # lamp on the left
    return (np.asarray(sheet, np.float32) * light).astype(np.uint8)


if SCAN:
    scan = np.asarray(Image.open(SCAN).convert("L"))
else:
    scan = simulated_scan(ROOT / "sample_sketches" / "08_drawn_rough.png")
print(f"scan: {scan.shape[1]}×{scan.shape[0]} px")

# %% [markdown]
# ## What the model makes of it as it is
#
# Loading letterboxes the scan onto the canvas. The cheap check on every input (ink in the eye
# windows, not mostly dark or specks) may or may not notice; with MediaPipe installed,
# `check_template` measures how far off the template the face is.

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    as_is = pipe.load_sketch(scan)
    face_as_is = pipe.run(as_is, refine=0.5).image
for message in dict.fromkeys(str(w.message) for w in caught):
    print("warning:", message)
if sketch_align.landmarker_available():
    print("landmark check:", sketch_align.check_template(as_is) or "on the template")

# %% [markdown]
# ## Align it
#
# `align_sketch` tries the landmarker on a few prepared copies of the scan (blurred, which
# helps on thin pen lines, then sharp, then padded) and keeps the first face the template fits.

# %%
try:
    aligned = dsf.align_sketch(scan, canvas=pipe.config.canvas)
except ImportError as e:  # no MediaPipe here: the ink fallback alone
    print(f"{e}\n→ aligning by the ink fallback alone (upright: it cannot undo the tilt)")
    aligned = dsf.align_sketch(scan, canvas=pipe.config.canvas, detector=sketch_align.no_landmarks)
for key, value in aligned.quality().items():
    print(f"{key:>16}: {value}")

# %% [markdown]
# Left: the scan with the detected eye, nose and mouth centres and the fitted template, the
# four windows mapped back onto the scan by the inverse transform. Then the aligned sketch with
# its windows, and the faces the model gives for the scan as it is and for the aligned sketch.

# %%
face_aligned = pipe.run(aligned.sketch, refine=0.5).image
fig = sketch_align.show_alignment(aligned, {"face from the scan as it is": face_as_is,
                                            "face from the aligned sketch": face_aligned},
                                  title="Aligning a scan to the template")
viz.save_figure(fig, OUT / "07_aligning_a_scan.png")
plt.show()

# %% [markdown]
# ## The face back on the scan
#
# `aligned.matrix` maps scan pixels to the canvas; `to_original` warps any canvas image (here
# the face) back into the scan's frame, over the scan itself where the canvas does not reach.

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 5))
for ax, image, label in zip(axes, (scan, aligned.to_original(face_aligned)), ("the scan", "the face, in place")):
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.set_title(label)
    ax.set_xticks([]), ax.set_yticks([])
plt.show()

# %% [markdown]
# **How often it finds a face** (measured with `tools/align_scans.py`, see the README's
# section on aligning scans): on FS2K's artist sketches nearly always; on the kit's own thin
# line sketches less often, which is why the blurred copies come first. When it says
# `no face found`, look at the aligned sketch before trusting the face.
