"""Latent banks: every *training* face's component latents, for manifold projection.

The trained stage-1 encoders (BatchNorm in eval mode) encode the un-augmented sketches of the
`train` split only (never `val`, never the held-out `test`). Row i of every part's bank is
training face i of the pack, and carries its labels: `sex` ("male"/"female"/"" when unknown),
`source` and `id`. Saved as one npz (`<out>/bank.npz`): `vectors/<part>` (N×latent float32)
and `label/<name>` (N strings).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import PARTS
from ..config import Config


def encode_all(encoders: dict, sketches: np.ndarray, batch: int = 64, progress: bool = True) -> dict:
    """part → N×latent float32 latents of `sketches` (N×H×W uint8) under `encoders`
    ("encoder/<part>" → module, BatchNorm in eval mode)."""
    from .._jittor import jt
    from tqdm import tqdm

    from .._nograd import no_grad
    from ..components import crops_by_part
    from ..embedding import normalise

    out = {p: [] for p in PARTS}
    for i in tqdm(range(0, len(sketches), batch), desc="bank", disable=not progress, mininterval=5):
        crops = crops_by_part(sketches[i:i + batch])
        with no_grad():
            for p in PARTS:
                out[p].append(encoders[f"encoder/{p}"](normalise(crops[p])).numpy())
        jt.gc()
    return {p: np.concatenate(v).astype(np.float32) for p, v in out.items()}


def build_bank(data_root, cfg: Config, out, pack: dict | None = None, progress: bool = True, init=None) -> Path:
    """Encode the train split with the stage-1 encoders of run `out` (or, when the run has no
    stage 1 of its own, of the kit parameter folder `init`); write `<out>/bank.npz`."""
    from .data import load_split
    from .stage1 import load_encoders

    pack = pack if pack is not None else load_split(data_root, "train")
    mods = load_encoders(out, cfg, init)
    latents = encode_all(mods, pack["sketches"], progress=progress)
    labels = {"sex": pack["sex"], "source": pack["source"], "id": pack["ids"]}
    return save_bank(Path(out) / "bank.npz", latents, labels)


def save_bank(path, latents: dict, labels: dict) -> Path:
    """Write the bank (part latents and per-face labels, same rows) as a compressed npz."""
    n = len(next(iter(latents.values())))
    arrays = {f"vectors/{p}": np.asarray(v, np.float32) for p, v in latents.items()}
    for name, values in labels.items():
        values = np.asarray(values).astype(str)
        if len(values) != n:
            raise ValueError(f"label {name!r} has {len(values)} rows, the bank {n}")
        arrays[f"label/{name}"] = values
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def load_bank_arrays(path) -> tuple[dict, dict]:
    """(part → N×latent float32, label name → N strings) from a bank npz."""
    with np.load(path, allow_pickle=False) as z:
        latents = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("vectors/")}
        labels = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("label/")}
    return latents, labels


def load_banks(path) -> dict:
    """part → `dsf.manifold.Bank` (rows aligned with the labels) from a bank npz."""
    from ..manifold import Bank

    latents, labels = load_bank_arrays(path)
    return {p: Bank(latents[p], dict(labels)) for p in PARTS}
