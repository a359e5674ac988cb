"""Stage 1 (paper §3.1): the five component auto-encoders, trained on sketch crops.

One loop trains all five (encoder + sketch decoder per part) on augmented training sketches:
each batch of whole sketches is augmented (the data module's stroke-width changes, small
warps, dropped strokes), cut by `split_components`, and each crop goes through `normalise`
(so small-canvas crops are resized to the network size, as at inference). The loss is the mean
over parts of L1(decoded, input crop) at network size (see `losses` for L1 over MSE). The
target is the augmented crop itself: augmentation widens the set of sketches the encoders see;
asking them to undo warps would be ill-posed. Adam (lr 2e-4, betas 0.5/0.999), BatchNorm in
"train" mode, the last incomplete batch of each epoch dropped (fixed shapes, steady BatchNorm).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import PARTS
from ..components import crops_by_part
from ..config import Config
from .data import augment_all, load_split, load_split_or_none, sample_rows
from .runner import Budget, StageRun, new_meta

LR = 2e-4
BETAS = (0.5, 0.999)
"""Adam's betas in both stages (pix2pixHD's)."""


def build_stage1(cfg: Config):
    """The ten stage-1 modules ("encoder/<part>", "sketch_decoder/<part>") in training mode."""
    from ..networks import build_networks, set_batchnorm_mode

    nets = build_networks(cfg)
    mods = {k: v for k, v in nets.items() if k.split("/")[0] in ("encoder", "sketch_decoder")}
    for m in mods.values():
        m.train()
        set_batchnorm_mode(m, "train")
    return mods


def stage1_loss(mods: dict, crops: dict, ink_weight: float = 0.0):
    """Mean over parts of L1(decoder(encoder(x)), x), x = normalised crop, with ink pixels
    weighted 1 + `ink_weight` (see `losses.ink_weighted_l1`); returns (total, {part: loss})."""
    from ..embedding import normalise
    from .losses import ink_weighted_l1

    parts = {}
    for p in PARTS:
        x = normalise(crops[p])
        parts[p] = ink_weighted_l1(mods[f"sketch_decoder/{p}"](mods[f"encoder/{p}"](x)), x, ink_weight)
    total = sum(parts.values()) / len(parts)
    return total, parts


def _grid(mods, cfg, sketches):
    """Sample grid: input sketch | reconstruction composited from the five decoded parts."""
    from .._nograd import no_grad
    from ..components import composite, windows
    from ..embedding import normalise, resize
    from ..networks import set_batchnorm_mode

    crops = crops_by_part(sketches)
    wins = windows(cfg.canvas)
    dec = {}
    for m in mods.values():
        set_batchnorm_mode(m, "eval")
    with no_grad():
        for p in PARTS:
            y = mods[f"sketch_decoder/{p}"](mods[f"encoder/{p}"](normalise(crops[p])))
            dec[p] = resize(y, wins[p].size).numpy()[:, 0]
    for m in mods.values():
        set_batchnorm_mode(m, "train")
    recon = []
    for i in range(len(sketches)):
        img = composite({p: dec[p][i] for p in PARTS}, cfg.canvas)
        recon.append(np.clip((img + 1) * 127.5, 0, 255).astype(np.uint8))
    return [np.asarray(sketches), np.stack(recon)]


def train_stage1(data_root, cfg: Config, out, epochs: int = 3, minutes: float | None = None,
                 batch: int = 16, seed: int = 0, ckpt_every: int = 200, sample_every: int = 500,
                 max_steps: int | None = None, pack: dict | None = None, val: dict | None = None,
                 progress: bool = True, init=None, balance: float | None = None,
                 ink_weight: float | None = None) -> dict:
    """Train (or resume) stage 1 into `<out>/stage1/`. Stops after `epochs` epochs, or when
    `minutes` of training (summed over restarts) are spent, or after `max_steps` steps, always
    at a step boundary with a checkpoint. A new run starts from the auto-encoders of the kit
    parameter folder `init` when given. `balance` < 1 evens out the data sources within each
    epoch (see `checkpoint.epoch_rows`), `ink_weight` > 0 counts stroke pixels more in the loss
    (see `losses.ink_weighted_l1`); both are fixed when the run starts. Returns the final meta."""
    from .._jittor import jt

    pack = pack if pack is not None else load_split(data_root, "train")
    val = val if val is not None else load_split_or_none(data_root, "val")
    sketches = pack["sketches"]
    mods = build_stage1(cfg)
    opt = jt.optim.Adam([p for m in mods.values() for p in m.parameters()], LR, betas=BETAS)
    meta = new_meta("stage1", cfg, seed, min(batch, len(sketches)), init=str(init) if init else None,
                    balance=1.0 if balance is None else float(balance), ink_weight=float(ink_weight or 0.0))
    run = StageRun(out, "stage1", mods, {"adam": opt}, meta, progress)
    meta = run.start(init)
    if meta.get("done"):
        return meta
    seed = meta["seed"]  # a resumed run keeps its own: mid-epoch, another order repeats and skips faces
    jt.set_global_seed(seed + meta["step"])
    val_sketches = (val if val is not None else pack)["sketches"]
    val_sketches = val_sketches[sample_rows(len(val_sketches))]

    def train_step(rows) -> dict:
        loss, parts = stage1_loss(mods, crops_by_part(augment_all(sketches[rows], run.rng)), meta.get("ink_weight", 0.0))
        opt.step(loss)
        return {"loss": loss.item(), **{f"l1_{p}": v.item() for p, v in parts.items()}}

    return run.run(train_step, Budget(epochs, minutes=minutes, max_steps=max_steps), n=len(sketches),
                   grid=lambda: _grid(mods, cfg, val_sketches), curve_keys=["loss"] + [f"l1_{p}" for p in PARTS],
                   seed_key=(seed,), groups=pack["source"], ckpt_every=ckpt_every, sample_every=sample_every)


def load_stage1(out, cfg: Config) -> dict:
    """The trained stage-1 modules from `<out>/stage1/checkpoint.npz`, BatchNorm in eval mode."""
    from ..networks import set_batchnorm_mode
    from .checkpoint import load_checkpoint

    mods = build_stage1(cfg)
    load_checkpoint(Path(out) / "stage1" / "checkpoint.npz", mods, {})
    for m in mods.values():
        set_batchnorm_mode(m, "eval")
    return mods


def load_encoders(out, cfg: Config, init=None) -> dict:
    """The stage-1 modules a run encodes with: its own trained ones, or — for a run that
    fine-tunes a shipped model without training stage 1 itself — those of the kit parameter
    folder `init`. BatchNorm in eval mode."""
    from ..networks import set_batchnorm_mode
    from .checkpoint import init_from_params

    if not init or (Path(out) / "stage1" / "checkpoint.npz").exists():
        return load_stage1(out, cfg)
    mods = build_stage1(cfg)
    init_from_params(init, mods)
    for m in mods.values():
        set_batchnorm_mode(m, "eval")
    return mods

