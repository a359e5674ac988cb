"""Measure sketch alignment (`dsf.align_sketch`) and draw docs/figures/align_scans.png.

    python tools/align_scans.py measure --fs2k ../shared/data/fs2k --prepared data/prepared_128
    python tools/align_scans.py figure --fs2k ../shared/data/fs2k --out docs/figures/align_scans.png

`measure` prints, as JSON:
  fs2k_artist   FS2K's artist sketches as scanned (unaligned): how many the landmarker finds,
                on which copy (dsf.sketch_align.ATTEMPTS), and the eye-centre error of the
                alignment against the photo-derived one of the data preparation (records.jsonl:
                the sketches are registered to their photos), for landmarks and for the `ink`
                fallback alone; per FS2K split.
  extracted     the kit's extracted line sketches (prepared canvases): found, per copy, and how
                far off the template the landmarks say they are (`offset_frac`; they are aligned,
                so this is detection noise), and the ink fallback's offset.
  artist_aligned  the same for FS2K's artist sketches on the prepared canvases.
  template_problem_all  how often `dsf.images.template_problem` warns on every prepared sketch.
  synthetic     template-aligned sample sketches moved by known similarity transforms onto a
                larger grey "scan", aligned back: eye-centre error against the template.
Needs requirements-train.txt (mediapipe) and the prepared folder of `python -m dsf prepare`.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a clone without installing

from dsf.data.align import apply, template_points  # noqa: E402
from dsf.data.dataset import read_jsonl  # noqa: E402
from dsf.images import template_problem  # noqa: E402
from dsf.sketch_align import (KEEP_TOLERANCE, OFF_TEMPLATE, AlignmentError, align_sketch,  # noqa: E402
                              default_detector, fit_face, ink_matrix, offset_frac)

CANVAS = 128  # the shipped model's canvas: scans are aligned onto it for `figure`, `synthetic`


def eye_error(matrix: np.ndarray, record: dict) -> float:
    """Mean distance, / canvas, between where `matrix` and the photo's alignment put the
    photo's eye centres (the record's matrix maps photo pixels to the prepared canvas)."""
    eyes = np.array([record["landmarks_aligned"]["eye1"], record["landmarks_aligned"]["eye2"]])
    in_source = apply(cv2.invertAffineTransform(np.array(record["matrix"])), eyes)
    return float(np.linalg.norm(apply(matrix, in_source) - eyes, axis=1).mean() / record["canvas"])


def found_plain(grey: np.ndarray) -> bool:
    """Whether the landmarker finds a face on the image as given (no copies, no fallback)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return default_detector()(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)) is not None


def _summary(values) -> dict:
    v = np.asarray(values, np.float64)
    if not len(v):
        return {"n": 0}
    return {"n": len(v), "mean_pct": round(100 * v.mean(), 2), "median_pct": round(100 * np.median(v), 2),
            "p90_pct": round(100 * np.percentile(v, 90), 2), "max_pct": round(100 * v.max(), 2)}


def fs2k_artist(fs2k: Path, prepared: Path) -> dict:
    """Detection and eye error on FS2K's artist sketches as scanned, per split."""
    records = {r["id"]: r for r in read_jsonl(prepared / "records.jsonl") if r["source"] == "fs2k"}
    out = {}
    for split in ("test", "train"):
        tried, plain, attempts, errors, ink_errors, offsets = 0, 0, Counter(), [], [], []
        for r in (r for r in records.values() if r["split"] == split):
            grey = cv2.imread(str(fs2k.parent / r["sketch_src_path"]), cv2.IMREAD_GRAYSCALE)
            canvas = r["canvas"]  # the prepared canvas the record's landmarks are on
            tried += 1
            plain += found_plain(grey)
            found = fit_face(grey, canvas)
            attempts[found[2] if found else "not found"] += 1
            if found:
                offsets.append(offset_frac(found[0].matrix, grey.shape[::-1], canvas))
            if "matrix" in r:
                if found:
                    errors.append(eye_error(found[0].matrix, r))
                ink_errors.append(eye_error(ink_matrix(grey, canvas), r))
        found_n = tried - attempts["not found"]
        out[split] = {"tried": tried, "found_plain": plain, "found": found_n, "by_attempt": dict(attempts),
                      "offset_as_scanned": _summary(offsets),
                      "offset_over_6pct": sum(o > 0.06 for o in offsets),
                      "eye_error_landmarks": _summary(errors), "eye_error_ink_fallback": _summary(ink_errors)}
    return out


def prepared_canvases(prepared: Path, kind: str, limit: int | None) -> dict:
    """Detection and offsets on the prepared (aligned) canvases of one sketch kind."""
    rows = [r for r in read_jsonl(prepared / "manifest.jsonl") if r["sketch_kind"] == kind][:limit]
    attempts, offsets, ink_offsets, problems, plain = Counter(), [], [], Counter(), 0
    for r in rows:
        grey = cv2.imread(str(prepared / "sketches" / r["split"] / f"{r['id']}.png"), cv2.IMREAD_GRAYSCALE)
        canvas = grey.shape[0]  # the prepared canvas
        plain += found_plain(grey)
        found = fit_face(grey, canvas)
        attempts[found[2] if found else "not found"] += 1
        if found:
            offsets.append(offset_frac(found[0].matrix, grey.shape[::-1], canvas))
        ink = ink_matrix(grey, canvas)
        if ink is not None:
            ink_offsets.append(offset_frac(ink, grey.shape[::-1], canvas))
        problems[(template_problem(grey) or "none").split(":")[0]] += 1
    return {"tried": len(rows), "found_plain": plain, "found": len(rows) - attempts["not found"],
            "by_attempt": dict(attempts), "offset_landmarks": _summary(offsets), "offset_ink": _summary(ink_offsets),
            "offset_landmarks_p99_pct": round(100 * float(np.percentile(offsets, 99)), 2) if offsets else None,
            "left_as_is": sum(o <= KEEP_TOLERANCE for o in offsets),
            "landmark_check_warns": attempts["not found"] + sum(o > OFF_TEMPLATE for o in offsets),
            "template_problem": dict(problems)}


def template_problems(prepared: Path) -> dict:
    """How often the cheap ink check (`template_problem`) warns on every prepared sketch."""
    counts = Counter()
    for r in read_jsonl(prepared / "manifest.jsonl"):
        grey = cv2.imread(str(prepared / "sketches" / r["split"] / f"{r['id']}.png"), cv2.IMREAD_GRAYSCALE)
        counts[(r["sketch_kind"], (template_problem(grey) or "none").split(":")[0])] += 1
    return {f"{kind}: {problem}": n for (kind, problem), n in sorted(counts.items())}


def random_similarity(rng, canvas: int, paper: tuple[int, int]) -> np.ndarray:
    """A similarity from the canvas onto a paper of (width, height): rotation ±20°, scale
    0.6-1.4, the face's centre anywhere in the paper's middle half."""
    angle, scale = np.radians(rng.uniform(-20, 20)), rng.uniform(0.6, 1.4)
    a = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array(paper) * rng.uniform(0.25, 0.75, 2)
    return np.hstack([a, (centre - a @ np.full(2, canvas / 2))[:, None]])


def synthetic(samples: list[Path], per_sample: int = 10, seed: int = 0) -> dict:
    """Template-aligned sketches moved onto a grey 900×1100 scan and aligned back (512 canvas)."""
    rng = np.random.default_rng(seed)
    targets = template_points(512)[:2]
    errors, by_sample, missed = [], {}, Counter()
    for path in samples:
        sketch = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        mine = []
        for _ in range(per_sample):
            move = random_similarity(rng, 512, (900, 1100))
            scan = cv2.warpAffine(sketch, move, (900, 1100), flags=cv2.INTER_LINEAR, borderValue=255)
            scan = (scan.astype(np.float32) * 0.92).astype(np.uint8)  # grey paper
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    aligned = align_sketch(scan, 512, fallback=False)
                except AlignmentError:
                    missed[path.stem] += 1
                    continue
            back = apply(aligned.matrix, apply(move, targets))
            mine.append(float(np.linalg.norm(back - targets, axis=1).mean() / 512))
        by_sample[path.stem] = _summary(mine)
        errors += mine
    return {"all": _summary(errors), "per_sample": by_sample, "no_face_found": dict(missed)}


def measure(args) -> None:
    samples = sorted((ROOT / "sample_sketches").glob("0[1-8]_*.png"))
    report = {
        "fs2k_artist": fs2k_artist(args.fs2k, args.prepared),
        "extracted": prepared_canvases(args.prepared, "extracted", args.limit),
        "artist_aligned": prepared_canvases(args.prepared, "artist", args.limit),
        "synthetic": synthetic(samples),
        "template_problem_all": template_problems(args.prepared),
    }
    print(json.dumps(report, indent=1))


def pick_scans(fs2k: Path, per_folder: int = 3, seed: int = 0, min_offset: float = 0.08) -> list[Path]:
    """`per_folder` FS2K test-split artist sketches from each of sketch1 (250×250) and sketch3
    (475×340), at random among those at least `min_offset` of the canvas off the template as
    scanned (the ones alignment is for)."""
    names = [a["image_name"] for a in json.loads((fs2k / "anno_test.json").read_text())]
    picked = {"sketch1": [], "sketch3": []}
    for i in np.random.default_rng(seed).permutation(len(names)):
        folder, stem = names[i].split("/")
        folder = folder.replace("photo", "sketch")
        if len(picked.get(folder, [None] * per_folder)) >= per_folder:
            continue
        path = fs2k / "sketch" / folder / f"{stem.replace('image', 'sketch')}.jpg"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.is_file() and align_sketch(path, CANVAS).offset_frac >= min_offset:
                picked[folder].append(path)
    return picked["sketch1"] + picked["sketch3"]


def figure(args) -> None:
    """Each row: the scan with its landmarks and fitted template, the aligned sketch, and the
    faces the shipped model gives for the scan as it is and for the aligned sketch."""
    import matplotlib.pyplot as plt

    import dsf
    from dsf.sketch_align import show_alignment
    from dsf.viz import save_figure

    pipe = dsf.load_pipeline()
    scans = pick_scans(args.fs2k)
    fig, axes = plt.subplots(len(scans), 4, figsize=(11, 2.9 * len(scans)))
    for row, path in zip(axes, scans):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aligned = align_sketch(path, pipe.config.canvas)
            faces = {"face from the scan as it is": pipe.run(path, refine=0.5).image,
                     "face from the aligned sketch": pipe.run(aligned.sketch, refine=0.5).image}
        show_alignment(aligned, faces, axes=row)
        row[0].set_ylabel(f"{path.parent.name}/{path.stem}", fontsize=8)
    fig.suptitle("FS2K test-split artist scans: aligned to the template (dsf.align_sketch), "
                 f"faces from the shipped {pipe.config.name} model at refine 0.5", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    print(save_figure(fig, args.out, dpi=80, close=True, max_bytes=900_000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["measure", "figure"])
    ap.add_argument("--fs2k", type=Path, required=True, help="FS2K root (anno_test.json, photo/, sketch/)")
    ap.add_argument("--prepared", type=Path, default=ROOT / "data" / "prepared_128")
    ap.add_argument("--limit", type=int, default=None, help="at most this many prepared sketches per kind")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "align_scans.png")
    args = ap.parse_args()
    measure(args) if args.command == "measure" else figure(args)


if __name__ == "__main__":
    main()
