"""The pipeline: the only place that strings the four stages of the paper's Fig. 2 together,
and the one door through which front ends (viz, widgets, the sketch pad, the evaluator) reach
the networks.

    sketch ─ split_components ─ encode ─│─ project/blend ─│─ decode_features ─ fuse ─│─ synthesize ─ face
            1. component embedding      2. manifold proj.  3. feature mapping        4. image synthesis

Each stage is also a method that takes explicit inputs (`encode`, `project`, `decode_features`,
`fuse`, `synthesize`), so a notebook — or a comparison with the released code — can call one
stage alone; `faces_from_latents` runs stages 3 and 4 on explicit latents, `decode_sketch` and
`shadow` draw the drawing guidance. `run` keeps every intermediate on a `Trace` and caches per
part: when only one part's refine value changes, only that part is re-blended and re-decoded;
when a stroke changes only one window's crop, only that part is re-encoded.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ._jittor import jt
from . import params as params_io
from ._nograd import no_grad
from .components import composite, split_components, window_masks, windows
from .config import PARTS, Config
from .embedding import decode_sketch, encode
from .fusion import decode_features, fuse
from .images import load_sketch
from .manifold import SEXES, Projection, blend, project, shadow_from_decoded
from .synthesis import synthesize


@dataclass
class Trace:
    """Every intermediate of one `Pipeline.run`, for plotting.

    sketch: H×W uint8 input; parts: part → crop (uint8); latents: part → latent vector;
    projections: part → `manifold.Projection` (K bank rows, nearest first, their
    locally-linear weights and p = Σ wᵢ nᵢ; also as `neighbours`, `weights`, `projected`);
    blended: part → refine·projected + (1 − refine)·latent; refine: part → refine value used;
    shadow: H×W uint8 drawing guidance (None unless asked for);
    feature_maps: part → C×S×S; fused: C×H×W; image: H×W×3 uint8; timings: stage → seconds
    (stages skipped thanks to the cache are absent); recomputed: parts whose projection or
    feature map was recomputed in this call.
    """

    sketch: np.ndarray
    parts: dict
    latents: dict
    projections: dict
    blended: dict
    refine: dict
    sex: str | None
    k: int
    solver: str
    feature_maps: dict
    fused: np.ndarray
    image: np.ndarray
    shadow: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    recomputed: tuple = ()

    @property
    def neighbours(self) -> dict:
        """part → the K bank rows of its projection (nearest first)."""
        return {p: proj.indices for p, proj in self.projections.items()}

    @property
    def weights(self) -> dict:
        """part → the locally-linear weights of its neighbours (Σw = 1)."""
        return {p: proj.weights for p, proj in self.projections.items()}

    @property
    def projected(self) -> dict:
        """part → its projection p = Σ wᵢ nᵢ."""
        return {p: proj.projected for p, proj in self.projections.items()}


def _digest(a: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).hexdigest()


def refine_per_part(refine) -> dict:
    """A float (all parts) or a dict part → float (missing parts default to 0.5) → part → float,
    validated. refine is the released code's part weight r: 1 = fully projected, 0 = the raw
    sketch (the paper's blending weight w_bc = 1 − r)."""
    if isinstance(refine, dict):
        unknown = set(refine) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown part(s) {sorted(unknown)} in refine; parts are {PARTS}")
        out = {p: float(refine.get(p, 0.5)) for p in PARTS}
    else:
        out = {p: float(refine) for p in PARTS}
    for p, r in out.items():
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"refine for {p} must be within [0, 1], got {r}")
    return out


class Pipeline:
    """DeepFaceDrawing inference: one `Config`, its networks and its component banks."""

    def __init__(self, config: Config, networks: dict, banks: dict, info: dict | None = None):
        missing = [p for p in PARTS if p not in banks]
        if missing:
            raise ValueError(f"banks missing for part(s) {missing}")
        self.config = config
        self.networks = networks
        self.banks = banks
        self.info = info or {}
        self.windows = windows(config.canvas)
        self._cache: dict = {}

    def __repr__(self):
        sizes = {p: len(b) for p, b in self.banks.items()}
        return f"Pipeline({self.config.name}, canvas {self.config.canvas}, bank sizes {sizes})"

    # ---- the stages, each callable alone -------------------------------------------------
    def load_sketch(self, sketch) -> np.ndarray:
        """Any accepted sketch input → canvas×canvas uint8 (see `dsf.images.load_sketch`)."""
        return load_sketch(sketch, self.config.canvas)

    def encode(self, part: str, crops: np.ndarray) -> np.ndarray:
        """Component embedding: crop(s) of `part` → latent(s) (B×latent, or latent for one crop)."""
        self._check_part(part)
        z = encode(self.networks[f"encoder/{part}"], crops)
        return z[0] if np.ndim(crops) == 2 else z

    def project(self, part: str, latent: np.ndarray, refine: float = 1.0, sex: str | None = None,
                k: int | None = None, solver: str | None = None, neighbours=None) -> tuple[Projection, np.ndarray]:
        """Manifold projection of one latent onto `part`'s bank, then the blend.

        Returns (projection, blended). `neighbours` passes explicit bank rows in a given order
        instead of searching (to reproduce the released code's order with solver="released").
        """
        self._check_part(part)
        self._check_sex(sex)
        if neighbours is None:
            k = k or self.config.k
        proj = project(np.asarray(latent, np.float32), self.banks[part], k, sex=sex,
                       solver=solver or self.config.solver, neighbours=neighbours)
        return proj, blend(np.asarray(latent, np.float32), proj.projected, refine)

    def decode_sketch(self, part: str, latents) -> np.ndarray:
        """Component embedding's sketch decoder: latent(s) of `part` → sketch(es) of the part's
        window size, float32 in the decoder's range (about −1 = black … 1 = white). Returns
        B×S×S, or S×S for one latent vector."""
        self._check_part(part)
        sketches = decode_sketch(self.networks[f"sketch_decoder/{part}"], latents, self.windows[part].size)
        return sketches[0] if np.ndim(latents) == 1 else sketches

    def decode_features(self, part: str, vectors: np.ndarray) -> jt.Var:
        """Feature mapping: latent(s) of `part` → B×C×S×S feature map Var."""
        self._check_part(part)
        with no_grad():
            return decode_features(self.networks[f"feature_decoder/{part}"], vectors, self.windows[part].size)

    def fuse(self, feature_maps: dict) -> jt.Var:
        """Paste the five feature maps into one canvas-sized map (published order and trim)."""
        with no_grad():
            return fuse(feature_maps, self.config.canvas)

    def synthesize(self, fused: jt.Var) -> np.ndarray:
        """Image synthesis: B×C×H×W fused map → B×H×W×3 uint8 faces (the generator alone)."""
        if isinstance(fused, dict):
            raise TypeError("synthesize takes the fused feature map; faces_from_latents takes part → latents")
        return synthesize(self.networks["generator"], fused)

    def faces_from_latents(self, latents: dict) -> np.ndarray:
        """Feature mapping, fusion and image synthesis from explicit part latents (part →
        latent, or part → B×latent for a batch). Returns H×W×3 (or B×H×W×3) uint8."""
        single = np.ndim(latents[PARTS[0]]) == 1
        vectors = {p: np.atleast_2d(np.asarray(latents[p], np.float32)) for p in PARTS}
        n, step = len(vectors[PARTS[0]]), self.max_batch
        images = []
        for i in range(0, n, step):  # in chunks, so a 5×5 grid at 512² stays within a few GB
            maps = {p: self.decode_features(p, v[i:i + step]) for p, v in vectors.items()}
            images.append(self.synthesize(self.fuse(maps)))
            jt.gc()
        images = np.concatenate(images)
        return images[0] if single else images

    @property
    def max_batch(self) -> int:
        """Largest batch `faces_from_latents` runs at once: 4 at 512², 64 at 128²."""
        return max(1, 4 * (512 // self.config.canvas) ** 2)

    def shadow(self, projections: dict) -> np.ndarray:
        """Drawing guidance: each part's K decoded neighbour sketches blended with their
        weights (clipped to [0, 0.5]), composited with feathered window masks → H×W uint8.
        Cached per part: a part is decoded again only when its neighbours or weights change."""
        per_part = {}
        for part in PARTS:
            proj = projections[part]
            key = ("shadow", part, np.asarray(proj.indices).tobytes(), np.asarray(proj.weights).tobytes())
            per_part[part] = self._cached(key, lambda: self._part_shadow(part, proj))
        grey = composite(per_part, self.config.canvas, self._window_masks)
        return np.clip(grey * 255, 0, 255).astype(np.uint8)

    def _part_shadow(self, part: str, projection: Projection) -> np.ndarray:
        decoded = self.decode_sketch(part, self.banks[part].vectors[projection.indices])
        return shadow_from_decoded(decoded, projection.weights)

    @cached_property
    def _window_masks(self) -> dict:
        return window_masks(self.config.canvas)

    @property
    def max_k(self) -> int:
        """The largest K that every part's bank allows in every pool a user can pick (all,
        male, female); an empty pool is no choice (the pipeline reports it when picked)."""
        sizes = []
        for bank in self.banks.values():
            pools = [int(np.sum(bank.labels["sex"] == sex)) for sex in SEXES]
            sizes += [len(bank)] + [n for n in pools if n]
        return min(sizes)

    # ---- everything at once --------------------------------------------------------------
    def run(self, sketch, refine=0.5, sex: str | None = None, k: int | None = None,
            solver: str | None = None, shadow: bool = False) -> Trace:
        """Sketch (path, PIL image or array) → `Trace` with every intermediate.

        refine: float for all parts or dict part → float (see `refine_per_part`);
        sex: None (whole bank), "male" or "female" pool; k: neighbours (default config.k);
        shadow: also compute the drawing-guidance shadow (decodes K sketches per part).
        """
        r = refine_per_part(refine)
        grey, parts, latents, projections, k, solver, timings = self._embed_and_project(sketch, sex, k, solver)
        blended, maps, recomputed = {}, {}, []
        t = time.perf_counter()
        for part in PARTS:
            blended[part] = blend(latents[part], projections[part].projected, r[part])
            key = ("features", part, _digest(parts[part]), sex, k, solver, r[part])
            if self._cache.get(key[:2], (None,))[0] != key:
                recomputed.append(part)
            maps[part] = self._cached(key, lambda: self.decode_features(part, blended[part]))
        jt.sync(list(maps.values()))  # Jittor is lazy: time the decoding here, not inside fuse
        timings["decode_features"] = time.perf_counter() - t

        t = time.perf_counter()
        fused = self.fuse(maps)
        fused.sync()
        timings["fuse"] = time.perf_counter() - t
        t = time.perf_counter()
        image = self.synthesize(fused)[0]
        timings["synthesize"] = time.perf_counter() - t
        shadow_img = None
        if shadow:
            t = time.perf_counter()
            shadow_img = self.shadow(projections)
            timings["shadow"] = time.perf_counter() - t
        return Trace(
            sketch=grey, parts=parts, latents=latents, projections=projections, blended=blended, refine=r, sex=sex, k=k, solver=solver,
            feature_maps={p: m.numpy()[0] for p, m in maps.items()},
            fused=fused.numpy()[0], image=image, shadow=shadow_img,
            timings=timings, recomputed=tuple(recomputed),
        )

    def run_batch(self, sketch, refines: list, sex: str | None = None, k: int | None = None,
                  solver: str | None = None) -> np.ndarray:
        """Render many refine settings of one sketch in one batched pass (for grids).

        refines: list of floats or dicts (as in `run`). Returns len(refines)×H×W×3 uint8.
        Encoding and projection happen once; decoding, fusion and synthesis run batched.
        """
        if not refines:
            raise ValueError("refines is empty")
        settings = [refine_per_part(r) for r in refines]
        _, _, latents, projections, *_ = self._embed_and_project(sketch, sex, k, solver)
        blended = {p: np.stack([blend(latents[p], projections[p].projected, s[p]) for s in settings]) for p in PARTS}
        return self.faces_from_latents(blended)

    def _embed_and_project(self, sketch, sex, k, solver):
        """Load, split, encode and project every part, reusing cached results per part."""
        self._check_sex(sex)
        k, solver = k or self.config.k, solver or self.config.solver
        timings: dict = {}
        t = time.perf_counter()
        grey = self.load_sketch(sketch)
        parts = split_components(grey)
        timings["load+split"] = time.perf_counter() - t
        latents, projections = {}, {}
        for part in PARTS:
            crop_id = _digest(parts[part])
            t = time.perf_counter()
            latents[part] = self._cached(("latent", part, crop_id), lambda: self.encode(part, parts[part]))
            _add(timings, "encode", t)
            t = time.perf_counter()
            projections[part] = self._cached(("projection", part, crop_id, sex, k, solver),
                                             lambda: self.project(part, latents[part], 1.0, sex, k, solver)[0])
            _add(timings, "project", t)
        return grey, parts, latents, projections, k, solver, timings

    # ---- helpers -------------------------------------------------------------------------
    def clear_cache(self) -> None:
        """Forget the per-part results, so the next `run` computes every stage (benchmarks)."""
        self._cache.clear()

    def _cached(self, key, compute):
        # One entry per (kind, part): enough for sliders and strokes, and memory stays flat.
        slot = key[:2]
        hit = self._cache.get(slot)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        self._cache[slot] = (key, value)
        return value

    def _check_part(self, part):
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}; parts are {PARTS}")

    def _check_sex(self, sex):
        if sex is not None and sex not in SEXES:
            raise ValueError(f"sex must be None (all), 'male' or 'female', got {sex!r}")


def _add(timings: dict, stage: str, since: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - since


def load_pipeline(path=None) -> Pipeline:
    """Load a pipeline: `None` → the kit's shipped parameters (params/), a folder with
    `AE_whole/` and `Combine/` → the authors' released parameters, unchanged, or a folder
    in the kit's own layout (config.json + manifest.json)."""
    config, networks, banks, info = params_io.load_model(path)
    return Pipeline(config, networks, banks, info)
