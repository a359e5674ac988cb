"""Private training checkpoints and run-directory bookkeeping.

A checkpoint is one `.npz` (no pickle): every trained module's `state_dict()` (BatchNorm
running statistics included) under `module/<name>/<param>`, every Adam optimizer's moments and
step count under `optim/<name>/...`, and a JSON `meta` (stage, step, epoch, position in the
epoch, seconds trained, numpy RNG state). Files are written to a temporary name and renamed,
so a run killed mid-write keeps its previous checkpoint.

Jittor's `Optimizer.state_dict()` keeps only hyper-parameters, so the Adam moments (`m`,
`values`) and `n_step` are saved here directly.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..data.dataset import read_jsonl


def _module_arrays(prefix: str, module) -> dict:
    out = {}
    for k, v in module.state_dict().items():
        out[f"{prefix}/{k}"] = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
    return out


def epoch_rows(n: int, seed_key: tuple, epoch: int, groups=None, balance: float = 1.0) -> np.ndarray:
    """The `n` rows of one epoch in training order, fixed by (*seed_key, epoch).

    With `groups` (one label per row, e.g. the data source) and `balance` < 1, each group gets
    a share of the epoch ∝ (its size)^balance instead of its size: 0 draws every group equally
    often, 1 is a plain permutation. A group's rows are cycled (or cut) to fill its share, so
    small groups repeat within an epoch rather than being drowned by a large one."""
    rng = np.random.default_rng([*seed_key, epoch])
    if groups is None or balance == 1.0:
        return rng.permutation(n)
    _, group, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    share = counts.astype(float) ** balance
    quota = np.floor(share / share.sum() * n).astype(int)
    quota[np.argmax(quota)] += n - quota.sum()
    rows = [np.resize(rng.permutation(np.flatnonzero(group == g)), q) for g, q in enumerate(quota)]
    return rng.permutation(np.concatenate(rows))


def run_epochs(meta: dict, train_batch, *, n: int, batch: int, epochs: int, seed_key: tuple, save, sample,
               ckpt_every: int, sample_every: int, groups=None, balance: float = 1.0) -> None:
    """The epoch loop both stages share, from `meta`'s (epoch, pos) on.

    Each epoch is one fixed order of the `n` rows (`epoch_rows`, seeded by (*seed_key, epoch)),
    cut into `n // batch` sorted batches, so a resumed run trains on exactly the batches an
    uninterrupted one would. Per batch: `meta` step / pos advance, then `train_batch(indices)` trains, logs,
    and returns True to stop the run after this step. Every `ckpt_every` steps and at each
    epoch end `save()` writes a checkpoint; every `sample_every` steps and at each epoch end
    `sample(name)` draws a sample grid.
    """
    from .._jittor import jt

    per_epoch = n // batch
    stop = False
    while meta["epoch"] < epochs and not stop:
        perm = epoch_rows(n, seed_key, meta["epoch"], groups, balance)
        while meta["pos"] < per_epoch and not stop:
            idx = np.sort(perm[meta["pos"] * batch:(meta["pos"] + 1) * batch])
            meta["step"] += 1
            meta["pos"] += 1
            stop = train_batch(idx)
            if meta["step"] % 20 == 0:
                jt.gc()  # Jittor keeps freed CPU buffers cached; long runs otherwise creep upward
            if meta["step"] % ckpt_every == 0:
                save()
            if meta["step"] % sample_every == 0:
                sample(f"step{meta['step']:06d}.png")
        if meta["pos"] >= per_epoch:
            meta["epoch"] += 1
            meta["pos"] = 0
            save()
            sample(f"epoch{meta['epoch']:03d}.png")


def save_checkpoint(path, modules: dict, optimizers: dict, meta: dict) -> None:
    """Write modules' parameters, optimizers' Adam state and `meta` to `path` (.npz), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, module in modules.items():
        arrays.update(_module_arrays(f"module/{name}", module))
    for name, opt in optimizers.items():
        arrays[f"optim/{name}/n_step"] = np.asarray(getattr(opt, "n_step", 0), np.int64)
        for g, pg in enumerate(opt.param_groups):
            for key in ("m", "values"):
                for i, v in enumerate(pg.get(key, [])):
                    arrays[f"optim/{name}/{g}/{key}/{i}"] = v.numpy()
    arrays["meta"] = np.asarray(json.dumps(meta))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path, modules: dict, optimizers: dict) -> dict:
    """Restore what `save_checkpoint` wrote into `modules` and `optimizers`; returns `meta`."""
    from .._jittor import jt

    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    for name, module in modules.items():
        prefix = f"module/{name}/"
        state = {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
        if not state:
            raise KeyError(f"checkpoint {path} has no module {name!r}")
        module.load_state_dict(state)
    for name, opt in optimizers.items():
        key = f"optim/{name}/n_step"
        if key not in data:
            continue
        opt.n_step = int(data[key])
        for g, pg in enumerate(opt.param_groups):
            for k in ("m", "values"):
                for i, v in enumerate(pg.get(k, [])):
                    a = data.get(f"optim/{name}/{g}/{k}/{i}")
                    if a is not None:
                        v.update(jt.array(a).stop_grad())
    return json.loads(str(data["meta"]))


def init_from_params(folder, modules: dict) -> list[str]:
    """Copy the weights of a kit parameter folder into `modules` wherever the network exists
    there with the same tensor names and shapes — how a new run starts from (or fine-tunes) a
    shipped model; the discriminator comes from the folder's training extras when it carries
    them. Returns the keys of `modules` left as they were (absent there, or shaped otherwise)."""
    from ..params import load_model, load_training_extras

    _, networks, _, _ = load_model(folder)
    source = {key: {n: v.numpy() for n, v in m.state_dict().items()} for key, m in networks.items()}
    source.update(load_training_extras(folder))
    left = []
    for key, module in modules.items():
        own, theirs = module.state_dict(), source.get(key)
        if theirs is None or set(theirs) != set(own) or any(theirs[n].shape != tuple(own[n].shape) for n in own):
            left.append(key)
            continue
        module.load_state_dict({n: a.astype(np.float32) for n, a in theirs.items()})
    return left


def read_meta(path) -> dict | None:
    """The `meta` of a checkpoint, or None when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"]))


def rng_state(rng: np.random.Generator) -> dict:
    """The generator's state as a JSON-able dict (saved in checkpoints)."""
    return rng.bit_generator.state


def rng_from_state(state: dict) -> np.random.Generator:
    """A generator that continues from a state `rng_state` saved."""
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


class LossLog:
    """Append-only JSON-lines loss log (one record per step), and a `curves.png` of it."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        record = {"time": round(time.time(), 2), **record}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        """Every record so far (a line cut by a kill is skipped)."""
        return read_jsonl(self.path) if self.path.exists() else []

    def truncate_after(self, step: int) -> None:
        """Drop records past `step` (written after the checkpoint a resumed run restarts from)."""
        records = [r for r in self.read() if r.get("step", 0) <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.path)

    def plot(self, out_png, keys: list[str] | None = None, smooth: int = 50) -> None:
        """Plot the logged losses (moving average over `smooth` steps) to `out_png`
        (`dsf.viz.loss_log_figure`); nothing is written before two records."""
        from ..viz import loss_log_figure, save_figure

        records = self.read()
        keys = keys or sorted({k for r in records for k, v in r.items()
                               if isinstance(v, (int, float)) and k not in ("time", "step", "epoch", "lr")})
        if len(records) >= 2 and keys:
            save_figure(loss_log_figure(records, keys, smooth), out_png, close=True)


def save_grid(path, columns: list[np.ndarray]) -> None:
    """Save a grid: each entry of `columns` is a B×H×W×3 (or B×H×W) uint8 array; row i shows
    sample i of every column side by side (`dsf.viz.tile_images`)."""
    from ..png import save_png
    from ..viz import tile_images

    save_png(tile_images(columns), path)
