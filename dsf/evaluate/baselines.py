"""The two baselines every real model must beat, scored like the model.

- **mean face**: the mean of the training photos (one image for every test sketch);
- **NN retrieval**: the training photo whose sketch is nearest to the test sketch, measured on
  the five component latents of the model's own encoders, concatenated. The training latents
  are the bank rows; each row's "id" label finds its photo in the training pack (by id, not
  by position).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import PARTS
from ..manifold import nearest_neighbours


def mean_face(photos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean of N×H×W×3 uint8 photos: (float64 image in [0, 1] for the metrics, uint8 copy
    for display and the face detector)."""
    n, h, w, c = photos.shape
    mean = photos.reshape(n, -1).mean(axis=0, dtype=np.float64).reshape(h, w, c) / 255.0
    return mean, np.clip(mean * 255 + 0.5, 0, 255).astype(np.uint8)


def bank_ids(pipe) -> np.ndarray | None:
    """The per-row ids shared by every part's bank, or None when absent or not shared."""
    ids = [pipe.banks[p].labels.get("id") for p in PARTS]
    if any(i is None for i in ids):
        return None
    ids = [np.asarray(i).astype(str) for i in ids]
    if any(len(i) != len(ids[0]) or not np.array_equal(i, ids[0]) for i in ids):
        return None
    return ids[0]


@dataclass
class Reference:
    """What the baselines need from the training pack: its photos, their mean, and for NN
    retrieval the bank ids and id → training-pack row (`index` None, with `note` saying
    why, when the banks carry no shared ids)."""

    photos: np.ndarray
    mean: np.ndarray
    mean_u8: np.ndarray
    ids: np.ndarray | None
    index: dict | None
    note: str | None = None


def reference(pipe, train: dict) -> Reference:
    """The training side of the baselines. Raises ValueError when bank ids are missing from
    the pack: it is not the pack the model was trained on, and NN retrieval would show the
    wrong photos."""
    photos = np.asarray(train["photos"])
    ids = bank_ids(pipe)
    if ids is None:
        return Reference(photos, *mean_face(photos), None, None,
                         "not available: the banks carry no shared per-row 'id' label")
    index = {v: i for i, v in enumerate(np.asarray(train["ids"]).astype(str))}
    missing = sorted(set(ids) - set(index))
    if missing:
        raise ValueError(f"{len(missing)} bank ids are not in the training pack (e.g. {missing[:3]}): "
                         f"is this the pack the model was trained on?")
    return Reference(photos, *mean_face(photos), ids, index)


def nn_retrieval(pipe, latents: dict, train_index: dict, ids: np.ndarray) -> np.ndarray:
    """Training-pack row of the nearest training face (concatenated part latents) per query."""
    bank = np.concatenate([pipe.banks[p].vectors for p in PARTS], axis=1)
    q = np.concatenate([latents[p] for p in PARTS], axis=1)
    rows = nearest_neighbours(bank, q, 1)[0][:, 0]
    return np.array([train_index[ids[r]] for r in rows], int)
