"""Stage 2 (paper §3.2–3.3): feature decoders + generator, trained jointly as a conditional GAN.

The stage-1 encoders are frozen. Because they are frozen and stage 2 feeds them the
un-augmented training sketches, every training face's latents are fixed numbers: they are
exactly the rows of the latent bank (`bank.npz`, row i = training face i). Stage 2 therefore
reads its inputs from the bank instead of re-running five encoders per step (same result,
less compute). Latents → five feature decoders (BatchNorm "train") → `fuse` → generator →
image in [−1, 1]; the target is the photo scaled to [−1, 1].

Discriminator: pix2pixHD `MultiscaleDiscriminator(in_channels=1+3, ndf=16, n_layers=3,
num_d=2)`, conditioned like pix2pixHD on the generator's input map — here the whole
normalised sketch (1×canvas²) concatenated with the real or generated image.
Losses (see `losses`): generator = LSGAN + λ_FM·feature matching + λ_L1·L1(image, photo) (L1 in
place of pix2pixHD's VGG loss: no pretrained perceptual network offline); discriminator =
½(LSGAN(real→1) + LSGAN(fake→0)) on the detached fake. Two Adam optimizers (lr 2e-4, betas
0.5/0.999). Each step updates D first, then G against the updated D.

λ_FM = 10 is pix2pixHD's. λ_L1 defaults to 100 (pix2pix's pixel-L1 weight): with pix2pixHD's 10,
the kit's first 2 epochs at canvas 128 were dominated by feature matching against a
discriminator that won easily, and the faces came out covered in checkerboard speckle that
cost more SSIM than the mean face. Like pix2pixHD's `niter_decay`, `lr_decay_steps` > 0 decays
both learning rates linearly to 0 over that many steps, and stage 2 ends there. The loss
weights and the learning-rate schedule may change when a run is resumed; the checkpoint
records each phase (`meta["loss_phases"]`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import PARTS
from ..config import Config

LR, BETAS = 2e-4, (0.5, 0.999)
LAMBDA_FM, LAMBDA_L1 = 10.0, 100.0
D_NDF, D_LAYERS, D_NUM = 16, 3, 2


def build_stage2(cfg: Config):
    """(generator-side modules {"feature_decoder/<part>", "generator"}, discriminator), all in
    training mode."""
    from ..networks import MultiscaleDiscriminator, build_networks, set_batchnorm_mode

    nets = build_networks(cfg)
    gmods = {k: v for k, v in nets.items() if k.startswith("feature_decoder/") or k == "generator"}
    for m in gmods.values():
        m.train()
        set_batchnorm_mode(m, "train")
    disc = MultiscaleDiscriminator(1 + 3, D_NDF, D_LAYERS, D_NUM)
    disc.train()
    return gmods, disc


def generate(gmods: dict, latents: dict, canvas: int):
    """part → B×latent latents → B×3×canvas² image Var in [−1, 1] (differentiable)."""
    from ..components import windows
    from ..fusion import decode_features, fuse

    wins = windows(canvas)
    fmaps = {p: decode_features(gmods[f"feature_decoder/{p}"], latents[p], wins[p].size) for p in PARTS}
    return gmods["generator"](fuse(fmaps, canvas))


def photo_var(photos: np.ndarray):
    from .._jittor import jt

    return jt.array(np.asarray(photos, np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0)


def train_step(gmods, disc, opt_g, opt_d, latents: dict, sketches: np.ndarray, photos: np.ndarray, canvas: int,
               lambda_fm: float = LAMBDA_FM, lambda_l1: float = LAMBDA_L1) -> dict:
    """One GAN step on a batch; returns the loss values."""
    from .._jittor import jt

    from ..embedding import normalise
    from .losses import feature_matching, l1, lsgan

    cond = normalise(sketches)
    real = photo_var(photos)
    fake = generate(gmods, {p: jt.array(latents[p]) for p in PARTS}, canvas)
    # Discriminator on real and the detached fake.
    d_real = disc(jt.concat([cond, real], dim=1))
    d_fake = disc(jt.concat([cond, fake.detach()], dim=1))
    loss_d_real, loss_d_fake = lsgan(d_real, True), lsgan(d_fake, False)
    loss_d = 0.5 * (loss_d_real + loss_d_fake)
    opt_d.step(loss_d)
    # Generator against the updated discriminator; real features are constants.
    d_gen = disc(jt.concat([cond, fake], dim=1))
    real_feats = [[f.detach() for f in scale] for scale in d_real]
    loss_gan = lsgan(d_gen, True)
    loss_fm = feature_matching(d_gen, real_feats)
    loss_l1 = l1(fake, real)
    loss_g = loss_gan + lambda_fm * loss_fm + lambda_l1 * loss_l1
    opt_g.step(loss_g)
    return {"loss_g": loss_g.item(), "g_gan": loss_gan.item(), "g_fm": loss_fm.item(), "g_l1": loss_l1.item(),
            "loss_d": loss_d.item(), "d_real": loss_d_real.item(), "d_fake": loss_d_fake.item()}


def _grid(gmods, cfg, val_latents, val_sketches, val_photos):
    """Held-out sample grid: sketch | generated (BatchNorm eval, as at inference) | photo."""
    from .._jittor import jt

    from .._nograd import no_grad
    from ..networks import set_batchnorm_mode
    from ..synthesis import to_uint8_image

    for m in gmods.values():
        set_batchnorm_mode(m, cfg.bn_mode.get("feature_decoder", "eval") if m is not gmods["generator"] else "train")
    with no_grad():
        img = to_uint8_image(generate(gmods, {p: jt.array(val_latents[p]) for p in PARTS}, cfg.canvas).numpy())
    for m in gmods.values():
        set_batchnorm_mode(m, "train")
    return [np.asarray(val_sketches), img, np.asarray(val_photos)]


def train_stage2(data_root, cfg: Config, out, epochs: int = 100, minutes: float | None = None,
                 until: float | None = None, batch: int = 8, seed: int = 0, ckpt_every: int = 200,
                 sample_every: int = 250, max_steps: int | None = None, pack: dict | None = None,
                 val: dict | None = None, progress: bool = True, extend: bool = False,
                 lambda_fm: float = LAMBDA_FM, lambda_l1: float = LAMBDA_L1, lr: float = LR,
                 lr_decay_steps: int = 0, init=None, balance: float | None = None) -> dict:
    """Train (or resume) stage 2 into `<out>/stage2/`, reading latents from `<out>/bank.npz`.
    Stops after `epochs` epochs, when `minutes` of training (summed over restarts) are spent,
    at the wall-clock time `until` (UNIX seconds), or after `max_steps` steps of this run — always at a
    step boundary with a checkpoint. A finished stage 2 is returned as it is, unless `extend`:
    then it trains on under the new `epochs` / `minutes` / `until`. Loss weights apply from the
    current step on; a change starts a new entry in `meta["loss_phases"]`. With `lr_decay_steps`,
    the learning rate falls linearly from `lr` to 0 over that many steps from the phase's start,
    and the run finishes there. A new run starts from the feature decoders, generator and
    discriminator of the kit parameter folder `init` where their shapes match (fine-tuning a
    shipped model). `balance` < 1 evens out the data sources within each epoch (see
    `checkpoint.epoch_rows`; fixed when the run starts). Returns the final meta."""
    from .._jittor import jt
    from tqdm import tqdm

    from .bank import encode_all, load_bank_arrays
    from .checkpoint import (LossLog, init_from_params, load_checkpoint, rng_from_state, rng_state, run_epochs,
                             save_checkpoint, save_grid)
    from .stage1 import load_split, load_stage1, sample_rows

    out = Path(out)
    sdir = out / "stage2"
    sdir.mkdir(parents=True, exist_ok=True)
    ckpt = sdir / "checkpoint.npz"
    pack = pack if pack is not None else load_split(data_root, "train")
    bank, labels = load_bank_arrays(out / "bank.npz")
    n = len(pack["sketches"])
    if len(bank[PARTS[0]]) != n or not np.array_equal(labels["id"], np.asarray(pack["ids"]).astype(str)):
        raise ValueError("bank rows do not line up with the training pack; rebuild the bank")
    if val is None:
        try:
            val = load_split(data_root, "val")
        except (FileNotFoundError, KeyError):
            val = None
    src = val if val is not None else pack
    rows = sample_rows(len(src["sketches"]))
    val_sk, val_ph = src["sketches"][rows], src["photos"][rows]
    encoders = load_stage1(out, cfg)
    val_lat = encode_all(encoders, val_sk, progress=False)
    del encoders

    batch = min(batch, n)
    per_epoch = n // batch
    gmods, disc = build_stage2(cfg)
    opt_g = jt.optim.Adam([p for m in gmods.values() for p in m.parameters()], LR, betas=BETAS)
    opt_d = jt.optim.Adam(disc.parameters(), LR, betas=BETAS)
    modules = {**gmods, "discriminator": disc}
    optims = {"adam_g": opt_g, "adam_d": opt_d}
    meta = {"stage": "stage2", "step": 0, "epoch": 0, "pos": 0, "seconds": 0.0, "done": False,
            "seed": seed, "batch": batch, "config": json.loads(cfg.to_json()), "rng": None,
            "train_faces": n, "balance": 1.0 if balance is None else float(balance),
            "init": str(init) if init else None}
    log = LossLog(sdir / "losses.jsonl")
    if init and not ckpt.exists():
        left = init_from_params(init, modules)
        if progress:
            print(f"[stage2] initialised from {init}" + (f"; not there or shaped otherwise: {', '.join(left)}"
                                                         if left else ""), flush=True)
    if ckpt.exists():
        meta = load_checkpoint(ckpt, modules, optims)
        log.truncate_after(meta["step"])
        if progress:
            print(f"[stage2] resumed at step {meta['step']} (epoch {meta['epoch']}, pos {meta['pos']})", flush=True)
        if meta.get("done"):
            if not extend:
                return meta
            meta["done"] = False
            if minutes:
                meta["seconds_before_extend"] = meta["seconds"]
                minutes = minutes + meta["seconds"] / 60  # `minutes` more on top of what was trained
    # Checkpoints written before loss phases existed kept one "losses" entry.
    phases = meta.setdefault("loss_phases", [{"from_step": 0, **meta.pop("losses")}] if "losses" in meta else [])
    weights = {"lambda_fm": float(lambda_fm), "lambda_l1": float(lambda_l1)}
    schedule = {"lr": float(lr), "lr_decay_steps": int(lr_decay_steps)}
    defaults = {"lr": LR, "lr_decay_steps": 0}
    phase = {**weights, **schedule}
    if not phases or {k: phases[-1].get(k, defaults.get(k)) for k in phase} != phase:
        phases.append({"from_step": meta["step"], **phase})
    decay_end = phases[-1]["from_step"] + lr_decay_steps if lr_decay_steps else None

    def set_lr():
        rate = lr if decay_end is None else lr * max(0.0, (decay_end - meta["step"] + 1) / lr_decay_steps)
        opt_g.lr = opt_d.lr = rate
        return rate
    rng = rng_from_state(meta["rng"]) if meta.get("rng") else np.random.default_rng(seed)
    jt.set_global_seed(seed + 7919 + meta["step"])

    def save(done=False):
        meta.update(rng=rng_state(rng), done=done)
        save_checkpoint(ckpt, modules, optims, meta)

    def sample(name):
        save_grid(sdir / "samples" / name, _grid(gmods, cfg, val_lat, val_sk, val_ph))
        log.plot(sdir / "curves.png", keys=["loss_g", "g_gan", "g_fm", "g_l1", "loss_d", "d_real", "d_fake"])

    run_start = time.time()
    start = run_start - meta["seconds"]
    deadline = None
    if minutes:
        deadline = run_start + minutes * 60 - meta["seconds"]
    if until:
        deadline = min(deadline, until) if deadline else until
    bar = tqdm(total=min(epochs * per_epoch, decay_end or epochs * per_epoch), initial=meta["step"], desc="stage2",
               disable=not progress, mininterval=5, dynamic_ncols=True)
    steps_this_run = 0
    step_time = None

    def train_batch(idx) -> bool:
        nonlocal steps_this_run, step_time
        t0 = time.time()
        rate = set_lr()  # meta["step"] is already this step's number
        vals = train_step(gmods, disc, opt_g, opt_d, {p: bank[p][idx] for p in PARTS},
                          pack["sketches"][idx], pack["photos"][idx], cfg.canvas, **weights)
        steps_this_run += 1
        meta["seconds"] = time.time() - start
        dt = time.time() - t0
        step_time = dt if step_time is None else 0.95 * step_time + 0.05 * dt
        if not all(np.isfinite(v) for v in vals.values()):
            save_grid(sdir / "samples" / f"nan_step{meta['step']:06d}.png", _grid(gmods, cfg, val_lat, val_sk, val_ph))
            raise FloatingPointError(f"stage 2 losses not finite at step {meta['step']}: {vals}")
        log.write({"step": meta["step"], "epoch": meta["epoch"], "lr": rate,
                   **{k: round(float(v), 6) for k, v in vals.items()}})
        bar.update(1)
        bar.set_postfix(g=f"{vals['loss_g']:.3f}", l1=f"{vals['g_l1']:.3f}", d=f"{vals['loss_d']:.3f}", ep=meta["epoch"])
        return bool((deadline and time.time() + step_time > deadline) or (max_steps and steps_this_run >= max_steps)
                    or decayed())

    def decayed() -> bool:
        return decay_end is not None and meta["step"] >= decay_end

    if not (deadline and time.time() >= deadline) and not decayed():
        run_epochs(meta, train_batch, n=n, batch=batch, epochs=epochs, seed_key=(seed, 2), save=save, sample=sample,
                   ckpt_every=ckpt_every, sample_every=sample_every, groups=pack["source"],
                   balance=meta.get("balance", 1.0))
    bar.close()
    finished = meta["epoch"] >= epochs or decayed() or bool(deadline and time.time() + (step_time or 0) >= deadline)
    save(done=finished)
    sample("final.png" if finished else f"step{meta['step']:06d}.png")
    return meta


def load_discriminator(out, cfg: Config):
    """The trained discriminator of run `out` (exported with the parameters for fine-tuning)."""
    from .checkpoint import load_checkpoint

    gmods, disc = build_stage2(cfg)
    load_checkpoint(Path(out) / "stage2" / "checkpoint.npz", {"discriminator": disc}, {})
    return disc


def load_stage2(out, cfg: Config) -> dict:
    """The trained generator-side modules of run `out`, BatchNorm as `cfg.bn_mode` says."""
    from ..networks import set_batchnorm_mode
    from .checkpoint import load_checkpoint

    gmods, disc = build_stage2(cfg)
    load_checkpoint(Path(out) / "stage2" / "checkpoint.npz", {**gmods, "discriminator": disc}, {})
    for k, m in gmods.items():
        m.eval()
        if k.startswith("feature_decoder/"):
            set_batchnorm_mode(m, cfg.bn_mode.get("feature_decoder", "eval"))
    return gmods
