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

import json
import time
from pathlib import Path

import numpy as np

from .. import PARTS
from ..config import Config

LR, BETAS = 2e-4, (0.5, 0.999)


# ---------------------------------------------------------------- data helpers (shared)

def load_split(root, split: str) -> dict:
    """A prepared split as a dict of arrays: photos N×H×W×3 uint8, sketches N×H×W uint8
    (black on white), ids, sex ("male"/"female"/""), source. Uses `dsf.data.dataset.load_pack`
    when present, else reads `pack_<split>.npz` directly."""
    if split == "test":
        raise ValueError("the test split is held out: never used for training or banks")
    try:
        from ..data.dataset import load_pack
    except ImportError:
        load_pack = None
    if load_pack is not None:
        pack = dict(load_pack(root, split))
    else:
        with np.load(Path(root) / f"pack_{split}.npz", allow_pickle=False) as z:
            pack = {k: z[k] for k in z.files}
    n = len(pack["sketches"])
    pack["sex"] = normalise_sex(pack.get("sex", np.full(n, "")), n)
    pack["source"] = np.asarray(pack.get("source", np.full(n, "")), dtype=str)
    pack["ids"] = np.asarray(pack.get("ids", np.arange(n)).astype(str))
    return pack


def normalise_sex(values, n: int) -> np.ndarray:
    """Sex labels of any common spelling → "male" / "female" / "" (unknown)."""
    out = np.full(n, "", dtype="<U6")
    for i, v in enumerate(np.asarray(values).tolist()):
        s = str(v).strip().lower()
        if s in ("male", "m", "man", "1", "true"):
            out[i] = "male"
        elif s in ("female", "f", "woman", "0", "false"):
            out[i] = "female"
    return out


def make_augmenter(seed_rng: np.random.Generator):
    """Return f(sketch uint8 H×W) → augmented uint8 sketch using `dsf.data.augment`, or None
    when that module is unavailable."""
    try:
        from ..data import augment
    except ImportError:
        return None
    for name in ("augment_sketch", "augment", "random_augment"):
        fn = getattr(augment, name, None)
        if callable(fn):
            return lambda sk, rng: np.asarray(fn(sk, rng=rng), np.uint8)
    return None


def sample_rows(n: int, k: int = 8) -> np.ndarray:
    """k rows spread evenly over a split (the sample grids' fixed held-out faces)."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int))


def crops_by_part(sketches: np.ndarray) -> dict[str, np.ndarray]:
    """B×H×W sketches → part → B×S×S crops (remainder: whole sketch, windows whited)."""
    from ..components import split_components

    per = [split_components(s) for s in sketches]
    return {p: np.stack([c[p] for c in per]) for p in PARTS}


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
    from tqdm import tqdm

    from .checkpoint import (LossLog, init_from_params, load_checkpoint, rng_from_state, rng_state, run_epochs,
                             save_checkpoint, save_grid)

    out = Path(out)
    sdir = out / "stage1"
    sdir.mkdir(parents=True, exist_ok=True)
    ckpt = sdir / "checkpoint.npz"
    pack = pack if pack is not None else load_split(data_root, "train")
    if val is None:
        try:
            val = load_split(data_root, "val")
        except (FileNotFoundError, KeyError):
            val = None
    sketches = pack["sketches"]
    n = len(sketches)
    batch = min(batch, n)
    per_epoch = n // batch

    mods = build_stage1(cfg)
    params = [p for m in mods.values() for p in m.parameters()]
    opt = jt.optim.Adam(params, LR, betas=BETAS)
    meta = {"stage": "stage1", "step": 0, "epoch": 0, "pos": 0, "seconds": 0.0, "done": False,
            "seed": seed, "batch": batch, "config": json.loads(cfg.to_json()), "rng": None,
            "balance": 1.0 if balance is None else float(balance), "init": str(init) if init else None,
            "ink_weight": float(ink_weight or 0.0)}
    log = LossLog(sdir / "losses.jsonl")
    if init and not ckpt.exists():
        left = init_from_params(init, mods)
        if progress:
            print(f"[stage1] initialised from {init}" + (f"; not there: {', '.join(left)}" if left else ""), flush=True)
    if ckpt.exists():
        meta = load_checkpoint(ckpt, mods, {"adam": opt})
        log.truncate_after(meta["step"])
        if progress:
            print(f"[stage1] resumed at step {meta['step']} (epoch {meta['epoch']}, pos {meta['pos']})", flush=True)
        if meta.get("done"):
            return meta
    rng = rng_from_state(meta["rng"]) if meta.get("rng") else np.random.default_rng(seed)
    jt.set_global_seed(seed + meta["step"])
    augment = make_augmenter(rng)
    src = val if val is not None else pack
    val_sk = src["sketches"][sample_rows(len(src["sketches"]))]

    def save(done=False):
        meta.update(rng=rng_state(rng), done=done)
        save_checkpoint(ckpt, mods, {"adam": opt}, meta)

    def sample(name):
        save_grid(sdir / "samples" / name, _grid(mods, cfg, val_sk))
        log.plot(sdir / "curves.png", keys=["loss"] + [f"l1_{p}" for p in PARTS])

    start = time.time() - meta["seconds"]
    budget = minutes * 60 if minutes else None
    bar = tqdm(total=epochs * per_epoch, initial=meta["step"], desc="stage1", disable=not progress,
               mininterval=5, dynamic_ncols=True)
    steps_this_run = 0

    def train_batch(idx) -> bool:
        nonlocal steps_this_run
        sk = sketches[idx]
        if augment is not None:
            sk = np.stack([augment(s, rng) for s in sk])
        loss, parts = stage1_loss(mods, crops_by_part(sk), meta.get("ink_weight", 0.0))
        opt.step(loss)
        vals = {"loss": float(loss.item()), **{f"l1_{p}": float(v.item()) for p, v in parts.items()}}
        steps_this_run += 1
        meta["seconds"] = time.time() - start
        if not np.isfinite(vals["loss"]):
            raise FloatingPointError(f"stage 1 loss is {vals['loss']} at step {meta['step']}")
        log.write({"step": meta["step"], "epoch": meta["epoch"], **{k: round(v, 6) for k, v in vals.items()}})
        bar.update(1)
        bar.set_postfix(loss=f"{vals['loss']:.4f}", ep=meta["epoch"])
        return bool((budget and meta["seconds"] >= budget) or (max_steps and steps_this_run >= max_steps))

    run_epochs(meta, train_batch, n=n, batch=batch, epochs=epochs, seed_key=(seed,), save=save, sample=sample,
               ckpt_every=ckpt_every, sample_every=sample_every, groups=pack["source"], balance=meta.get("balance", 1.0))
    bar.close()
    finished = meta["epoch"] >= epochs or bool(budget and meta["seconds"] >= budget)
    save(done=finished)
    sample("final.png" if finished else f"step{meta['step']:06d}.png")
    return meta


def load_stage1(out, cfg: Config) -> dict:
    """The trained stage-1 modules from `<out>/stage1/checkpoint.npz`, BatchNorm in eval mode."""
    from ..networks import set_batchnorm_mode
    from .checkpoint import load_checkpoint

    mods = build_stage1(cfg)
    load_checkpoint(Path(out) / "stage1" / "checkpoint.npz", mods, {})
    for m in mods.values():
        set_batchnorm_mode(m, "eval")
    return mods
