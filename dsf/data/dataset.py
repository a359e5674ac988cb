"""Reading a prepared data folder (written by `python -m dsf.data prepare`), numpy + pillow only.

Layout of a prepared folder:
    manifest.jsonl            one JSON object per kept face (fields: MANIFEST_FIELDS)
    photos/<split>/<id>.png   aligned RGB photo, canvas × canvas
    sketches/<split>/<id>.png aligned greyscale sketch, black strokes on white
    pack_<split>.npz          the same faces as arrays, for fast training (PACK_ARRAYS)
    rejected.jsonl, summary.json, contact_sheet.png, extractor_vs_artist.png
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

SPLITS = ("train", "val", "test")

MANIFEST_FIELDS = {
    "id": str,                  # unique, e.g. "fs2k_photo1_image0005", "celebamask_<hash>", "scut_AF1"
    "source": str,              # "fs2k", "celebamask" or "scut"
    "group": str,               # counting bucket: "fs2k/photo1", "celebamask/val", "scut", ...
    "split": str,               # "train", "val" or "test" (FS2K anno_test.json: never trained on)
    "sex": (str, type(None)),   # "male", "female" or None (unknown)
    "sketch_kind": str,         # "artist" (FS2K, hand-drawn) or "extracted" (the kit's line extractor)
    "eye_error_px": float,      # mean distance of the aligned eye centres from their window centres
    "eye_error_frac": float,    # the same / canvas side
    "landmarks_aligned": dict,  # eye1/eye2/nose/mouth -> [x, y] on the canvas after the warp
    "quality": dict,            # alignment measures (see dsf.data.align.Alignment), FS2K: sketch_offset
    "matrix": list,             # 2×3 similarity, source pixels -> canvas pixels
    "src_path": str,            # photo path relative to the source root
    "sketch_src_path": (str, type(None)),  # artist sketch path relative to the source root
    "canvas": int,
}

PACK_ARRAYS = ("photos", "sketches", "ids", "sex", "source")
"""photos N×H×W×3 uint8, sketches N×H×W uint8, ids/sex/source fixed-width unicode ("" = unknown sex)."""


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file; a torn last line (interrupted write) is skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


class PreparedDataset:
    """The kept faces of one split (or all splits when split is None), in manifest order.

    `ds[i]` is the manifest row plus "photo" (H×W×3 uint8 RGB) and "sketch" (H×W uint8).
    """

    def __init__(self, root: str | Path, split: str | None = "train"):
        self.root = Path(root)
        manifest = self.root / "manifest.jsonl"
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest} not found: run `python -m dsf.data prepare --out {self.root}` first")
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        self.split = split
        self.rows = [r for r in read_jsonl(manifest) if split is None or r["split"] == split]

    def __len__(self) -> int:
        return len(self.rows)

    def photo(self, i: int) -> np.ndarray:
        r = self.rows[i]
        return np.asarray(Image.open(self.root / "photos" / r["split"] / f"{r['id']}.png").convert("RGB"))

    def sketch(self, i: int) -> np.ndarray:
        r = self.rows[i]
        return np.asarray(Image.open(self.root / "sketches" / r["split"] / f"{r['id']}.png").convert("L"))

    def __getitem__(self, i: int) -> dict:
        return {**self.rows[i], "photo": self.photo(i), "sketch": self.sketch(i)}


def load_pack(root: str | Path, split: str = "train") -> dict[str, np.ndarray]:
    """The arrays of `pack_<split>.npz` (PACK_ARRAYS), loaded without pickle."""
    path = Path(root) / f"pack_{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python -m dsf.data prepare --out {Path(root)}` first")
    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in PACK_ARRAYS}
