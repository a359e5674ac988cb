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
# # 5 · Training in miniature
#
# DeepFaceDrawing is trained in **two stages** (as the paper describes its training):
#
# 1. **Stage 1 — component embedding.** The five component auto-encoders (encoder + sketch
#    decoder per part) are trained alone, to reconstruct sketch crops (here: L1 loss on
#    augmented sketches). Afterwards the encoders encode every training face; those latents
#    are the **banks** that manifold projection searches.
# 2. **Stage 2 — feature mapping + image synthesis.** The encoders are frozen; the five
#    feature decoders and the generator are trained *jointly* as a conditional GAN against
#    the training photos (pix2pixHD multi-scale discriminator; LSGAN + feature matching + L1
#    in this kit).
#
# This notebook runs both stages with the kit's training code (`dsf.train`) on a **toy** set,
# a few dozen steps each, so you can see the moving parts and the loss curves in two to three
# minutes on an otherwise idle CPU. It is a demonstration of the *mechanics* only: the "photos" are simple
# colourised versions of the sample sketches (the kit cannot ship real photos), the networks
# are 1/8 of the compact widths, and nothing here produces a useful model. The real recipe
# is at the end.

# %%
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dsf
from dsf import viz
from dsf.data import augment_sketch
from dsf.images import load_sketch
from dsf.train.bank import build_bank, load_banks
from dsf.train.checkpoint import LossLog
from dsf.train.stage1 import load_stage1, stage1_loss, train_stage1
from dsf.train.stage2 import load_stage2, train_stage2, train_step

ROOT = Path(dsf.__file__).resolve().parent.parent  # the kit's folder: sample sketches, out/
FAST = os.environ.get("DSF_FAST") == "1"        # CI: a handful of steps, same code path
OUT = Path(os.environ.get("DSF_OUT") or ROOT / "out" / "notebooks")
WORK = Path(os.environ.get("DSF_WORK") or tempfile.mkdtemp(prefix="dsf_toy_"))  # checkpoints, logs, bank
STEPS_1, STEPS_2 = (3, 2) if FAST else (30, 12)
VARIANTS = 2 if FAST else 12                    # augmented copies per sample sketch
config = dsf.preset("compact128").replace(name="toy", width=0.125, latent=32, feature_channels=8, k=4)
print(config)
print("working folder:", WORK)

# %% [markdown]
# ## A toy training set
#
# Each sample sketch is loaded at the model's canvas and perturbed several times with the
# training augmentation (`dsf.data.augment_sketch`: pen width, a small warp, dropped
# strokes). Its "photo" is a made-up colouring: a skin-toned face shape with darkened strokes
# on a coloured background — enough for the generator to have something to learn.

# %%
rng = np.random.default_rng(0)
samples = sorted((ROOT / "sample_sketches").glob("*.png"))
pipe_canvas = config.canvas
yy, xx = np.mgrid[:pipe_canvas, :pipe_canvas] / pipe_canvas


def toy_photo(sketch, rng):
    """A made-up 'photo' for a sketch: background, skin-toned oval, strokes darkened."""
    bg = rng.uniform(40, 200, 3)
    skin = np.array([224, 172, 140]) * rng.uniform(0.7, 1.05)
    face = (((xx - 0.5) / 0.33) ** 2 + ((yy - 0.55) / 0.43) ** 2) < 1
    img = np.where(face[..., None], skin, bg)
    ink = 1 - sketch[..., None] / 255.0
    return np.clip(img * (1 - 0.8 * ink), 0, 255).astype(np.uint8)


sketches, photos, sexes, ids = [], [], [], []
for path in samples:
    base = load_sketch(path, pipe_canvas)
    for j in range(VARIANTS):
        sk = base if j == 0 else augment_sketch(base, rng)
        sketches.append(sk)
        photos.append(toy_photo(sk, rng))
        sexes.append("male" if "_male" in path.stem else "female" if "_female" in path.stem else "")
        ids.append(f"{path.stem}#{j}")
pack = {"sketches": np.stack(sketches), "photos": np.stack(photos), "sex": np.array(sexes),
        "source": np.array(["toy"] * len(ids)), "ids": np.array(ids)}
print({k: v.shape for k, v in pack.items()})
# (enough faces that the few steps below stay inside one epoch: no epoch-end checkpoints)
show = np.arange(0, len(ids), VARIANTS)[:6]  # one pair per sample sketch
fig = viz.refine_grid([pack["sketches"][show], pack["photos"][show]], ["sketch", "toy 'photo'"],
                      [pack["ids"][i] for i in show], title="The toy training set (six of the pairs)",
                      xlabel="training pair (sample#variant)")
plt.show()

# %% [markdown]
# ## Stage 1: the component auto-encoders
#
# `train_stage1` cuts each (augmented) sketch into its five components, encodes and decodes
# each with its own auto-encoder and minimises the mean L1 reconstruction error (the loss is
# shown below). It checkpoints and logs every step to `<work>/stage1/losses.jsonl`;
# `max_steps` stops it early.

# %%
t = time.perf_counter()
meta1 = train_stage1(None, config, WORK, epochs=1000, batch=4, max_steps=STEPS_1, pack=pack, val=pack,
                     ckpt_every=10**6, sample_every=10**6, progress=False)
print(f"stage 1: {meta1['step']} steps in {time.perf_counter() - t:.1f} s")
viz.show_source(stage1_loss)

# %% [markdown]
# ## The banks
#
# With stage 1 done, the frozen encoders encode every training sketch: those latents, one
# bank per component with each face's sex label, are the manifold that projection searches
# at inference time (`build_bank` writes `<work>/bank.npz`).

# %%
bank_path = build_bank(None, config, WORK, pack=pack, progress=False)
banks = load_banks(bank_path)
for part, bank in banks.items():
    print(f"{part:9s} {bank}")

# %% [markdown]
# ## Stage 2: feature decoders + generator as a conditional GAN
#
# `train_stage2` reads each training face's (fixed) latents from the bank, decodes them into
# feature maps, fuses them, and trains the generator and feature decoders against the photos.
# Each step updates the discriminator once and then the generator once (`train_step`, below).

# %%
t = time.perf_counter()
meta2 = train_stage2(None, config, WORK, epochs=1000, batch=4, max_steps=STEPS_2, pack=pack, val=pack,
                     ckpt_every=10**6, sample_every=10**6, progress=False)
print(f"stage 2: {meta2['step']} steps in {time.perf_counter() - t:.1f} s")
viz.show_source(train_step)

# %% [markdown]
# ## Loss curves
#
# Stage 1's L1 falls quickly as the auto-encoders learn to draw the crops back. Stage 2's
# generator loss combines the GAN term, feature matching and L1 to the photo; the
# discriminator's loss hovers as the two play against each other. (With this few steps the
# curves are short and noisy — a real run has tens of thousands.)

# %%
log1 = LossLog(WORK / "stage1" / "losses.jsonl").read()
log2 = LossLog(WORK / "stage2" / "losses.jsonl").read()
curves = {
    "stage 1: auto-encoders (L1)": {"mean over parts": [r["loss"] for r in log1],
                                    **{p: [r[f"l1_{p}"] for r in log1] for p in dsf.PARTS}},
    "stage 2: conditional GAN": {"generator total": [r["loss_g"] for r in log2],
                                 "generator L1 (unweighted)": [r["g_l1"] for r in log2],
                                 "discriminator": [r["loss_d"] for r in log2]},
}
fig = viz.loss_curves(curves, title=f"Training in miniature: {len(pack['ids'])} toy faces, batch 4", log=True)
viz.save_figure(fig, OUT / "05_training_losses.png")
plt.show()

# %% [markdown]
# ## From checkpoints to a pipeline
#
# The trained modules and banks make a `Pipeline` like any other; `dsf.params.save_model`
# writes them in the kit's parameter layout, which `dsf.load_pipeline(folder)` reads — this
# is what `python -m dsf.train export` does for a real run. After a few steps the face is, of
# course, still noise: the point is the path from training code to a loadable model.

# %%
from dsf.networks import build_networks
from dsf.params import save_model

networks = build_networks(config)
networks.update(load_stage1(WORK, config))
networks.update(load_stage2(WORK, config))
save_model(WORK / "toy_params", config, networks, banks, model_card="Toy model from notebook 5.", overwrite=True)
toy = dsf.load_pipeline(WORK / "toy_params")
trace = toy.run(samples[0], refine=0.5, shadow=True)
fig = viz.stage_strip(trace, title="The toy model after a few steps (expect noise, not a face)")
plt.show()

# %% [markdown]
# ## Training for real
#
# The kit's shipped model was trained with the same functions on aligned FS2K,
# CelebAMask-HQ and SCUT-FBP5500 faces (see `params/compact128/README.md` for the exact data,
# steps and terms). With the data available locally:
#
# ```bash
# pip install -r requirements-train.txt
# python -m dsf.data prepare --source ../shared/data --out data/prepared_128 --size 128
# python -m dsf.train all --data data/prepared_128 --preset compact128 --out runs/compact128 \
#     --params params/compact128
# ```
#
# `python -m dsf.train stage1 | bank | stage2 | export` run the stages one at a time; every
# stage checkpoints and resumes where it stopped (`--minutes` / `--until` bound a session).
