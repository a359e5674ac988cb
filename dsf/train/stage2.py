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
½(LSGAN(real→1) + LSGAN(fake→0)) on the detached fake. With λ_local > 0 (the kit's named
departure, `--lambda-local`), the generator also pays λ_local · `losses.outside_change` for
half the batch re-generated (in the same pass) with one part's latent taken from a face of the
other half, cycling through the parts step by step (`--local-weights` scales λ_local per part):
a part's edit should change its own region only (`dsf.components.part_regions`). With λ_id > 0
(the kit's second named departure, `--lambda-id`), the generator also pays λ_id ·
`losses.identity_contrast`: each face should be nearer its own photo than every other training
photo on the evaluation's identity signature (softmax temperature `--id-temperature`, default
`recipe.ID_TEMPERATURE`); `--id-gradient neutral` hands that loss's gradient to R, G and B
alike (`losses.signature`); `--id-region face` compares faces and photos on the canvas's centre
only (`losses.FACE_REGION`); `--id-signature edges` on the evaluation's edge signature. With λ_SSIM > 0
(the third, `--lambda-ssim`), it also pays λ_SSIM · (1 − SSIM(face, photo)) (`losses.ssim_loss`,
the evaluation's SSIM): a structure term in place of the perceptual loss. With `--ema-decay`
(the fourth, `average`), the run also keeps a moving average of the generator-side weights. Two Adam optimizers (lr 2e-4, betas
0.5/0.999); `--lr-d` gives the discriminator its own rate (a slower D is one lever against a D
that wins early; the default keeps pix2pixHD's one rate). Each step updates D first, then G
against the updated D. `--d-noise` σ > 0 adds instance noise (Sønderby et al. 2017): fresh
N(0, σ²) on every image the discriminator sees, real and generated alike (images in [−1, 1]),
so that it cannot win on details finer than the noise. `--latent-noise` and `--augment-share`
vary the fixed bank latents (`with_noise`, `with_augmented`), against memorisation: on its
training sketches the shipped model reproduces the very photo, on held-out ones it does not
(`tools/memorisation.py`; neither latent noise up to 0.4 of the spread nor re-drawing half of
the sketches changed that, though the re-drawn sketches bought pixel accuracy). `--mirror-share`
(`with_mirrored`) adds faces instead of drawings: a share of the batch is mirrored about the
faces' axis, sketch and photo alike, as pix2pixHD flips its training pairs by default; the
held-out FS2K sketches find 98–99 % of their nearest bank latents among the 1,029 FS2K training
faces (the artist's drawing style, not the face, decides the neighbourhood), so for the test's
sketches the generator learns from those faces alone. `--pencil-share` (`with_pencilled`) brings the
other faces there: a share of the batch is drawn afresh from its own photo by a pencil filter,
which the frozen encoders place among the artist sketches.

λ_FM = 10 is pix2pixHD's. λ_L1 defaults to 100 (pix2pix's pixel-L1 weight): with pix2pixHD's 10,
the kit's first 2 epochs at canvas 128 were dominated by feature matching against a
discriminator that won easily, and the faces came out covered in checkerboard speckle that
cost more SSIM than the mean face. Like pix2pixHD's `niter_decay`, `lr_decay_steps` > 0 decays
both learning rates linearly to 0 over that many steps, and stage 2 ends there. The loss
weights and the learning-rate schedule may change when a run is resumed; the checkpoint
records each phase (`meta["loss_phases"]`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import PARTS
from ..config import Config
from .average import PREFIX, WeightAverage, has_average
from .bank import build_bank, encode_all, load_bank_arrays
from .checkpoint import read_meta
from .data import augment_all, load_split, load_split_or_none, mirror_all, mirror_columns, pencil_all, sample_rows
from .recipe import Recipe, record_phase
from .runner import Budget, StageRun, new_meta
from .stage1 import BETAS, load_encoders

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


def faces_var(gmods: dict, latents: dict, canvas: int):
    """part → B×latent latents → B×3×canvas² image Var in [−1, 1], differentiable (what
    `Pipeline.faces_from_latents` computes for inference, as uint8 images)."""
    from ..components import windows
    from ..fusion import decode_features, fuse

    wins = windows(canvas)
    fmaps = {p: decode_features(gmods[f"feature_decoder/{p}"], latents[p], wins[p].size) for p in PARTS}
    return gmods["generator"](fuse(fmaps, canvas))


def photo_var(photos: np.ndarray):
    """N×H×W×3 uint8 photos → N×3×H×W Var in [-1, 1]."""
    from .._jittor import jt

    return jt.array(np.asarray(photos, np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0)


def train_step(gmods, disc, opt_g, opt_d, latents: dict, sketches: np.ndarray, photos: np.ndarray, canvas: int,
               recipe: Recipe = Recipe(), step: int = 0, identity: tuple | None = None) -> dict:
    """One GAN step on a batch with the losses of `recipe`; returns the loss values. The
    locality loss swaps the latent of `recipe.local_swap(step)`'s part. With `recipe.lambda_id`,
    `identity` = (gallery of photo signatures as a Var, each batch face's row in it[, which batch
    faces are mirrored (`with_mirrored`): they are mirrored back before the comparison])."""
    from .._jittor import jt

    from ..embedding import normalise
    from ..components import part_regions
    from .losses import feature_matching, identity_contrast, l1, lsgan, outside_change, ssim_loss

    cond = normalise(sketches)
    real = photo_var(photos)
    swap_part, lambda_local = recipe.local_swap(step)
    b, local = len(photos), lambda_local and len(photos) > 1
    # The locality loss's swapped faces ride in the same pass (same BatchNorm statistics).
    rows = with_swapped_half(latents, swap_part) if local else latents
    faces = faces_var(gmods, {p: jt.array(rows[p]) for p in PARTS}, canvas)
    fake = faces[:b]
    seen_real, seen_fake = with_instance_noise(real, recipe.d_noise), with_instance_noise(fake, recipe.d_noise)
    # Discriminator on real and the detached fake.
    d_real = disc(jt.concat([cond, seen_real], dim=1))
    d_fake = disc(jt.concat([cond, seen_fake.detach()], dim=1))
    loss_d_real, loss_d_fake = lsgan(d_real, True), lsgan(d_fake, False)
    loss_d = 0.5 * (loss_d_real + loss_d_fake)
    opt_d.step(loss_d)
    # Generator against the updated discriminator; real features are constants.
    d_gen = disc(jt.concat([cond, seen_fake], dim=1))
    real_feats = [[f.detach() for f in scale] for scale in d_real]
    loss_gan = lsgan(d_gen, True)
    loss_fm = feature_matching(d_gen, real_feats)
    loss_l1 = l1(fake, real)
    loss_g = loss_gan + recipe.lambda_fm * loss_fm + recipe.lambda_l1 * loss_l1
    losses = {}
    if local:
        swapped = faces[b:]
        loss_local = outside_change(swapped, fake[:swapped.shape[0]], part_regions(canvas)[swap_part])
        loss_g = loss_g + lambda_local * loss_local
        losses["g_local"] = loss_local.item()
    if recipe.lambda_id:
        loss_id = identity_contrast(unmirrored(fake, *identity[2:]), identity[0], identity[1], recipe.id_temperature,
                                    signature_side(recipe.id_signature), neutral=recipe.id_gradient == "neutral",
                                    region=recipe.id_region, kind=recipe.id_signature)
        loss_g = loss_g + recipe.lambda_id * loss_id
        losses["g_id"] = loss_id.item()
    if recipe.lambda_ssim:
        loss_ssim = ssim_loss(fake, real)
        loss_g = loss_g + recipe.lambda_ssim * loss_ssim
        losses["g_ssim"] = loss_ssim.item()
    opt_g.step(loss_g)
    return {"loss_g": loss_g.item(), "g_gan": loss_gan.item(), "g_fm": loss_fm.item(), "g_l1": loss_l1.item(),
            **losses, "loss_d": loss_d.item(), "d_real": loss_d_real.item(), "d_fake": loss_d_fake.item()}


def with_instance_noise(images, sigma: float):
    """`images` + fresh N(0, σ²) noise (σ = 0: `images` themselves), for the discriminator's eyes."""
    from .._jittor import jt

    return images + sigma * jt.randn(images.shape) if sigma else images


def with_swapped_half(latents: dict, part: str) -> dict:
    """The batch's latents (B rows) followed by its first half again with `part`'s latent taken
    from the second half (row B+i: face i with face h+i's `part`), h = B // 2."""
    b = len(latents[part])
    h = b // 2
    return {p: np.concatenate([latents[p], latents[p][h:2 * h] if p == part else latents[p][:h]]) for p in PARTS}


def leave_one_out_projections(bank: dict, k: int) -> dict:
    """part → N×D: each training latent projected as at inference (its k nearest bank rows,
    locally-linear weights) onto the other training latents. The bank holds every training
    face, so a training sketch would find itself; leaving it out gives the projection a new
    sketch gets (the kit's departure `--refine-share`)."""
    from ..manifold import locally_linear_weights, nearest_neighbours

    out = {}
    for p in PARTS:
        v = bank[p]
        idx = nearest_neighbours(v, v, k + 1)[0]
        others = np.stack([row[row != i][:k] for i, row in enumerate(idx)])
        nb = v[others].astype(np.float64)
        out[p] = np.einsum("qk,qkd->qd", locally_linear_weights(v, nb), nb).astype(v.dtype)
    return out


def with_refined(latents: dict, projected: dict, share: float, rng) -> dict:
    """The batch's latents with, for each part independently, a `share` of the rows blended
    toward their projection (`manifold.blend`) at a refine drawn uniformly from [0, 1], the
    slider's range at inference; the other rows as they are."""
    out = {}
    for p in PARTS:
        n = len(latents[p])
        r = rng.uniform(0.0, 1.0, n) * (rng.uniform(0.0, 1.0, n) < share)
        out[p] = (latents[p] + r[:, None] * (projected[p] - latents[p])).astype(latents[p].dtype)
    return out


def with_noise(latents: dict, spread: dict, sigma: float, rng) -> dict:
    """The batch's latents plus Gaussian noise of σ = `sigma` × each latent dimension's spread
    over the bank (`spread`: part → its standard deviation per dimension): the bank's latents
    are fixed, so without it the generator sees the same few thousand inputs every epoch."""
    return {p: (v + sigma * spread[p] * rng.standard_normal(v.shape)).astype(v.dtype) for p, v in latents.items()}


def with_mirrored(latents: dict, sketches: np.ndarray, photos: np.ndarray, encoders: dict, share: float,
                  rng) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """The batch with a `share` of its faces (drawn row by row) mirrored about the faces' axis
    (`data.mirror_all`), sketch and photo alike, and the mirrored sketches' latents under the
    frozen `encoders`: a face the training set does not hold. Returns (latents, sketches,
    photos, which rows are mirrored)."""
    mirrored = rng.uniform(size=len(sketches)) < share
    rows = np.flatnonzero(mirrored)
    if not len(rows):
        return latents, sketches, photos, mirrored
    sketches, photos = sketches.copy(), photos.copy()
    sketches[rows], photos[rows] = mirror_all(sketches[rows]), mirror_all(photos[rows])
    return with_encoded(latents, sketches, rows, encoders), sketches, photos, mirrored


def unmirrored(faces, mirrored=None):
    """B×C×H×W faces Var with the `mirrored` rows (a boolean mask) mirrored back
    (`data.mirror_columns`, as a product with a permutation matrix, so gradients pass)."""
    from .._jittor import jt

    if mirrored is None or not np.any(mirrored):
        return faces
    w = faces.shape[3]
    flip = np.zeros((w, w), np.float32)
    flip[mirror_columns(w), np.arange(w)] = 1.0
    mask = jt.array(np.asarray(mirrored, np.float32).reshape(-1, 1, 1, 1))
    return faces + mask * (jt.matmul(faces, jt.array(flip)) - faces)


def with_pencilled(latents: dict, sketches: np.ndarray, photos: np.ndarray, encoders: dict, share: float,
                   rng) -> tuple[dict, np.ndarray]:
    """The batch's latents and sketches with a `share` of the faces (drawn row by row) drawn afresh
    from their own photo by the pencil filter (`data.pencil_all`) and encoded by the frozen
    `encoders`: the SCUT and CelebAMask faces, whose line sketches sit far from the artist
    sketches in latent space, drawn in a style the encoders place among them."""
    rows = np.flatnonzero(rng.uniform(size=len(sketches)) < share)
    if not len(rows):
        return latents, sketches
    sketches = sketches.copy()
    sketches[rows] = pencil_all(photos[rows])
    return with_encoded(latents, sketches, rows, encoders), sketches


def with_augmented(latents: dict, sketches: np.ndarray, encoders: dict, share: float, rng) -> tuple[dict, np.ndarray]:
    """The batch's latents and sketches with a `share` of the faces (drawn row by row) replaced by
    an augmented copy of the sketch (`data.augment_all`: pen width, small warp, dropped strokes)
    and its latents under the frozen `encoders`: another drawing of the same face, where the bank
    holds one fixed latent per face."""
    rows = np.flatnonzero(rng.uniform(size=len(sketches)) < share)
    if not len(rows):
        return latents, sketches
    sketches = sketches.copy()
    sketches[rows] = augment_all(sketches[rows], rng)
    return with_encoded(latents, sketches, rows, encoders), sketches


def with_encoded(latents: dict, sketches: np.ndarray, rows: np.ndarray, encoders: dict) -> dict:
    """A copy of the batch's `latents` with `rows` replaced by their (new) sketches' latents under
    the frozen `encoders`."""
    fresh = encode_all(encoders, sketches[rows], progress=False)
    out = {p: v.copy() for p, v in latents.items()}
    for p in PARTS:
        out[p][rows] = fresh[p]
    return out


def _grid(gmods, cfg, val_latents, val_sketches, val_photos):
    """Held-out sample grid: sketch | generated (the config's inference BatchNorm modes) | photo."""
    from .._jittor import jt

    from .._nograd import no_grad
    from ..networks import set_batchnorm_mode
    from ..synthesis import to_uint8_image

    for m in gmods.values():
        set_batchnorm_mode(m, cfg.bn_mode.get("feature_decoder", "eval") if m is not gmods["generator"] else "train")
    with no_grad():
        img = to_uint8_image(faces_var(gmods, {p: jt.array(val_latents[p]) for p in PARTS}, cfg.canvas).numpy())
    for m in gmods.values():
        set_batchnorm_mode(m, "train")
    return [np.asarray(val_sketches), img, np.asarray(val_photos)]


def train_stage2(data_root, cfg: Config, out, epochs: int = 100, minutes: float | None = None,
                 until: float | None = None, batch: int = 8, seed: int = 0, ckpt_every: int = 200,
                 sample_every: int = 250, max_steps: int | None = None, pack: dict | None = None,
                 val: dict | None = None, progress: bool = True, extend: bool = False,
                 recipe: Recipe = Recipe(), init=None, balance: float | None = None) -> dict:
    """Train (or resume) stage 2 into `<out>/stage2/`, reading latents from `<out>/bank.npz`.
    Stops after `epochs` epochs, when `minutes` of training (summed over restarts) are spent,
    at the wall-clock time `until` (UNIX seconds), or after `max_steps` steps of this run — always at a
    step boundary with a checkpoint. A finished stage 2 is returned as it is, unless `extend`:
    then it trains on under the new `epochs` / `minutes` / `until`. The `recipe` (losses,
    learning rates, schedule) applies from the current step on; a change starts a new entry in
    `meta["loss_phases"]`. With `recipe.lr_decay_steps`, both learning rates fall linearly to 0
    over that many steps from the phase's start, and the run finishes there. A new run starts
    from the feature decoders, generator and discriminator of the kit parameter folder `init`
    where their shapes match (fine-tuning a shipped model). `balance` < 1 evens out the data
    sources within each epoch (see `checkpoint.epoch_rows`; fixed when the run starts).
    Returns the final meta."""
    from .._jittor import jt

    pack = pack if pack is not None else load_split(data_root, "train")
    init = init or run_init(out)  # a resumed fine-tuning run keeps encoding with its folder
    bank = _bank_for(data_root, cfg, out, pack, init)
    val_sketches, val_photos, val_latents = _validation(out, cfg, pack, val if val is not None else
                                                        load_split_or_none(data_root, "val"), init)
    gmods, disc = build_stage2(cfg)
    opt_g = jt.optim.Adam([p for m in gmods.values() for p in m.parameters()], recipe.lr, betas=BETAS)
    opt_d = jt.optim.Adam(disc.parameters(), recipe.lr_d, betas=BETAS)
    n = len(pack["sketches"])
    meta = new_meta("stage2", cfg, seed, min(batch, n), train_faces=n, init=str(init) if init else None,
                    balance=1.0 if balance is None else float(balance))
    run = StageRun(out, "stage2", {**gmods, "discriminator": disc}, {"adam_g": opt_g, "adam_d": opt_d}, meta, progress)
    meta = run.start(init)
    seed = meta["seed"]  # a resumed run keeps its own: mid-epoch, another order repeats and skips faces
    if meta.get("done"):
        if not extend:
            return meta
        meta["done"] = False
        if minutes:
            meta["seconds_before_extend"] = meta["seconds"]
            minutes = minutes + meta["seconds"] / 60  # `minutes` more on top of what was trained
    decay_end = record_phase(meta, recipe)
    average = WeightAverage.resume(gmods, build_stage2(cfg)[0], recipe.ema_decay, run.checkpoint) if recipe.ema_decay else None
    if average:
        run.modules.update(average.modules())
    gallery = photo_signatures(pack["photos"], recipe.id_region, recipe.id_signature) if recipe.lambda_id else None
    projected = leave_one_out_projections(bank, cfg.k) if recipe.refine_share else None
    spread = {p: bank[p].std(axis=0) for p in PARTS} if recipe.latent_noise else None
    encoders = load_encoders(out, cfg, init) if recipe.augment_share or recipe.mirror_share or recipe.pencil_share else None
    jt.set_global_seed(seed + 7919 + meta["step"])

    def train_rows(rows) -> dict:
        # meta["step"] is already this step's number; the rate falls to 0 at the decay's end.
        scale = 1.0 if decay_end is None else max(0.0, (decay_end - meta["step"] + 1) / recipe.lr_decay_steps)
        opt_g.lr, opt_d.lr = recipe.lr * scale, recipe.lr_d * scale
        latents, sketches, photos = {p: bank[p][rows] for p in PARTS}, pack["sketches"][rows], pack["photos"][rows]
        mirrored = None
        if recipe.mirror_share:
            latents, sketches, photos, mirrored = with_mirrored(latents, sketches, photos, encoders, recipe.mirror_share,
                                                                np.random.default_rng((seed, 8, meta["step"])))
        if recipe.pencil_share:
            latents, sketches = with_pencilled(latents, sketches, photos, encoders, recipe.pencil_share,
                                               np.random.default_rng((seed, 9, meta["step"])))
        if recipe.augment_share:
            latents, sketches = with_augmented(latents, sketches, encoders, recipe.augment_share,
                                               np.random.default_rng((seed, 6, meta["step"])))
        if projected:
            latents = with_refined(latents, {p: projected[p][rows] for p in PARTS}, recipe.refine_share,
                                   np.random.default_rng((seed, 3, meta["step"])))
        if spread:
            latents = with_noise(latents, spread, recipe.latent_noise, np.random.default_rng((seed, 5, meta["step"])))
        losses = train_step(gmods, disc, opt_g, opt_d, latents, sketches, photos, cfg.canvas,
                            recipe, meta["step"], identity=(gallery, rows, mirrored))
        if average:
            average.update()
        return losses

    return run.run(train_rows, Budget(epochs, minutes, until, max_steps, decay_end), n=n,
                   grid=lambda: _grid(gmods, cfg, val_latents, val_sketches, val_photos),
                   curve_keys=curve_keys(recipe), seed_key=(seed, 2),
                   groups=pack["source"], ckpt_every=ckpt_every, sample_every=sample_every,
                   extra_log=lambda: {"lr": opt_g.lr, "lr_d": opt_d.lr}, bar_keys=["g_l1", "loss_d"])


def curve_keys(recipe: Recipe) -> list[str]:
    """The losses `train_step` returns under `recipe`, in the order the curves plot them."""
    optional = [("g_local", recipe.lambda_local), ("g_id", recipe.lambda_id), ("g_ssim", recipe.lambda_ssim)]
    return ["loss_g", "g_gan", "g_fm", "g_l1", *(k for k, w in optional if w), "loss_d", "d_real", "d_fake"]


def photo_signatures(photos: np.ndarray, region: str = "full", kind: str = "grey", chunk: int = 512):
    """N×H×W×3 uint8 photos → the identity loss's gallery: their N×n signatures of identity region
    `region` and kind `kind` as a Var (`losses.signature`; `full`: the evaluation's
    `identity_signature` or `edge_signature`)."""
    from .._jittor import jt
    from .losses import signature

    with jt.no_grad():  # one chunk at a time in memory; the gallery is a constant
        return jt.array(np.concatenate([signature(photo_var(photos[i:i + chunk]), signature_side(kind), region=region,
                                                  kind=kind).numpy() for i in range(0, len(photos), chunk)]))


def signature_side(kind: str) -> int:
    """The thumbnail side of identity signature `kind`, the evaluation's: 32 for grey, 64 for edges."""
    from ..evaluate.metrics import EDGE_SIDE, SIGNATURE_SIDE
    return EDGE_SIDE if kind == "edges" else SIGNATURE_SIDE


def run_init(out) -> str | None:
    """The parameter folder run `out`'s stage 2 started from (`--init`), None if it did not: such
    a run has no stage 1 of its own and encodes with that folder's auto-encoders."""
    return (read_meta(Path(out) / "stage2" / "checkpoint.npz") or {}).get("init")


def _bank_for(data_root, cfg: Config, out, pack: dict, init=None) -> dict:
    """part → N×latent rows of `<out>/bank.npz`, checked to line up with the training pack. A run
    that fine-tunes the kit parameter folder `init` builds its bank with that folder's encoders."""
    path = Path(out) / "bank.npz"
    if not path.exists() and init:
        build_bank(data_root, cfg, out, pack=pack, init=init)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `python -m dsf.train bank` first")
    bank, labels = load_bank_arrays(path)
    if len(bank[PARTS[0]]) != len(pack["sketches"]) or not np.array_equal(labels["id"], np.asarray(pack["ids"]).astype(str)):
        raise ValueError("bank rows do not line up with the training pack; rebuild the bank")
    return bank


def _validation(out, cfg: Config, pack: dict, val: dict | None, init=None) -> tuple:
    """The sample grids' fixed faces: (sketches, photos, latents) of a few `val` rows (training
    rows when there is no val split), encoded by the run's stage-1 encoders."""
    src = val if val is not None else pack
    rows = sample_rows(len(src["sketches"]))
    sketches = src["sketches"][rows]
    return sketches, src["photos"][rows], encode_all(load_encoders(out, cfg, init), sketches, progress=False)


def load_discriminator(out, cfg: Config):
    """The trained discriminator of run `out` (exported with the parameters for fine-tuning)."""
    from .checkpoint import load_checkpoint

    gmods, disc = build_stage2(cfg)
    load_checkpoint(Path(out) / "stage2" / "checkpoint.npz", {"discriminator": disc}, {})
    return disc


def load_stage2(out, cfg: Config, average: bool = False) -> dict:
    """The trained generator-side modules of run `out` (with `average`: their weight average,
    see `average`), BatchNorm as `cfg.bn_mode` says."""
    from ..networks import set_batchnorm_mode
    from .checkpoint import load_checkpoint

    gmods, disc = build_stage2(cfg)
    checkpoint = Path(out) / "stage2" / "checkpoint.npz"
    if average and not has_average(checkpoint, gmods):
        raise ValueError(f"{checkpoint} keeps no weight average (train stage 2 with --ema-decay)")
    load_checkpoint(checkpoint, {PREFIX + k: m for k, m in gmods.items()} if average else gmods, {})
    for k, m in gmods.items():
        m.eval()
        if k.startswith("feature_decoder/"):
            set_batchnorm_mode(m, cfg.bn_mode.get("feature_decoder", "eval"))
    return gmods
