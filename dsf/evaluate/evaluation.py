"""`evaluate`: the whole evaluation as a recipe — plan, embed, score, measure effects, report."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._jittor import jt
from .baselines import Reference, nn_retrieval, reference
from .effects import locality, reconstruction, refine_response, sketch_pairs
from .faces import DETECTOR_SIZE, batch_detector
from .report import build_report, write_outputs
from .scoring import (SETTINGS, AheadSynthesis, Scorer, ScoringLoop, TimeBudget, embed, make_plan, paired_rows,
                      subset_indices)
from .strokes import REMOVALS, incomplete_sketches

REFINES = (0.0, 0.5, 1.0)


@dataclass
class Options:
    """What `evaluate` does (its keyword arguments; the CLI flags map onto them).

    refines: refine weights r of the model rows. drop_fraction / removal / seed: the
      incomplete sketches (`strokes.incomplete_sketches`). batch: sketches per encoding /
      synthesis batch. threads: synthesis threads. limit: evaluate `subset_indices(n, limit)`.
    robust_limit: the stroke-removal part on `subset_indices(n, robust_limit)` of those only.
    max_minutes: time budget; each part starts no new batch once it is spent (the intact part
      at 80 % of it), never before the grids' sketches. None: no budget.
    detector: "auto", None or a callable (`faces.face_detector`); detector_size: its input side.
    effects / effect_pairs: measure locality (that many pairs) and refine response (that many
      sketches) and stage-1 reconstruction (every evaluated sketch).
    params / data / split: labels for the report. curves: training-curve images to link.
    """

    refines: tuple = REFINES
    drop_fraction: float = 0.3
    removal: str = "ink"
    seed: int = 0
    batch: int = 64
    limit: int | None = None
    robust_limit: int | None = None
    max_minutes: float | None = None
    threads: int = 2
    detector: object = "auto"
    detector_size: int = DETECTOR_SIZE
    effects: bool = True
    effect_pairs: int = 200
    params: str | None = None
    data: str | None = None
    split: str = "test"
    curves: tuple = ()
    progress: bool = True

    def __post_init__(self):
        self.refines = tuple(float(r) for r in self.refines)
        if not all(0.0 <= r <= 1.0 for r in self.refines):
            raise ValueError(f"refine weights must lie in [0, 1], got {self.refines}")
        if self.removal not in REMOVALS:
            raise ValueError(f"removal must be one of {REMOVALS}, got {self.removal!r}")


@dataclass
class Evaluated:
    """The evaluated test sketches (a subset of the pack) and everything measured on them."""

    indices: np.ndarray
    ids: np.ndarray
    photos: np.ndarray
    sketches: np.ndarray
    n_available: int
    sets: dict = field(default_factory=dict)
    faces: dict = field(default_factory=dict)
    effects: dict | None = None


def check_pack(pack: dict, canvas: int, what: str) -> None:
    """Refuse packs without photos/sketches/ids or not on the model's canvas."""
    for key in ("photos", "sketches", "ids"):
        if key not in pack:
            raise ValueError(f"{what} pack has no {key!r} array")
    n = len(pack["ids"])
    if pack["photos"].shape[1:] != (canvas, canvas, 3) or pack["sketches"].shape[1:] != (canvas, canvas) \
            or len(pack["photos"]) != n or len(pack["sketches"]) != n:
        raise ValueError(f"{what} pack: photos {pack['photos'].shape}, sketches {pack['sketches'].shape}, "
                         f"{n} ids do not fit the model's {canvas}² canvas")
    if n == 0:
        raise ValueError(f"{what} pack is empty")


def evaluate(pipe, test: dict, train: dict, out=None, **options) -> dict:
    """Score `pipe` on the `test` pack against its real photos, with both baselines, the
    stroke-removal robustness test and the effect measurements; write the report, figures and
    per-image values to `out` (skipped when None). Options: see `Options`.

    test, train: packs as `dsf.data.dataset.load_pack` returns them (dicts with "photos"
      N×H×W×3 uint8, "sketches" N×H×W uint8, "ids"); the train pack gives the mean face
      and, matched by id to the banks' "id" labels, the NN-retrieval photos.
    Returns the report dict (also written to `report.json`).
    """
    opts = Options(**options)
    t_start, timings = time.perf_counter(), {}
    for pack, what in ((test, "test"), (train, "train")):
        check_pack(pack, pipe.config.canvas, what)
    idx = subset_indices(len(test["ids"]), opts.limit)
    ev = Evaluated(idx, np.asarray(test["ids"][idx]).astype(str), np.asarray(test["photos"][idx]),
                   np.asarray(test["sketches"][idx]), len(test["ids"]))
    plan = make_plan(len(idx), opts.robust_limit, opts.seed)
    ref = reference(pipe, train)
    timed(timings, "embed", lambda: embed_sets(pipe, ev, plan, opts, ref))
    detect, detector_note = batch_detector(opts.detector, opts.detector_size, timings)
    scorer = score_all(pipe, ev, plan, ref, detect, opts, timings, t_start)
    if opts.effects:
        ev.effects = measure_effects(pipe, ev, opts, timings)
    timings["total"] = time.perf_counter() - t_start
    report = build_report(pipe, ev, plan, scorer, ref, opts, timings, detector_note)
    if out is not None:
        write_outputs(out, report, ev, plan, scorer, ref.mean_u8, opts)
    return report


def timed(timings: dict, name: str, step):
    """Run `step()`, adding its seconds to `timings[name]`; return its result."""
    t = time.perf_counter()
    result = step()
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - t
    return result


def embed_sets(pipe, ev: Evaluated, plan, opts: Options, ref: Reference) -> None:
    """Encode and project both settings (in processing order); NN-retrieval rows."""
    intact = plan.positions["intact"]
    ev.sets["intact"] = embed(pipe, intact, ev.sketches[intact], opts.batch)
    removed = plan.positions["strokes_removed"]
    incomplete = incomplete_sketches(ev.sketches[removed], ev.indices[removed], opts.drop_fraction, opts.seed,
                                     opts.removal)
    ev.sets["strokes_removed"] = embed(pipe, removed, incomplete, opts.batch)
    if ref.index is not None:
        for sset in ev.sets.values():
            sset.nn = nn_retrieval(pipe, sset.latents, ref.index, ref.ids)


def score_all(pipe, ev: Evaluated, plan, ref: Reference, detect, opts: Options, timings, t_start) -> Scorer:
    """The baselines and the model at every refine on both settings, scored per image."""
    from tqdm import tqdm

    show = {"intact": set(plan.grid.tolist()) | set(plan.robust_grid.tolist()),
            "strokes_removed": set(plan.robust_grid.tolist())}
    scorer = Scorer(ev.photos, detect, show, timings)
    steps = sum(-(-len(ev.sets[s].positions) // opts.batch) * (len(opts.refines) + 1) for s in SETTINGS)
    bar = tqdm(total=steps, desc="evaluate", disable=not opts.progress, mininterval=2)
    found = queue_reference_faces(scorer, ev, ref)
    score_mean_face(scorer, ev.sets["intact"].positions, ref, opts.batch)

    def done(images, key, setting, positions, j0):
        scorer.score(key, setting, positions, j0, images)
        bar.update(1)
    synth = AheadSynthesis(pipe, opts.threads, done)
    loop = ScoringLoop(pipe, scorer, synth, ref.photos, opts.refines, opts.batch,
                       TimeBudget(t_start, opts.max_minutes), lambda: bar.update(1))
    t = time.perf_counter()
    for s in SETTINGS:
        bar.set_description(f"evaluate [{s}]")
        if s == "strokes_removed":  # only sketches also done intact (the deltas are paired)
            ev.sets[s] = ev.sets[s].take(np.isin(ev.sets[s].positions, ev.sets["intact"].positions))
        ev.sets[s] = loop.run(ev.sets[s], s, plan.protected[s])
        jt.gc()
    synth.close()
    timings["synthesis_loop"] = time.perf_counter() - t
    bar.close()
    timed(timings, "worker_wait", lambda: scorer.finish(
        lambda jobs: tqdm(jobs, desc="metrics and face detector", disable=not opts.progress, mininterval=2)))
    fill_reference_faces(scorer, ev, found)
    return scorer


def score_mean_face(scorer: Scorer, positions, ref: Reference, batch: int) -> None:
    """The mean face against every intact sketch's photo (float image for the metrics, the
    uint8 copy for the grids; its face is detected once, see `queue_reference_faces`)."""
    faces = None if scorer.detect is None else False
    for j0 in range(0, len(positions), batch):
        size = min(batch, len(positions) - j0)
        scorer.score("mean face", "intact", positions, j0, np.broadcast_to(ref.mean, (size,) + ref.mean.shape), faces)
    scorer.shown[("mean face", "intact")] = {p: ref.mean_u8 for p in scorer.show["intact"]}


def queue_reference_faces(scorer: Scorer, ev: Evaluated, ref: Reference) -> dict:
    """Queue the detector on the real photos, the mean face (once) and each retrieved
    training photo (once, they repeat); arrays that fill in while the loop runs."""
    if scorer.detect is None:
        return {}
    nn = [s.nn for s in ev.sets.values() if s.nn is not None]
    rows = np.unique(np.concatenate(nn)) if nn else None
    return {"real": scorer.detect_later(ev.photos), "mean": scorer.detect_later(ref.mean_u8[None]),
            "nn_rows": rows, "nn": None if rows is None else scorer.detect_later(ref.photos[rows])}


def fill_reference_faces(scorer: Scorer, ev: Evaluated, found: dict) -> None:
    """Copy the once-per-image detections into the per-image records; derive the mean face's
    records for the incomplete sketches (the same image, so the same score per photo)."""
    rows = paired_rows(ev.sets)
    if found:
        scorer.per_image[("mean face", "intact")]["face"][:] = found["mean"][0]
        ev.faces["real"] = found["real"]
        for s, sset in ev.sets.items():
            if sset.nn is not None:
                once = found["nn"][np.searchsorted(found["nn_rows"], sset.nn)]
                scorer.per_image[("NN retrieval", s)]["face"][:] = once
    scorer.per_image[("mean face", "strokes_removed")] = {
        k: None if v is None else v[rows] for k, v in scorer.per_image[("mean face", "intact")].items()}


def measure_effects(pipe, ev: Evaluated, opts: Options, timings: dict) -> dict:
    """Locality, refine response (on `effect_pairs` sketches/pairs) and stage-1
    reconstruction (every evaluated sketch), on the intact sketches."""
    s = ev.sets["intact"]
    a, b = sketch_pairs(len(s.positions), opts.effect_pairs, opts.seed)
    effects = {"pairs": {"a": s.positions[a], "b": s.positions[b]}}
    effects["locality"] = timed(timings, "locality", lambda: locality(
        pipe, s.latents, s.projected, a, b, opts.batch, opts.threads))
    effects["refine_response"] = timed(timings, "refine_response", lambda: refine_response(
        pipe, s.latents, s.projected, a, opts.batch, opts.threads))
    effects["reconstruction"] = timed(timings, "reconstruction", lambda: reconstruction(
        pipe, s.sketches, s.latents, opts.batch))
    return effects
