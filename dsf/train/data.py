"""What both training stages and the bank read: prepared splits, sketch crops, augmentation."""
from __future__ import annotations

import numpy as np

from ..data.augment import augment_sketch
from ..data.dataset import load_pack
from ..data.sketch_extraction import pencil_sketch


def load_split(root, split: str) -> dict:
    """A prepared split (`pack_<split>.npz`) as a dict of arrays: photos N×H×W×3 uint8,
    sketches N×H×W uint8 (black on white), ids, sex ("male"/"female"/""), source."""
    if split == "test":
        raise ValueError("the test split is held out: never used for training or banks")
    pack = dict(load_pack(root, split))
    n = len(pack["sketches"])
    pack["sex"] = normalise_sex(pack["sex"], n)
    pack["source"] = np.asarray(pack["source"], dtype=str)
    pack["ids"] = np.asarray(pack["ids"]).astype(str)
    return pack


def load_split_or_none(root, split: str) -> dict | None:
    """`load_split`, or None when the data folder has no such split."""
    try:
        return load_split(root, split)
    except (FileNotFoundError, KeyError, TypeError):
        return None


def normalise_sex(values, n: int) -> np.ndarray:
    """Sex labels → "male" / "female" / "" (unknown). Numbers follow the released code's flag
    (and FS2K's `gender`): 0 male, 1 female."""
    out = np.full(n, "", dtype="<U6")
    for i, v in enumerate(np.asarray(values).tolist()):
        s = str(v).strip().lower()
        if s in ("male", "m", "man", "0"):
            out[i] = "male"
        elif s in ("female", "f", "woman", "1"):
            out[i] = "female"
    return out


def augment_all(sketches: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each sketch through `dsf.data.augment.augment_sketch` (pen width, small warp, dropped strokes)."""
    return np.stack([np.asarray(augment_sketch(s, rng=rng), np.uint8) for s in sketches])


def pencil_all(photos: np.ndarray) -> np.ndarray:
    """N×H×W×3 aligned photos -> N×H×W pencil drawings of them (`dsf.data.sketch_extraction.pencil_sketch`)."""
    return np.stack([pencil_sketch(p) for p in photos])


def mirror_columns(canvas: int) -> np.ndarray:
    """Column indices that mirror an aligned canvas about the faces' vertical axis, the eye
    midline of `dsf.data.align.template_points` (x = 61.5 at canvas 128; the published windows
    are not centred on the canvas, so a plain left-right flip would move every part off its
    window): column x of the mirror is column 2·axis − x of the image; the few columns past the
    border reflect at it (a repeated edge column would smear a stroke into a streak)."""
    from ..data.align import template_points

    source = int(round(2 * template_points(canvas)[:2, 0].mean())) - np.arange(canvas)
    source = np.where(source < 0, -source - 1, source)
    return np.where(source >= canvas, 2 * canvas - 1 - source, source)


def mirror_all(images: np.ndarray) -> np.ndarray:
    """N×H×W(×C) aligned images mirrored about the faces' axis (`mirror_columns`): another
    aligned face, eyes in the eye windows, nose and mouth in theirs."""
    return images[:, :, mirror_columns(images.shape[2])]


def sample_rows(n: int, k: int = 8) -> np.ndarray:
    """k rows spread evenly over a split (the sample grids' fixed held-out faces)."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int))
