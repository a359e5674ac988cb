"""Training DeepFaceDrawing from a prepared data folder, in two stages (paper §4).

    python -m dsf.train stage1 --data data/prepared_128 --preset compact128 --out runs/compact128
    python -m dsf.train bank   --data data/prepared_128 --preset compact128 --out runs/compact128
    python -m dsf.train stage2 --data data/prepared_128 --preset compact128 --out runs/compact128
    python -m dsf.train export --out runs/compact128 --params params/compact128
    python -m dsf.train all    --data data/prepared_128 --preset compact128 --out runs/compact128 \
        --stage1-minutes 20 --stage2-until 16:55 --params params/compact128

- `stage1` (`stage1.train_stage1`): the five component auto-encoders on augmented sketch crops.
- `bank` (`bank.build_bank`): the trained encoders encode every *training* face (split
  `train` only; `test` is held out, `val` feeds the sample grids); latents + labels
  (sex, source, id), row-aligned, in `<out>/bank.npz`.
- `stage2` (`stage2.train_stage2`): encoders frozen; feature decoders + generator against the
  photos with a pix2pixHD multi-scale discriminator: LSGAN + feature matching + L1. There is
  no VGG perceptual loss: no pretrained perceptual network is available offline.
  `recipe.Recipe` holds the losses' weights, the learning rates and the schedule (the kit's
  departures — locality, identity and structure losses, instance noise, a weight average
  (`average`) — are off by default).
- `export`: the trained networks (a run's weight average when it keeps one) and banks →
  `dsf.params.save_model` (fp16) with a model card.

Every stage is seeded and resumable (`<out>/<stage>/checkpoint.npz`, rewritten every N steps
and at each epoch end; restarting continues from the saved step), logs its losses per step
(`losses.jsonl`, plotted to `curves.png`) and writes sample grids of held-out `val` sketches
(`samples/*.png`). `--minutes` / `--until` stop a stage cleanly at a step boundary, and the
stage then counts as finished: `stage2 --extend` trains it on (`--max-steps` does not finish it).
"""
from .checkpoint import LossLog, load_checkpoint, save_checkpoint  # noqa: F401

__all__ = ["LossLog", "load_checkpoint", "save_checkpoint"]
