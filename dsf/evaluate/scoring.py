"""The scoring loop: every test sketch through the model and the baselines, each image scored
against its own photo as it comes out.

Order. The sketches shown in the grids go first, then the rest in a fixed shuffle, so that when
the time budget (`--max-minutes`) stops a part early, the sketches done are still spread over
the whole split; the stroke-removal part follows the intact part's order (its deltas need both).

Threads. Synthesis runs in `threads` threads, a few batches ahead of the scoring, in order
(Jittor leaves the GIL while it computes; outputs are identical to a sequential run). Metrics
and the face detector run in one worker thread beside it; the detector is only ever called
from that thread.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from ..config import PARTS
from .batches import blend_all, encode_all, pad, project_all
from .metrics import EDGE_SIDE, SIGNATURE_SIDE, edge_signature, identity_signature, l1, l1_at_photo_colour, l1_chroma, ssim

SETTINGS = ("intact", "strokes_removed")
BUDGET_SHARE = {"intact": 0.8, "strokes_removed": 1.0}
"""Share of `--max-minutes` after which each part starts no new batch."""


def subset_indices(n: int, limit: int | None) -> np.ndarray:
    """All of range(n), or `limit` indices spread evenly over it (first and last included),
    so a quick run still samples every part of a pack ordered by source/style."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


@dataclass
class Plan:
    """Which evaluated sketches (positions 0..n−1 in the evaluated subset) each setting
    covers, in processing order; the first `protected[s]` are never cut by the budget."""

    n: int
    grid: np.ndarray
    robust_grid: np.ndarray
    positions: dict
    protected: dict
    planned: dict = field(default_factory=dict)


def make_plan(n: int, robust_limit: int | None, seed: int) -> Plan:
    """Grid sketches first, then a fixed shuffle; stroke removal in the intact part's order."""
    grid = subset_indices(n, 12)  # grid_test / grid_baselines
    robust = subset_indices(n, robust_limit)
    robust_grid = robust[subset_indices(len(robust), 4)]  # grid_robustness
    first = np.union1d(grid, robust_grid)
    rest = np.setdiff1d(np.arange(n), first)
    intact = np.concatenate([first, rest[np.random.default_rng(seed).permutation(len(rest))]])
    rank = np.empty(n, int)
    rank[intact] = np.arange(n)
    robust_rest = np.setdiff1d(robust, robust_grid)
    positions = {"intact": intact,
                 "strokes_removed": np.concatenate([robust_grid, robust_rest[np.argsort(rank[robust_rest])]])}
    return Plan(n, grid, robust_grid, positions, {"intact": len(first), "strokes_removed": len(robust_grid)},
                {s: len(p) for s, p in positions.items()})


@dataclass
class SketchSet:
    """One setting's sketches in processing order, with what the model and NN retrieval
    make of them: row j belongs to evaluated position `positions[j]`."""

    positions: np.ndarray
    sketches: np.ndarray
    latents: dict
    projected: dict
    nn: np.ndarray | None = None

    def take(self, sel) -> "SketchSet":
        """The rows `sel` (a slice or a boolean mask) of everything."""
        return replace(self, positions=self.positions[sel], sketches=self.sketches[sel],
                       latents={p: v[sel] for p, v in self.latents.items()},
                       projected={p: v[sel] for p, v in self.projected.items()},
                       nn=None if self.nn is None else self.nn[sel])


def embed(pipe, positions: np.ndarray, sketches: np.ndarray, batch: int) -> SketchSet:
    """Encode and project sketches (already in processing order)."""
    latents = encode_all(pipe, sketches, batch)
    return SketchSet(positions, sketches, latents, project_all(pipe, latents))


class Scorer:
    """Per-image L1, SSIM, identity signature and face detection of each (method, setting),
    computed in one worker thread while the main thread synthesises.

    `per_image[(method, setting)]` holds arrays in the setting's processing order; `shown`
    keeps the images of the positions the grids show."""

    def __init__(self, photos, detect, show: dict, timings: dict):
        self.photos, self.detect, self.show, self.timings = photos, detect, show, timings
        self.per_image, self.shown = {}, {}
        self._pool, self._pending = ThreadPoolExecutor(max_workers=1), []
        timings["metrics"] = 0.0

    def score(self, key, setting, positions, j0, images, faces=None):
        """Queue the metrics of `images` (rows j0… of the setting) against their photos;
        `faces`: detector results already known (else the detector runs on `images`).
        `images` must not change afterwards: the worker reads them without a copy."""
        rec = self.per_image.setdefault((key, setting), self._record(len(positions)))
        pos = positions[j0:j0 + len(images)]
        self._pending.append(self._pool.submit(self._work, rec, slice(j0, j0 + len(images)),
                                               images, self.photos[pos], faces))
        for j, p in enumerate(pos):
            if int(p) in self.show[setting]:
                self.shown.setdefault((key, setting), {})[int(p)] = images[j]

    def _record(self, m):
        return {"l1": np.zeros(m), "l1_photo_colour": np.zeros(m), "l1_chroma": np.zeros(m), "ssim": np.zeros(m),
                "signature": np.zeros((m, SIGNATURE_SIDE ** 2), np.float32),
                "edge_signature": np.zeros((m, (EDGE_SIDE - 1) ** 2), np.float32),
                "face": None if self.detect is None else np.zeros(m, bool)}

    def _work(self, rec, rows, images, targets, faces):
        t = time.perf_counter()
        rec["l1"][rows] = l1(images, targets)
        rec["l1_photo_colour"][rows] = l1_at_photo_colour(images, targets)
        rec["l1_chroma"][rows] = l1_chroma(images, targets)
        rec["ssim"][rows] = ssim(images, targets, dtype=np.float32)
        rec["signature"][rows] = identity_signature(images)
        rec["edge_signature"][rows] = edge_signature(images)
        self.timings["metrics"] += time.perf_counter() - t
        if rec["face"] is not None:
            rec["face"][rows] = self.detect(images) if faces is None else faces

    def detect_later(self, images) -> np.ndarray:
        """Run the detector on `images` in the worker; the returned array fills in later."""
        found = np.zeros(len(images), bool)

        def run():
            found[:] = self.detect(images)
        self._pending.append(self._pool.submit(run))
        return found

    def cut(self, setting, sel):
        """Keep only rows `sel` of a setting (views, so the worker's writes still show)."""
        for key, rec in list(self.per_image.items()):
            if key[1] == setting:
                self.per_image[key] = {k: None if v is None else v[sel] for k, v in rec.items()}

    def finish(self, progress_bar):
        """Wait for every queued job."""
        for fut in progress_bar(self._pending):
            fut.result()
        self._pool.shutdown()


class AheadSynthesis:
    """Synthesis in `threads` threads, up to 2·threads batches ahead; results are handed to
    `done(images, *tag)` in submission order."""

    def __init__(self, pipe, threads: int, done):
        self.pipe, self.threads, self.done = pipe, threads, done
        self._pool, self._window = ThreadPoolExecutor(max_workers=threads), []

    def submit(self, blended: dict, size: int, *tag):
        self._window.append((self._pool.submit(self.pipe.faces_from_latents, blended), size, tag))
        self.drain(2 * self.threads)

    def drain(self, upto: int = 0):
        while len(self._window) > upto:
            fut, size, tag = self._window.pop(0)
            self.done(fut.result()[:size], *tag)

    def close(self):
        self.drain(0)
        self._pool.shutdown()


@dataclass
class TimeBudget:
    """The `--max-minutes` time budget, counted from `start`."""

    start: float
    minutes: float | None

    def spent(self, setting: str) -> bool:
        return self.minutes is not None and \
            time.perf_counter() - self.start > 60 * self.minutes * BUDGET_SHARE[setting]


@dataclass
class ScoringLoop:
    """NN retrieval and the model at every refine on a setting's sketches, batch by batch,
    each batch's images scored as they come out; `tick` counts finished steps."""

    pipe: object
    scorer: Scorer
    synth: AheadSynthesis
    train_photos: np.ndarray
    refines: tuple
    batch: int
    budget: TimeBudget
    tick: object

    def run(self, sset: SketchSet, setting: str, protected: int) -> SketchSet:
        """Run until done or the budget is spent (never before the `protected` first
        sketches); returns the set cut to the sketches done."""
        m = len(sset.positions)
        for j0 in range(0, m, self.batch):
            if j0 >= protected and self.budget.spent(setting):
                self.synth.drain()
                self.scorer.cut(setting, slice(0, j0))
                return sset.take(slice(0, j0))
            self.run_batch(sset, setting, j0, min(j0 + self.batch, m))
        self.synth.drain()
        return sset

    def run_batch(self, sset: SketchSet, setting: str, j0: int, j1: int) -> None:
        if sset.nn is not None:
            faces = None if self.scorer.detect is None else False  # filled in once per photo later
            self.scorer.score("NN retrieval", setting, sset.positions, j0, self.train_photos[sset.nn[j0:j1]], faces)
        self.tick()
        size = min(self.batch, len(sset.positions))
        for r in self.refines:
            blended = blend_all(sset.latents, sset.projected, dict.fromkeys(PARTS, r), slice(j0, j1))
            self.synth.submit({p: pad(v, size) for p, v in blended.items()}, j1 - j0,
                              model_key(r), setting, sset.positions, j0)


def model_key(refine: float) -> str:
    """The method name of the model at one refine weight."""
    return f"model r={refine:g}"


def paired_rows(sets: dict) -> np.ndarray:
    """For each incomplete sketch, its row in the intact setting (the same sketch intact)."""
    intact = sets["intact"].positions
    row = np.full(int(intact.max(initial=-1)) + 1, -1)
    row[intact] = np.arange(len(intact))
    return row[sets["strokes_removed"].positions]
