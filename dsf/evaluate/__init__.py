"""Evaluation on a held-out split: how close the generated faces come to the real photos, and
whether the paper's effects show (local parts, refine, identity, robustness).

    python -m dsf evaluate --params params/compact128 --data data/prepared_128 --split test

For every test sketch the model makes a face at refine r ∈ {0, 0.5, 1} (r = 1: fully projected
onto the training manifold, 0: the raw sketch latent), compared with the real, aligned photo of
that sketch by L1, SSIM, identity rank and face rate (`metrics`, `faces`); two baselines are
scored the same way (`baselines`: the mean training face, nearest-neighbour retrieval).
Robustness: each sketch loses whole strokes, up to ~30 % of its ink (`strokes`), and
everything is measured again, paired over the same sketches. Effects (`effects`): locality
of part swaps, the response to one part's refine, stage-1 reconstruction per part.

Modules, in the order a run uses them:
- `metrics`: L1, SSIM, region change, identity signatures and ranks, ink Dice (numpy only);
- `baselines`: mean face, NN retrieval; `strokes`: incomplete sketches; `faces`: face rate;
- `batches`: the model on batches of sketches through `Pipeline`'s methods;
- `scoring`: the order, the threaded synthesis and the per-image scoring loop;
- `effects`: locality, refine response, stage-1 reconstruction;
- `evaluation`: `evaluate` and its `Options` — the recipe;
- `report`, `markdown`, `figures`: report.json, report.md, per_image.npz and the PNGs;
- `__main__`: the command line (`python -m dsf.evaluate --help`).

Outputs in `--out` (default `runs/eval_<params folder name>`): `report.md`, `report.json`,
`per_image.npz`, `grid_test.png`, `grid_robustness.png`, `grid_baselines.png`, `locality.png`,
`refine_response.png`.
"""
from .evaluation import REFINES, Options, evaluate
from .faces import DETECTOR_SIZE, face_detector
from .metrics import (SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW, gaussian_window, identity_ranks, identity_signature,
                      l1, l1_at_photo_colour, l1_chroma, region_change, ssim, ssim_map, to_float, top_k_rate)
from .scoring import subset_indices

__all__ = ["REFINES", "Options", "evaluate", "DETECTOR_SIZE", "face_detector", "SSIM_K1", "SSIM_K2", "SSIM_SIGMA",
           "SSIM_WINDOW", "gaussian_window", "identity_ranks", "identity_signature", "l1", "l1_at_photo_colour", "l1_chroma",
           "region_change", "ssim", "ssim_map", "to_float", "top_k_rate", "subset_indices"]
