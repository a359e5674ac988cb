"""The bookkeeping both training stages share, so each stage reads as its recipe.

A stage hands `StageRun` its modules, optimizers and a fresh `meta`, then calls `run` with
its `train_step(rows) -> {loss name: value}` and a `grid() -> columns` of held-out samples.
`StageRun` resumes from `<out>/<stage>/checkpoint.npz` (or starts from a kit parameter folder),
walks the epochs (`checkpoint.run_epochs`), logs every step to `losses.jsonl`, shows a
progress bar, draws `curves.png` and sample grids, checkpoints every N steps, and stops at
the `Budget` — always at a step boundary, with a checkpoint.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from .checkpoint import (LossLog, init_from_params, load_checkpoint, rng_from_state, rng_state, run_epochs,
                         save_checkpoint, save_grid)


@dataclass
class Budget:
    """When a run stops. `minutes` counts training time summed over restarts; `until` is a
    wall-clock UNIX time; `max_steps` counts the steps of this run; `last_step` is where the
    stage's schedule ends (stage 2's learning-rate decay)."""

    epochs: int
    minutes: float | None = None
    until: float | None = None
    max_steps: int | None = None
    last_step: int | None = None


def new_meta(stage: str, cfg: Config, seed: int, batch: int, **fixed) -> dict:
    """A fresh run's `meta`; `fixed` holds the stage's choices that hold for the whole run."""
    return {"stage": stage, "step": 0, "epoch": 0, "pos": 0, "seconds": 0.0, "done": False, "seed": seed,
            "batch": batch, "config": json.loads(cfg.to_json()), "rng": None, **fixed}


class StageRun:
    """One stage's run folder: checkpoint, loss log, sample grids, progress."""

    def __init__(self, out, stage: str, modules: dict, optimizers: dict, meta: dict, progress: bool = True):
        self.stage, self.modules, self.optimizers, self.meta, self.progress = stage, modules, optimizers, meta, progress
        self.folder = Path(out) / stage
        self.folder.mkdir(parents=True, exist_ok=True)
        self.checkpoint = self.folder / "checkpoint.npz"
        self.log = LossLog(self.folder / "losses.jsonl")
        self.rng = None

    def say(self, text: str) -> None:
        if self.progress:
            print(f"[{self.stage}] {text}", flush=True)

    def start(self, init=None) -> dict:
        """Resume from the checkpoint, or start a new run (from the kit parameter folder `init`
        where its networks fit); returns `meta` (the resumed one when there is a checkpoint)."""
        if self.checkpoint.exists():
            self.meta = load_checkpoint(self.checkpoint, self.modules, self.optimizers)
            self.log.truncate_after(self.meta["step"])
            self.say(f"resumed at step {self.meta['step']} (epoch {self.meta['epoch']}, pos {self.meta['pos']})")
        elif init:
            left = init_from_params(init, self.modules)
            self.say(f"initialised from {init}" + (f"; not there or shaped otherwise: {', '.join(left)}" if left else ""))
        state = self.meta.get("rng")
        self.rng = rng_from_state(state) if state else np.random.default_rng(self.meta["seed"])
        return self.meta

    def save(self, done: bool = False) -> None:
        self.meta.update(rng=rng_state(self.rng), done=done)
        save_checkpoint(self.checkpoint, self.modules, self.optimizers, self.meta)

    def sample(self, name: str, grid, curve_keys: list[str]) -> None:
        save_grid(self.folder / "samples" / name, grid())
        self.log.plot(self.folder / "curves.png", keys=curve_keys)

    def run(self, train_step, budget: Budget, *, n: int, grid, curve_keys: list[str], seed_key: tuple,
            groups=None, ckpt_every: int = 200, sample_every: int = 500, extra_log=None,
            bar_keys: list[str] | None = None) -> dict:
        """Train until the budget is spent (see the module docstring); returns the final meta.
        `extra_log()` adds fields (e.g. the learning rate) to each step's log record; the
        progress bar shows `bar_keys` (default: the first two curves)."""
        from tqdm import tqdm

        meta, batch = self.meta, self.meta["batch"]
        deadline = _deadline(budget, meta["seconds"])
        per_epoch = n // batch
        total = min(budget.epochs * per_epoch, budget.last_step or budget.epochs * per_epoch)
        bar = tqdm(total=total, initial=meta["step"], desc=self.stage, disable=not self.progress, mininterval=5,
                   dynamic_ncols=True)
        start, clock = time.time() - meta["seconds"], {"steps": 0, "step_s": 0.0}

        def schedule_ended() -> bool:
            return budget.last_step is not None and meta["step"] >= budget.last_step

        def out_of_time() -> bool:
            return bool(deadline and time.time() + clock["step_s"] >= deadline)

        def train_batch(rows) -> bool:
            t0 = time.time()
            values = train_step(rows)
            meta["seconds"] = time.time() - start
            clock["steps"] += 1
            clock["step_s"] = (time.time() - t0) if clock["steps"] == 1 else 0.95 * clock["step_s"] + 0.05 * (time.time() - t0)
            if not all(np.isfinite(v) for v in values.values()):
                save_grid(self.folder / "samples" / f"nan_step{meta['step']:06d}.png", grid())
                raise FloatingPointError(f"{self.stage} losses not finite at step {meta['step']}: {values}")
            self.log.write({"step": meta["step"], "epoch": meta["epoch"], **(extra_log() if extra_log else {}),
                            **{k: round(float(v), 6) for k, v in values.items()}})
            bar.update(1)
            bar.set_postfix(ep=meta["epoch"], **{k: f"{values[k]:.4f}" for k in bar_keys or curve_keys[:2]})
            return out_of_time() or schedule_ended() or bool(budget.max_steps and clock["steps"] >= budget.max_steps)

        if not (out_of_time() or schedule_ended()):
            run_epochs(meta, train_batch, n=n, batch=batch, epochs=budget.epochs, seed_key=seed_key,
                       save=self.save, sample=lambda name: self.sample(name, grid, curve_keys),
                       ckpt_every=ckpt_every, sample_every=sample_every, groups=groups,
                       balance=meta.get("balance", 1.0))
        bar.close()
        finished = meta["epoch"] >= budget.epochs or schedule_ended() or out_of_time()
        self.save(done=finished)
        self.sample("final.png" if finished else f"step{meta['step']:06d}.png", grid, curve_keys)
        return meta


def _deadline(budget: Budget, seconds_trained: float) -> float | None:
    """The wall-clock time at which the budget's `minutes` or `until` runs out (None: neither)."""
    times = [t for t in (budget.until, time.time() + budget.minutes * 60 - seconds_trained if budget.minutes else None)
             if t is not None]
    return min(times) if times else None
