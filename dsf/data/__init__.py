"""Training data for the kit: alignment to the spec's template, sketches, and readers.

    python -m dsf.data prepare --source ../shared/data --out data/prepared_256 --size 256

Modules:
  landmarks          mediapipe face mesh -> eye/nose/mouth centres (optional dependency)
  align              template points, weighted similarity fit, quality checks, warps
  sketch_extraction  the kit's line sketches from photos; scanned artist-sketch cleanup
  prepare            the dataset build (manifest, packs, contact sheet)
  dataset            readers for a prepared folder (numpy + pillow only)
  augment            training-time sketch augmentation (numpy only)

Only the readers and the augmentation are imported here: they need neither OpenCV nor
mediapipe, so training and evaluation can use them with the kit's runtime requirements.
"""
from .augment import augment_sketch, change_stroke_width, drop_strokes, random_warp
from .dataset import MANIFEST_FIELDS, PACK_ARRAYS, SPLITS, PreparedDataset, load_pack

__all__ = ["augment_sketch", "change_stroke_width", "drop_strokes", "random_warp",
           "MANIFEST_FIELDS", "PACK_ARRAYS", "SPLITS", "PreparedDataset", "load_pack"]
