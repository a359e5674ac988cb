"""Command line: python -m dsf.train {stage1,bank,stage2,export,all} ... (see dsf/train/__init__.py)."""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

# One OpenMP thread unless the user says otherwise: on a shared 2-core machine Jittor's oneDNN
# kernels with 2 spinning OpenMP threads used ~6× more CPU per stage-1 step (8–12 s vs 1.4 s
# CPU for 16 faces) for the same work. Must be set before Jittor loads oneDNN.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dsf  # noqa: F401,E402  (Jittor environment defaults first)
from dsf import PARTS  # noqa: E402
from dsf.config import Config, preset


def _config(args) -> Config:
    """--config, else --preset, else the run's config.json, else that of the --init folder, else compact128."""
    if getattr(args, "config", None):
        return Config.from_dict(json.loads(Path(args.config).read_text()))
    if getattr(args, "preset", None):
        return preset(args.preset)
    for folder in (args.out, getattr(args, "init", None)):
        if folder and (Path(folder) / "config.json").exists():
            return Config.from_dict(json.loads((Path(folder) / "config.json").read_text()))
    return preset("compact128")


def _until(text: str | None) -> float | None:
    """'HH:MM' (UTC) or a UNIX time → UNIX seconds. HH:MM is today's, or tomorrow's when it
    passed more than 12 h ago (so 01:00 given at 23:00 means in 2 h; 22:00 at 23:00 stops now)."""
    if not text:
        return None
    if ":" not in text:
        return float(text)
    h, m = (int(x) for x in text.split(":"))
    now = _dt.datetime.now(_dt.timezone.utc)
    t = now.replace(hour=h, minute=m, second=0, microsecond=0)
    if t < now - _dt.timedelta(hours=12):
        t += _dt.timedelta(days=1)
    return t.timestamp()


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())} UTC] {msg}", flush=True)


def _save_run_config(out: Path, cfg: Config) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.json"
    if path.exists():
        old = Config.from_dict(json.loads(path.read_text()))
        if old != cfg:
            sys.exit(f"{path} holds config {old.name!r}, different from the requested one; use another --out")
    else:
        path.write_text(cfg.to_json() + "\n")


def cmd_stage1(args, cfg):
    from .stage1 import train_stage1

    meta = train_stage1(args.data, cfg, args.out, epochs=args.epochs, minutes=args.minutes, batch=args.batch,
                        seed=args.seed, ckpt_every=args.ckpt_every, init=args.init, balance=args.balance,
                        ink_weight=args.ink_weight,
                        max_steps=getattr(args, "max_steps", None))
    _log(f"stage1: step {meta['step']}, epoch {meta['epoch']}, {meta['seconds'] / 60:.1f} min, done={meta['done']}")
    return meta


def cmd_bank(args, cfg):
    from .bank import build_bank

    path = build_bank(args.data, cfg, args.out, init=args.init)
    _log(f"bank written: {path}")
    return path


def cmd_stage2(args, cfg):
    from .checkpoint import read_meta
    from .recipe import Recipe, resumed_recipe
    from .stage2 import train_stage2

    given = {name: getattr(args, name) for name in Recipe.__dataclass_fields__}
    saved = read_meta(Path(args.out) / "stage2" / "checkpoint.npz")
    if saved and saved.get("done") and not getattr(args, "extend", False):
        # A run stopped by its clock is finished too; resuming it without --extend trains nothing.
        _log(f"stage2: {args.out} finished at step {saved['step']}; nothing to train. Add --extend "
             "(with a new --until / --minutes / --epochs / --max-steps) to train on")
        return saved
    recipe = resumed_recipe(given, saved)
    _log(f"stage2 recipe: {phase_text(recipe.as_phase())}")
    meta = train_stage2(args.data, cfg, args.out, epochs=args.epochs, minutes=args.minutes,
                        until=_until(args.until), batch=args.batch, seed=args.seed, ckpt_every=args.ckpt_every,
                        extend=getattr(args, "extend", False), recipe=recipe,
                        max_steps=getattr(args, "max_steps", None), init=args.init, balance=args.balance)
    _log(f"stage2: step {meta['step']}, epoch {meta['epoch']} (+{meta['pos']} batches), "
         f"{meta['seconds'] / 60:.1f} min, done={meta['done']}")
    return meta


def model_card(out: Path, cfg: Config, average: bool = False) -> str:
    from .checkpoint import read_meta

    m1 = read_meta(out / "stage1" / "checkpoint.npz") or {}
    m2 = read_meta(out / "stage2" / "checkpoint.npz") or {}
    n = m2.get("train_faces", "?")
    per_epoch = n // m2.get("batch", 1) if isinstance(n, int) else None
    ep2 = m2.get("epoch", 0) + (m2.get("pos", 0) / per_epoch if per_epoch else 0)
    phases = "; ".join(f"from step {ph['from_step']}: {phase_text(ph)}" for ph in m2.get("loss_phases", [])) or "?"
    return f"""# {cfg.name}: DeepFaceDrawing trained by the kit on a CPU (model card stub — to be edited)

- Architecture: `dsf.config.preset({cfg.name!r})` (canvas {cfg.canvas}, width {cfg.width}, latent {cfg.latent}).
- Training data: the prepared `train` split ({n} faces); banks hold those same faces' latents
  with labels sex / source / id. The FS2K held-out `test` split was never used.
- Stage 1 (component auto-encoders, L1, augmented sketches): {m1.get('step', '?')} steps of batch
  {m1.get('batch', '?')}, {m1.get('epoch', '?')} epochs, {m1.get('seconds', 0) / 60:.0f} min.
- Stage 2 (feature decoders + generator, pix2pixHD 2-scale discriminator, LSGAN + λ_FM·feature
  matching + λ_L1·L1; {phases}): {m2.get('step', '?')} steps of batch {m2.get('batch', '?')}, {ep2:.2f} epochs,
  {m2.get('seconds', 0) / 60:.0f} min. No VGG perceptual loss: no pretrained perceptual network was
  available offline, so pixel L1 stands in for it.
- Feature decoders and generator: {"the moving average of their weights (EMA)" if average else "the weights of the last step"}.
- Weights and bank vectors stored as float16.
- Reproduce: `python -m dsf.train all --data data/prepared_{cfg.canvas} --preset {cfg.name} --out runs/{cfg.name}`.
"""


def cmd_export(args, cfg):
    from dsf.networks import build_networks
    from dsf.params import save_model

    from .bank import load_banks
    from .stage1 import load_encoders
    from .stage2 import load_discriminator, load_stage2, run_init

    out = Path(args.out)
    nets = build_networks(cfg)
    average = exports_average(out, cfg, getattr(args, "live_weights", False))
    trained = {**load_encoders(out, cfg, run_init(out)), **load_stage2(out, cfg, average)}
    for k, m in trained.items():
        nets[k].load_state_dict({n: v.numpy() for n, v in m.state_dict().items()})
    banks = load_banks(out / "bank.npz")
    folder = save_model(args.params, cfg, nets, banks, model_card=model_card(out, cfg, average), dtype="float16", overwrite=True,
                        training={"discriminator": load_discriminator(out, cfg)})
    size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    _log(f"exported to {folder} ({size / 1e6:.1f} MB)")
    return folder


def exports_average(out: Path, cfg: Config, live_weights: bool) -> bool:
    """Whether `export` takes run `out`'s weight average (it keeps one and `--live-weights` is not given)."""
    from .average import has_average
    from .stage2 import build_stage2

    return not live_weights and has_average(out / "stage2" / "checkpoint.npz", build_stage2(cfg)[0])


def cmd_all(args, cfg):
    from .checkpoint import read_meta

    out = Path(args.out)
    m1 = read_meta(out / "stage1" / "checkpoint.npz")
    if m1 and m1.get("done"):
        _log("stage1 already complete, skipping")
    else:
        _log("stage1 ...")
        a = argparse.Namespace(**vars(args))
        a.epochs, a.minutes, a.batch = args.stage1_epochs, args.stage1_minutes, args.stage1_batch
        m1 = cmd_stage1(a, cfg)
        if not m1.get("done"):
            sys.exit("stage1 stopped before completion")
    bank = out / "bank.npz"
    s1 = out / "stage1" / "checkpoint.npz"
    if bank.exists() and bank.stat().st_mtime >= s1.stat().st_mtime:
        _log("bank already built, skipping")
    else:
        _log("bank ...")
        cmd_bank(args, cfg)
    m2 = read_meta(out / "stage2" / "checkpoint.npz")
    if m2 and m2.get("done") and not args.stage2_extend:
        _log("stage2 already complete, skipping")
    else:
        _log("stage2 ...")
        a = argparse.Namespace(**vars(args))
        a.epochs, a.minutes, a.until, a.batch = args.stage2_epochs, args.stage2_minutes, args.stage2_until, args.stage2_batch
        a.extend = args.stage2_extend
        try:
            cmd_stage2(a, cfg)
        except Exception:  # keep the last checkpoint and still export it
            import traceback

            traceback.print_exc()
            _log("stage2 failed; exporting its last checkpoint")
    if args.params:
        _log("export ...")
        cmd_export(args, cfg)


def _common(sp, data=True):
    if data:
        sp.add_argument("--data", required=True, help="prepared data folder (pack_train.npz, pack_val.npz)")
    sp.add_argument("--preset", help="config preset (default: the run's config.json, else the --init folder's, "
                                     "else compact128)")
    sp.add_argument("--config", help="config JSON file (instead of --preset)")
    sp.add_argument("--out", required=True, help="run folder, e.g. runs/compact128")
    sp.add_argument("--seed", type=int, default=0,
                    help="a new run's seed (epoch order, augmentation draws); a resumed run keeps its own")
    sp.add_argument("--ckpt-every", type=int, default=200, help="checkpoint every N steps (and every epoch end)")


def _start(sp):
    sp.add_argument("--init", help="start a new run from this kit parameter folder (e.g. params/compact128): "
                                   "the networks whose shapes match, the discriminator too when it ships")
    sp.add_argument("--balance", type=float,
                    help="per-epoch share of each data source ∝ size^BALANCE (0: equal, 1: natural; "
                         "fixed when a run starts; default 1)")


def _ink_weight(sp):
    sp.add_argument("--ink-weight", type=float, default=0.0,
                    help="stage 1: weight stroke pixels 1+W in the reconstruction L1 (0: plain L1; "
                         "fixed when a run starts)")


def _checked_number(check, expected: str):
    """An argparse type: the number `check` accepts (it raises ValueError otherwise), else a
    clear error that says `expected`."""
    def parse(text: str) -> float:
        try:
            return check(float(text))
        except ValueError:  # also text that is not a number
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}") from None
    return parse


def _parts(text: str) -> tuple:
    from .recipe import check_parts

    try:
        return check_parts(tuple(p.strip() for p in text.split(",") if p.strip()))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _weights(text: str) -> dict:
    from .recipe import check_weights

    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"each item must be PART=W; got {text!r}")
        return check_weights({p.strip(): float(w) for p, w in pairs})
    except ValueError as e:  # also a weight that is not a number
        raise argparse.ArgumentTypeError(f"{e} (expected e.g. eye1=0.3,eye2=0.3)") from None


def phase_text(ph: dict) -> str:
    """'λ_FM 5, λ_L1 400, λ_local 100 (eye1, …), lr 5e-05 (D 1.25e-05)': a loss phase (or a
    recipe's `as_phase()`) as the logs and model cards write it."""
    return (f"λ_FM {ph['lambda_fm']:g}, λ_L1 {ph['lambda_l1']:g}, "
            + (f"λ_local {ph['lambda_local']:g} ({_local_parts_text(ph)}), " if ph.get("lambda_local") else "")
            + (f"λ_id {ph['lambda_id']:g}{_id_notes(ph)}, " if ph.get("lambda_id") else "")
            + (f"λ_SSIM {ph['lambda_ssim']:g}, " if ph.get("lambda_ssim") else "")
            + f"lr {ph.get('lr', 2e-4):g}" + (f" (D {ph['lr_d']:g})" if ph.get("lr_d", ph.get("lr")) != ph.get("lr") else "")
            + (f" decaying to 0 over {ph['lr_decay_steps']} steps" if ph.get("lr_decay_steps") else "")
            + (f", instance noise σ {ph['d_noise']:g}" if ph.get("d_noise") else "")
            + (f", {ph['refine_share']:.0%} of latents refined" if ph.get("refine_share") else "")
            + (f", latent noise {ph['latent_noise']:g}× spread" if ph.get("latent_noise") else "")
            + (f", {ph['augment_share']:.0%} of sketches augmented" if ph.get("augment_share") else "")
            + (f", {ph['mirror_share']:.0%} of faces mirrored" if ph.get("mirror_share") else "")
            + (f", {ph['pencil_share']:.0%} of sketches pencil-drawn from the photo" if ph.get("pencil_share") else "")
            + (f", weights averaged (EMA decay {ph['ema_decay']:g})" if ph.get("ema_decay") else ""))


def _id_notes(phase: dict) -> str:
    """' (gradient neutral in colour, temperature 0.05, face region, edge signature)': what a loss phase's
    identity loss does differently from the defaults, else ''."""
    from .recipe import ID_TEMPERATURE
    temperature = phase.get("id_temperature", ID_TEMPERATURE)
    notes = ["gradient neutral in colour"] * (phase.get("id_gradient") == "neutral") \
        + [f"temperature {temperature:g}"] * (temperature != ID_TEMPERATURE) \
        + [f"{phase['id_region']} region"] * (phase.get("id_region", "full") != "full") \
        + ["edge signature"] * (phase.get("id_signature") == "edges")
    return f" ({', '.join(notes)})" if notes else ""


def _local_parts_text(phase: dict) -> str:
    """'eye1 ×0.3, nose, …' for a loss phase: the swapped parts with their λ_local multipliers."""
    weights = phase.get("local_weights", {})
    return ", ".join(p + (f" ×{weights[p]:g}" if p in weights else "") for p in phase.get("local_parts", PARTS))


def _loss_weights(sp):
    """Stage 2's recipe options. Each left out keeps the resumed run's current value (its last
    loss phase), or takes the default shown on a new run (see `recipe.resumed_recipe`)."""
    from .recipe import (ID_GRADIENTS, ID_REGIONS, ID_SIGNATURES, ID_TEMPERATURE, LAMBDA_FM, LAMBDA_ID, LAMBDA_L1, LAMBDA_LOCAL,
                         LAMBDA_SSIM, LR, check_ema_decay, check_id_temperature, check_latent_noise, check_share)

    def add(flag, text, new, **kw):  # `new`: the value a new run takes when the option is left out
        sp.add_argument(flag, default=None, help=f"{text} (left out: the resumed run's value, else {new})", **kw)

    add("--lambda-fm", "stage 2 feature-matching weight", type=float, new=f"{LAMBDA_FM:g}")
    add("--lambda-l1", "stage 2 pixel-L1 weight", type=float, new=f"{LAMBDA_L1:g}")
    add("--lambda-local", "stage 2 locality loss weight (the kit's departure; 0: the paper's losses)",
        type=float, new=f"{LAMBDA_LOCAL:g}")
    add("--local-parts", "comma-separated parts the locality loss swaps in turn", type=_parts, new="all five")
    add("--local-weights", "per-part multipliers of λ_local, e.g. eye1=0.3,eye2=0.3 (parts not named: 1)",
        type=_weights, new="none")
    add("--lambda-id", "stage 2 identity loss weight: each face nearer its own photo than other training "
        "photos (the kit's departure; 0: the paper's losses)", type=float, new=f"{LAMBDA_ID:g}")
    add("--id-gradient", "how the identity loss's gradient reaches R, G and B: bt601, its BT.601 grey's own "
        "(green pushed hardest, which cast colour at λ_id 100), or neutral, the channel mean's (the same loss "
        "value; it moves lightness, not colour)", choices=ID_GRADIENTS, new=ID_GRADIENTS[0])
    add("--id-temperature", "the identity loss's softmax temperature over the training photos (lower: the "
        "photos most like each face weigh harder)", type=_checked_number(check_id_temperature, "a number > 0, "
        "e.g. 0.05"), new=f"{ID_TEMPERATURE:g}")
    add("--id-region", "where the identity loss compares faces with photos: full, the whole canvas (as the "
        "evaluation's identity rank), or face, its centre from about brows to chin, leaving out the hair, "
        "background and shoulders a sketch says little about", choices=ID_REGIONS, new=ID_REGIONS[0])
    add("--id-signature", "what the identity loss compares: grey, the evaluation's 32×32 grey thumbnails "
        "(shading), or edges, its edge signature (their gradient magnitude at 64×64: contours, what a sketch "
        "draws)", choices=ID_SIGNATURES, new=ID_SIGNATURES[0])
    add("--lambda-ssim", "stage 2 structure loss weight: 1 − SSIM(face, photo), the evaluation's SSIM "
        "(the kit's departure; 0: the paper's losses)", type=float, new=f"{LAMBDA_SSIM:g}")
    add("--lr", "stage 2 learning rate (both Adams, unless --lr-d sets the discriminator's)", type=float, new=f"{LR:g}")
    add("--lr-d", "the discriminator's own learning rate", type=float, new="--lr")
    add("--d-noise", "σ of the instance noise added to every image the discriminator sees (images in "
        "[-1, 1]; 0: none, as in pix2pixHD)", type=float, new="0")
    add("--refine-share", "share of each part's training latents blended toward their leave-one-out "
        "projection at a random refine in [0, 1], so the networks learn the latents that refine gives at "
        "inference (the kit's departure; 0: the paper's training)",
        type=_checked_number(check_share, "a share in [0, 1]"), new="0")
    add("--latent-noise", "σ of the Gaussian noise added to each training latent, as a share of each latent "
        "dimension's spread over the bank, so the generator cannot memorise the fixed bank latents (the kit's "
        "departure; 0: the paper's training)", type=_checked_number(check_latent_noise, "a number ≥ 0, e.g. 0.2"), new="0")
    add("--augment-share", "share of each batch's faces whose latents the frozen encoders compute afresh from an "
        "augmented copy of the sketch (stage 1's pen width, small warp and dropped strokes; the discriminator "
        "sees that copy), so the generator learns many drawings of each face, not one fixed latent (the kit's "
        "departure; 0: the paper's training)", type=_checked_number(check_share, "a share in [0, 1]"), new="0")
    add("--mirror-share", "share of each batch's faces mirrored about the faces' vertical axis, sketch and "
        "photo alike, the sketch encoded afresh by the frozen encoders (pix2pixHD flips its pairs by default; "
        "the kit's departure from the paper's training; 0: none)", type=_checked_number(check_share, "a share in [0, 1]"),
        new="0")
    add("--pencil-share", "share of each batch's faces drawn afresh from their own photo by a pencil filter "
        "(dsf.data.sketch_extraction.pencil_sketch) and encoded by the frozen encoders, which place such "
        "drawings among FS2K's artist sketches (the kit's departure; 0: none)",
        type=_checked_number(check_share, "a share in [0, 1]"), new="0")
    add("--ema-decay", "keep a moving average of the feature decoders' and generator's weights, this much "
        "of it kept per step (e.g. 0.999: about the last 1,000 steps); export exports it (the kit's "
        "departure; 0: none)", type=_checked_number(check_ema_decay, "a decay in [0, 1), e.g. 0.999"), new="0")
    add("--lr-decay-steps", "decay the stage 2 learning rate linearly to 0 over N steps from the phase's "
        "start, then stop; a finished run trained on (--extend) starts without it", type=int, new="0")


STAGE_DEFAULTS = {"stage1": (3, 16), "stage2": (100, 8)}
"""Each stage's default (epochs, batch)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text}")
    return value


def _stage_parser(sub, name: str) -> None:
    sp = sub.add_parser(name)
    _common(sp)
    epochs, batch = STAGE_DEFAULTS[name]
    sp.add_argument("--epochs", type=_positive_int, default=epochs, help=f"epochs (default {epochs})")
    sp.add_argument("--minutes", type=float, help="training-time budget (summed over restarts)")
    sp.add_argument("--batch", type=_positive_int, default=batch, help=f"faces per step (default {batch})")
    sp.add_argument("--max-steps", type=int, help="stop after N steps of this run (with a checkpoint)")
    _start(sp)
    if name == "stage1":
        _ink_weight(sp)
    else:
        sp.add_argument("--until", help="stop at this UTC wall-clock time, HH:MM (tomorrow's when it passed "
                                    "over 12 h ago), or a UNIX time")
        sp.add_argument("--extend", action="store_true",
                        help="train on past a finished stage 2 (with a new --until / --minutes / --epochs)")
        _loss_weights(sp)


def _all_parser(sub) -> None:
    sp = sub.add_parser("all")
    _common(sp)
    for stage, (epochs, batch) in STAGE_DEFAULTS.items():
        sp.add_argument(f"--{stage}-epochs", type=_positive_int, default=epochs)
        sp.add_argument(f"--{stage}-minutes", type=float)
        sp.add_argument(f"--{stage}-batch", type=_positive_int, default=batch)
    sp.add_argument("--stage2-until", help="UTC HH:MM")
    sp.add_argument("--stage2-extend", action="store_true", help="train on past a finished stage 2 (see stage2 --extend)")
    _start(sp)
    _ink_weight(sp)
    _loss_weights(sp)
    sp.add_argument("--params", help="export here at the end (fp16)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dsf.train", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("stage1", "stage2"):
        _stage_parser(sub, name)
    sp = sub.add_parser("bank")
    _common(sp)
    sp.add_argument("--init", help="encode with this kit parameter folder's encoders when the run has no stage 1")
    sp = sub.add_parser("export")
    _common(sp, data=False)
    sp.add_argument("--params", required=True, help="output parameter folder, e.g. params/compact128")
    sp.add_argument("--live-weights", action="store_true",
                    help="export the last step's weights even when the run keeps a weight average (--ema-decay)")
    _all_parser(sub)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    cfg = _config(args)
    _save_run_config(Path(args.out), cfg)
    _log(f"{args.cmd}: config {cfg.name}, out {args.out}, pid {os.getpid()}")
    {"stage1": cmd_stage1, "bank": cmd_bank, "stage2": cmd_stage2, "export": cmd_export, "all": cmd_all}[args.cmd](args, cfg)


if __name__ == "__main__":
    main()
