"""The report: one dict (written as `report.json`), its markdown (`report.md`), the per-image
values (`per_image.npz`) and the figures (`figures.py`)."""
from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from ..bench import peak_rss_gb
from ..config import PARTS
from .effects import RECONSTRUCTION_INK_LEVEL
from .metrics import (EDGE_SIDE, SIGNATURE_SIDE, SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW, edge_signature,
                      identity_ranks, identity_signature, paired_difference, stats, top_k_rate)
from .scoring import SETTINGS, model_key, paired_rows
from .strokes import ink_removed, removal_summary

DEFINITIONS = {
    "l1": "mean |a - b| over pixels and RGB channels, images in [0, 1]",
    "l1_photo_colour": "L1 after shifting each RGB channel of the image to its photo's mean (clipped to [0, 1]): "
                       "an oracle, the error left when the overall colour (skin, light, background), which a line "
                       "sketch does not carry, is known",
    "l1_chroma": "L1 of the chroma (each pixel's RGB minus its channel mean) of image and photo: the colour "
                 "error with lightness taken out (a colour cast)",
    "identity": f"cosine similarity of {SIGNATURE_SIDE}x{SIGNATURE_SIDE} BT.601 grey thumbnails (block means), "
                "zero-mean and unit-norm; rank of the true photo among all evaluated test photos",
    "identity_edges": f"the same with the gradient magnitude of {EDGE_SIDE}x{EDGE_SIDE} grey thumbnails (contours, "
                      "not shading; the kit's identity loss trains on the grey thumbnails, never on these)",
    "locality": "Face with one part's blended latent (refine 0.5) taken from another test sketch vs the face "
                "itself: mean |delta| (/255, RGB) inside the part's window and outside it; ratio = inside / outside",
    "refine_response": "One part at refine 1 vs refine 0, the others at 0.5: mean |delta| (/255, RGB) inside "
                       "the part's window and outside it",
    "reconstruction": "Each part's crop vs encoder -> sketch decoder: L1 on [0, 1]; Dice of ink pixels "
                      f"(< {RECONSTRUCTION_INK_LEVEL} on [0, 1]) of crop and reconstruction",
    "regions": "eye1/eye2/nose/mouth: their windows; remainder: outside the four windows",
}


def methods(scorer, refines) -> list:
    """Method names in report order."""
    nn = ["NN retrieval"] if ("NN retrieval", "intact") in scorer.per_image else []
    return ["mean face"] + nn + [model_key(r) for r in refines]


def identity(queries: np.ndarray, gallery: np.ndarray, truth: np.ndarray) -> tuple[dict, np.ndarray]:
    """Top-1 / top-5 rates and median rank of each query's true photo among the gallery
    signatures; returns (summary, per-image ranks)."""
    ranks = identity_ranks(queries, gallery, truth)
    return {"top1": top_k_rate(ranks, 1), "top5": top_k_rate(ranks, 5), "median_rank": float(np.median(ranks)),
            "gallery": len(gallery)}, ranks


def score_rows(scorer, ev, refines) -> list:
    """One row per (method, setting): L1, SSIM, face rate, identity (grey and edge signatures).
    The identity gallery is the photos of every sketch done intact."""
    done = ev.sets["intact"].positions
    gallery, truth = identity_signature(ev.photos[done]), np.full(len(ev.indices), -1)
    edge_gallery = edge_signature(ev.photos[done])
    truth[done] = np.arange(len(done))
    rows = []
    for s in SETTINGS:
        for m in methods(scorer, refines):
            rec = scorer.per_image[(m, s)]
            ident, rec["rank"] = identity(rec["signature"], gallery, truth[ev.sets[s].positions])
            edges, rec["rank_edges"] = identity(rec["edge_signature"], edge_gallery, truth[ev.sets[s].positions])
            rows.append({"method": m, "setting": s, "refine": float(m.split("=")[1]) if m.startswith("model") else None,
                         "n": len(ev.sets[s].positions), "l1": stats(rec["l1"]),
                         "l1_photo_colour": stats(rec["l1_photo_colour"]),
                         "l1_chroma": stats(rec["l1_chroma"]), "ssim": stats(rec["ssim"]),
                         "face_rate": None if rec["face"] is None else float(rec["face"].mean()),
                         "identity": ident, "identity_edges": edges})
    return rows


def main_key(refines) -> str:
    """The model row the checks and grids use: refine 0.5 if evaluated, else the middle one."""
    keys = [model_key(r) for r in refines]
    return "model r=0.5" if "model r=0.5" in keys else keys[len(keys) // 2]


def baseline_checks(scorer, table, refines) -> dict:
    """Does the model (at the main refine, intact sketches) beat each baseline?"""
    key, checks = main_key(refines), {}
    m = table[(key, "intact")]
    for base in ("mean face", "NN retrieval"):
        if (base, "intact") not in table:
            continue
        b, slug = table[(base, "intact")], base.replace(" ", "_").lower()
        checks[f"beats_{slug}_l1"] = m["l1"]["mean"] < b["l1"]["mean"]
        checks[f"beats_{slug}_ssim"] = m["ssim"]["mean"] > b["ssim"]["mean"]
        mi, bi = scorer.per_image[(key, "intact")], scorer.per_image[(base, "intact")]
        checks[f"win_rate_vs_{slug}_l1"] = float((mi["l1"] < bi["l1"]).mean())
        checks[f"win_rate_vs_{slug}_ssim"] = float((mi["ssim"] > bi["ssim"]).mean())
    checks["face_rate_at_least_0.9"] = None if m["face_rate"] is None else m["face_rate"] >= 0.9
    return checks


def robustness(scorer, ev, refines) -> dict:
    """Per method: intact vs incomplete, paired over the same sketches."""
    rows, out = paired_rows(ev.sets), {}
    for key in methods(scorer, refines)[1:]:  # the mean face is the same image either way
        a, b = scorer.per_image[(key, "intact")], scorer.per_image[(key, "strokes_removed")]
        dl1, dssim = paired_difference(a["l1"][rows], b["l1"]), paired_difference(a["ssim"][rows], b["ssim"])
        out[key] = {"n": len(rows), "l1_intact": float(a["l1"][rows].mean()), "l1_removed": float(b["l1"].mean()),
                    "ssim_intact": float(a["ssim"][rows].mean()), "ssim_removed": float(b["ssim"].mean()),
                    "l1_change": dl1["mean"], "l1_change_sem": dl1["sem"],
                    "ssim_change": dssim["mean"], "ssim_change_sem": dssim["sem"],
                    "face_rate_change": None if a["face"] is None else float(b["face"].mean() - a["face"][rows].mean())}
    return out


def refine_checks(scorer, rob, refines) -> dict:
    """The paper's claim on incomplete sketches: projection (high refine) loses less than the
    raw sketch (low refine); and does it win outright by ≥ 2 standard errors of the paired
    difference?"""
    lo, hi = model_key(min(refines)), model_key(max(refines))
    if lo == hi:
        return {}
    a, b = scorer.per_image[(lo, "strokes_removed")], scorer.per_image[(hi, "strokes_removed")]
    dl1, dssim = paired_difference(a["l1"], b["l1"]), paired_difference(a["ssim"], b["ssim"])
    r_lo, r_hi = lo.split()[1], hi.split()[1]
    return {f"robustness_{r_hi}_loses_less_l1_than_{r_lo}": rob[hi]["l1_change"] < rob[lo]["l1_change"],
            f"robustness_{r_hi}_loses_less_ssim_than_{r_lo}": rob[hi]["ssim_change"] > rob[lo]["ssim_change"],
            f"removed_{r_hi}_minus_{r_lo}_l1": dl1, f"removed_{r_hi}_minus_{r_lo}_ssim": dssim,
            f"removed_{r_hi}_beats_{r_lo}_l1_by_2se": dl1["mean"] < -2 * dl1["sem"],
            f"removed_{r_hi}_beats_{r_lo}_ssim_by_2se": dssim["mean"] > 2 * dssim["sem"]}


def effect_summary(effects: dict | None) -> dict:
    """The effect measurements without the example images (JSON-ready)."""
    if effects is None:
        return {}
    return {"locality": effects["locality"]["parts"], "refine_response": effects["refine_response"]["parts"],
            "reconstruction": effects["reconstruction"], "effect_pairs": len(effects["pairs"]["a"])}


def nn_note(ev, ref) -> str:
    """How NN retrieval was done, why it was not, or a warning about leaked test ids."""
    if ref.note:
        return ref.note
    leaked = set(ev.ids) & set(ref.ids)
    if leaked:
        return f"warning: {len(leaked)} test ids are also bank rows (leak)"
    return "nearest training face by concatenated 5-part sketch latents (bank rows), photo matched by id"


def run_fields(pipe, ev, plan, opts, n_train_photos) -> dict:
    """What was evaluated, with what, on how many sketches."""
    label = lambda x: None if x is None else str(x)  # noqa: E731
    return {
        "params": label(opts.params), "data": label(opts.data), "split": opts.split,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": pipe.config.name, "canvas": pipe.config.canvas, "k": pipe.config.k, "solver": pipe.config.solver,
        "bank_size": len(pipe.banks[PARTS[0]]), "n": len(ev.sets["intact"].positions), "n_available": ev.n_available,
        "n_train_photos": n_train_photos, "limit": opts.limit, "robust_limit": opts.robust_limit,
        "n_robust": len(ev.sets["strokes_removed"].positions), "n_planned": plan.planned["intact"],
        "n_robust_planned": plan.planned["strokes_removed"], "max_minutes": opts.max_minutes,
        "refines": list(opts.refines), "drop_fraction": opts.drop_fraction, "removal": opts.removal, "seed": opts.seed,
        "threads": opts.threads, "batch": opts.batch,
    }


def metric_definitions(detector_note: str, detector_size: int) -> dict:
    """How every reported number is computed, for the report's JSON and its markdown header."""
    ssim = {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1, "k2": SSIM_K2, "data_range": 1.0,
            "channels": "per RGB channel, averaged", "positions": "valid (no padding)",
            "precision": "float32 (within 1e-5 of float64)"}
    return {**DEFINITIONS, "ssim": ssim, "face_rate": {"detector": detector_note, "input_size": detector_size}}


def build_report(pipe, ev, plan, scorer, ref, opts, timings, detector_note) -> dict:
    """Everything measured, as one JSON-ready dict."""
    rows = score_rows(scorer, ev, opts.refines)
    table = {(r["method"], r["setting"]): r for r in rows}
    rob = robustness(scorer, ev, opts.refines)
    removed, intact = ev.sets["strokes_removed"], ev.sets["intact"]
    n = len(intact.positions)
    return {
        **run_fields(pipe, ev, plan, opts, len(ref.photos)),
        "ink_removed": removal_summary(ink_removed(ev.sketches[removed.positions], removed.sketches)),
        "metrics": metric_definitions(detector_note, opts.detector_size),
        "face_rate_real_photos": float(ev.faces["real"][intact.positions].mean()) if "real" in ev.faces else None,
        "nn_retrieval": nn_note(ev, ref),
        "rows": rows,
        "checks": {**baseline_checks(scorer, table, opts.refines), **refine_checks(scorer, rob, opts.refines)},
        "robustness": rob,
        "identity_chance": {"top1": 1 / n, "top5": min(5, n) / n},
        **effect_summary(ev.effects),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "peak_rss_gb": peak_rss_gb(),
        "files": {},
    }


def write_outputs(out, report: dict, ev, plan, scorer, mean_u8, opts) -> None:
    """report.json, report.md, per_image.npz, the figures and linked training curves."""
    from .figures import write_figures
    from .markdown import markdown, setting_titles

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report["files"] = write_figures(out, ev, plan, scorer, mean_u8, opts.refines, main_key(opts.refines),
                                    setting_titles(report))
    report["files"].update(link_curves(out, opts.curves))
    np.savez_compressed(out / "per_image.npz", **per_image_arrays(ev, scorer))
    report["files"]["per_image"] = "per_image.npz"
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))


def link_curves(out: Path, curves) -> dict:
    """Copy training-curve images next to the report."""
    names = []
    for c in map(Path, curves):
        if not c.is_file():
            print(f"dsf.evaluate: training-curve image {c} not found; not linked", file=sys.stderr)
            continue
        dest = out / (f"curves_{c.parent.name}.png" if c.name == "curves.png" else c.name)
        shutil.copyfile(c, dest)
        names.append(dest.name)
    return {"curves": names} if names else {}


def per_image_arrays(ev, scorer) -> dict:
    """Per-image values for `per_image.npz`: "<metric>/<method>/<setting>" in each setting's
    processing order ("positions/<setting>": which evaluated sketch each row is)."""
    arrays = {"ids": ev.ids, **{f"positions/{s}": ev.sets[s].positions for s in SETTINGS}}
    if "real" in ev.faces:
        arrays["face/real photo"] = ev.faces["real"]
    for (key, s), rec in scorer.per_image.items():
        for metric in ("l1", "l1_photo_colour", "l1_chroma", "ssim", "face", "rank", "rank_edges"):
            if rec.get(metric) is not None:
                arrays[f"{metric}/{key}/{s}"] = rec[metric]
    return arrays
