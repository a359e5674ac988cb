"""Manifold projection (paper Fig. 2, step 2): pull a sketch latent toward real sketches.

A hand-drawn sketch is usually not a "realistic" sketch: its component latents v sit off the
manifold of latents that the training sketches occupy, and the feature decoders only learned
to map latents *on* that manifold to plausible features. So each component latent is
replaced by a locally-linear reconstruction from the training bank of that component:

1. find the K nearest bank latents n_1..n_K (squared Euclidean distance);
2. solve weights w, Σw = 1, minimising |v − Σ wᵢ nᵢ|² (as in locally-linear embedding);
3. p = Σ wᵢ nᵢ is the projection; the latent passed on is the blend v' = r·p + (1 − r)·v.

Direction of the blend. This kit uses the released code's name and direction throughout:
`refine` = the component's "part weight" r, with r = 1 the projection only (most realistic)
and r = 0 the raw sketch (most faithful). The paper's blending weight is the opposite,
w_bc = 1 − r (w_bc = 1 trusts the sketch fully).

Two weight solvers (`Config.solver`):
  "exact"     Σw = 1 as a hard constraint, nothing else (the paper).
  "released"  the released code's solve: Σw = 1 too, but written around the first
              neighbour n₀ with one extra least-squares row of 10s, which adds the penalty
              100·(1 − w₀)² and so pulls the result toward n₀. The release's first
              neighbour is not the nearest: its k-NN leaves the K nearest in
              `std::nth_element` order, reproduced by `released_neighbours`
              (`project(..., neighbours="released")`).

Banks are split by sex in the release (6,247 male, 11,456 female latents per component);
a `Bank` holds one component's latents with per-row labels and picks a pool by sex.

numpy only: this module must import instantly and without Jittor (decoding the neighbours
for the drawing-guidance shadow happens elsewhere; `shadow_from_decoded` only blends).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEXES = ("male", "female")

# Singular values of the centred neighbour matrix below this fraction of the largest are
# treated as exact zeros: they arise from exact degeneracies (duplicate neighbours, a query
# inside the neighbours' affine hull, K > D), where inverting rounding noise would give
# wildly wrong weights. Float32 latents carry ~1e-7 relative precision, so genuine structure
# lies far above 1e-10.
_RCOND = 1e-10


# --------------------------------------------------------------------------------------- Bank
class Bank:
    """The training latents of ONE component, with per-row labels.

    vectors: N×D, stored float32 C-contiguous (copied only if needed).
    labels:  dict of per-row arrays (first axis N). `sex` holds "male" / "female" / "" for
             unknown and is filled with "" when absent; `source`, `id`, ... are kept as given.
    """

    def __init__(self, vectors, labels: dict | None = None):
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
            raise ValueError(f"Bank vectors must be a non-empty N×D array, got shape {vectors.shape}")
        if not np.issubdtype(vectors.dtype, np.number):
            raise ValueError(f"Bank vectors must be numeric, got dtype {vectors.dtype}")
        # A read-only view: the cached norms and pools stay valid (the caller's array is untouched).
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32).view()
        self.vectors.flags.writeable = False
        if not np.isfinite(self.vectors).all():
            bad = np.flatnonzero(~np.isfinite(self.vectors).all(axis=1))
            raise ValueError(f"Bank vectors must be finite; rows {bad[:5].tolist()} are not")
        n = len(self.vectors)
        labels = dict(labels or {})
        labels.setdefault("sex", np.full(n, "", dtype="<U6"))
        self.labels = {}
        for name, values in labels.items():
            values = np.asarray(values)
            if values.ndim == 0 or len(values) != n:
                raise ValueError(f"label {name!r} has {values.shape} entries, expected one per row ({n})")
            self.labels[name] = values
        sex = self.labels["sex"].astype(str)
        unknown = set(np.unique(sex)) - {"male", "female", ""}
        if unknown:
            raise ValueError(f"label 'sex' must hold 'male', 'female' or '' (unknown), got {sorted(unknown)}")
        self.labels["sex"] = sex
        # ‖b‖² once: every query's distance is ‖q‖² − 2 q·b + ‖b‖².
        self.norms = np.einsum("ij,ij->i", self.vectors, self.vectors)
        self._pools: dict = {}
        self._pool_arrays: dict = {}

    @classmethod
    def from_sex_split(cls, male=None, female=None, **labels) -> "Bank":
        """One bank from the released per-sex files (male rows first, then female).

        Extra `labels` must already cover all rows in that order.
        """
        parts = [(np.asarray(a, dtype=np.float32), s) for a, s in ((male, "male"), (female, "female")) if a is not None]
        if not parts:
            raise ValueError("from_sex_split needs male and/or female vectors")
        sex = np.concatenate([np.full(len(a), s, dtype="<U6") for a, s in parts])
        return cls(np.concatenate([a for a, _ in parts]), {"sex": sex, **labels})

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __repr__(self) -> str:
        sex = self.labels["sex"]
        return (f"Bank({len(self)}×{self.dim}, male={int((sex == 'male').sum())}, "
                f"female={int((sex == 'female').sum())}, labels={sorted(self.labels)})")

    def pool(self, sex: str | None = None) -> np.ndarray:
        """Row indices (ascending) of the pool: None = all rows, "male" or "female"."""
        if sex is not None and sex not in SEXES:
            raise ValueError(f"sex must be None, 'male' or 'female' (the released script's flag 0 is "
                             f"male, 1 female), got {sex!r}")
        if sex not in self._pools:
            rows = np.arange(len(self)) if sex is None else np.flatnonzero(self.labels["sex"] == sex)
            if rows.size == 0:
                raise ValueError(f"bank has no {sex!r} rows (labels: {self!r})")
            self._pools[sex] = rows
        return self._pools[sex]

    def pool_vectors(self, sex: str | None = None):
        """(rows, vectors, norms) of a pool: views for a contiguous pool (as built by
        `from_sex_split`), else a gathered copy cached on first use, so repeated queries
        never re-gather the bank."""
        rows = self.pool(sex)
        if sex not in self._pool_arrays:
            sel = _rows_view(rows)
            self._pool_arrays[sex] = (self.vectors[sel], self.norms[sel])
        return (rows, *self._pool_arrays[sex])

    def nearest(self, queries, k: int, sex: str | None = None):
        """`nearest_neighbours` within a pool, with indices into the whole bank."""
        rows, vectors, norms = self.pool_vectors(sex)
        idx, dist = nearest_neighbours(vectors, queries, k, norms=norms)
        return rows[idx], dist


# -------------------------------------------------------------------------------------- k-NN
def _rows_view(rows: np.ndarray):
    """A slice when `rows` is one contiguous ascending run (so the bank is viewed, not copied)."""
    if rows.size and (np.diff(rows) == 1).all():
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _search_inputs(bank_vectors: np.ndarray, queries, k, rows) -> tuple:
    """Checked search inputs: (queries as Q×D, whether one vector was given, the bank selection,
    the pool's bank row indices); a clear ValueError for a bad shape, k or row list."""
    if bank_vectors.ndim != 2:
        raise ValueError(f"bank_vectors must be N×D, got shape {bank_vectors.shape}")
    q = np.asarray(queries)
    single = q.ndim == 1
    q = np.atleast_2d(q)
    if q.ndim != 2 or q.shape[1] != bank_vectors.shape[1]:
        raise ValueError(f"queries must be (D,) or Q×D with D={bank_vectors.shape[1]}, got shape {np.shape(queries)}")
    if not np.isfinite(q).all():
        raise ValueError("queries must be finite")
    if rows is None:
        sel, pool_rows = slice(None), np.arange(len(bank_vectors))
    else:
        rows = np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError("rows must be a 1-D array of integer bank row indices")
        sel, pool_rows = _rows_view(rows), rows
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > len(pool_rows):
        raise ValueError(f"k={k} is larger than the pool searched ({len(pool_rows)} rows)")
    return q, single, sel, pool_rows


def nearest_neighbours(bank_vectors, queries, k: int, rows=None, norms=None):
    """The k nearest bank rows of each query, by squared Euclidean distance.

    bank_vectors: N×D. queries: Q×D, or one vector (D,) (then both results are 1-D).
    rows: optional bank row indices forming the pool to search (e.g. `Bank.pool("male")`).
    norms: optional precomputed ‖b‖² of all N bank rows (`Bank.norms`); saves a pass.
    Returns (indices into the bank, Q×k, nearest first; squared distances, Q×k, float64).

    Ties are broken by the smaller bank index, so results are deterministic. The search
    runs in the bank's precision with one BLAS matmul (‖q‖² − 2 q·Bᵀ + ‖b‖²); the few
    candidates within rounding of the k-th distance are then re-ranked with distances
    recomputed directly in float64, so the order is not at the mercy of cancellation.
    """
    bank_vectors = np.asarray(bank_vectors)
    q, single, sel, pool_rows = _search_inputs(bank_vectors, queries, k, rows)
    B = bank_vectors[sel]
    q64 = q.astype(np.float64)
    bn = np.einsum("ij,ij->i", B, B) if norms is None else np.asarray(norms)[sel]
    qb = q.astype(B.dtype, copy=False)
    approx = np.einsum("ij,ij->i", qb, qb)[:, None] - 2 * (qb @ B.T) + bn[None, :]
    kth = np.partition(approx, k - 1, axis=1)[:, k - 1]
    # Worst-case rounding of the expansion (dot products of length D, then two additions):
    # anything this close to the k-th distance may truly belong to the k nearest.
    tol = 4 * q.shape[1] * np.finfo(B.dtype).eps * (np.einsum("ij,ij->i", q64, q64) + bn.max())

    idx = np.empty((len(q), k), dtype=np.int64)
    dist = np.empty((len(q), k), dtype=np.float64)
    for i in range(len(q)):
        cand = np.flatnonzero(approx[i] <= kth[i] + tol[i])  # ascending positions in the pool
        diff = B[cand].astype(np.float64) - q64[i]
        d = (diff * diff).sum(axis=1)
        order = np.lexsort((cand, d))[:k]  # by distance, then by index
        idx[i] = pool_rows[cand[order]]
        dist[i] = d[order]
    return (idx[0], dist[0]) if single else (idx, dist)


def released_neighbours(bank: Bank, v, k: int, sex: str | None = None) -> np.ndarray:
    """The k nearest pool rows in the order the released code hands them to its solver.

    The release measures each row of the per-sex bank with float32 differences and squares,
    summed in double and stored as float32, then calls libstdc++ `std::nth_element` on
    (distance, row) pairs with nth = k and keeps the first k: the right set, in an order
    that depends on the data. Since `solver="released"` favours the first neighbour, this
    order matters; it is emulated here step for step (introselect with median-of-3 pivots,
    as in GCC's libstdc++). Row positions follow the pool order, which is the released file
    order for a bank built with `Bank.from_sex_split`. Single vector v (D,) only.
    """
    v = np.asarray(v, dtype=np.float32)
    if v.shape != (bank.dim,):
        raise ValueError(f"v must be one latent of shape ({bank.dim},), got {v.shape}")
    rows, vectors, _ = bank.pool_vectors(sex)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(rows):
        raise ValueError(f"k must be an integer in [1, {len(rows)}] (the pool size), got {k!r}")
    sq = np.ascontiguousarray(((v - vectors) ** 2).T)  # float32, D×N
    acc = np.zeros(len(rows))
    for col in sq:  # double accumulation in d order, as the release's loop
        acc += col
    bits = acc.astype(np.float32).view(np.uint32).astype(np.int64)
    # (distance, row) pairs as single ints: the bits of a non-negative float32 sort like it.
    keys = ((bits << 32) | np.arange(len(rows))).tolist()
    _nth_element(keys, k)
    return rows[[key & 0xFFFFFFFF for key in keys[:k]]]


def _nth_element(a: list, nth: int) -> None:
    """libstdc++ std::nth_element(a.begin(), a.begin() + nth, a.end()) on distinct keys."""
    first, last = 0, len(a)
    if nth >= last:
        return
    depth = 2 * (last.bit_length() - 1)
    while last - first > 3:
        if depth == 0:  # libstdc++ switches to heap selection; never seen on real data
            raise NotImplementedError("introselect depth limit reached; heap_select not emulated")
        depth -= 1
        # __unguarded_partition_pivot: median of (first+1, mid, last-1) moved to first ...
        x, y, z = first + 1, first + (last - first) // 2, last - 1
        if a[x] < a[y]:
            m = y if a[y] < a[z] else (z if a[x] < a[z] else x)
        else:
            m = x if a[x] < a[z] else (z if a[y] < a[z] else y)
        a[first], a[m] = a[m], a[first]
        # ... then Hoare partition of (first+1, last) around it.
        pivot, lo, hi = a[first], first + 1, last
        while True:
            while a[lo] < pivot:
                lo += 1
            hi -= 1
            while pivot < a[hi]:
                hi -= 1
            if lo >= hi:
                break
            a[lo], a[hi] = a[hi], a[lo]
            lo += 1
        if lo <= nth:
            first = lo
        else:
            last = lo
    a[first:last] = sorted(a[first:last])  # insertion sort of ≤ 3 distinct keys


# ------------------------------------------------------------------------------------ weights
def locally_linear_weights(v, neighbours, solver: str = "exact") -> np.ndarray:
    """Weights w (K,) reconstructing v from its neighbours (K×D) with Σw = 1.

    Batched too: v Q×D with neighbours Q×K×D gives Q×K.

    solver="exact" (paper): minimise |v − Σ wᵢ nᵢ|² subject to Σw = 1 exactly. With the
      neighbours centred on their mean c (M = N − c) and w = 1/K + δ, the residual is
      (v − c) − Mᵀδ, and since Mᵀ1 = 0 the minimum-norm least-squares δ = pinv(Mᵀ)(v − c)
      already has Σδ = 0. This is the LLE solve done by an SVD of M rather than by the
      Gram matrix G = (N − v)(N − v)ᵀ, so the condition number is not squared and no
      Tikhonov term (which biases w) is needed; exact degeneracies (duplicate neighbours,
      v inside the affine hull, K > D) are handled by the pseudo-inverse cut-off, which
      picks the minimum-norm w among the equally good ones. Returns float64.
    solver="released": the released code's solve. It keeps Σw = 1 exactly by writing
      w = [1 − Σx, x₁ … x_{K−1}] around the FIRST neighbour n₀, and appends one row of 10s:
      least squares of [(nᵢ − n₀)ᵀ ; 10·1ᵀ] x ≈ [v − n₀ ; 0], i.e. it minimises
      |v − Σ wᵢ nᵢ|² + 100·(1 − w₀)². The "soft" part is that ridge pulling w₀ toward 1, so
      the answer depends on which neighbour comes first (see `released_neighbours`). As in
      the release the differences are taken in float32; the release then solves the normal
      equations in float64, here np.linalg.lstsq solves the same problem in float64 (same
      minimiser, better conditioned, and defined for duplicate neighbours). Returns float64.
    """
    v = np.asarray(v, dtype=np.float64)
    nb = np.asarray(neighbours, dtype=np.float64)
    if nb.ndim != v.ndim + 1 or v.ndim not in (1, 2) or nb.shape[:-2] != v.shape[:-1] or nb.shape[-1] != v.shape[-1]:
        raise ValueError(f"expected v (D,) with neighbours K×D, or v Q×D with neighbours Q×K×D; "
                         f"got v {v.shape}, neighbours {nb.shape}")
    if nb.shape[-2] == 0:
        raise ValueError("need at least one neighbour")
    if not (np.isfinite(v).all() and np.isfinite(nb).all()):
        raise ValueError("v and neighbours must be finite")
    K = nb.shape[-2]
    if solver == "exact":
        c = nb.mean(axis=-2, keepdims=True)
        m_t = np.swapaxes(nb - c, -1, -2)  # (..., D, K)
        delta = (np.linalg.pinv(m_t, rcond=_RCOND) @ (v - c[..., 0, :])[..., None])[..., 0]
        delta -= delta.mean(axis=-1, keepdims=True)  # remove rounding along 1 (Σδ = 0 exactly)
        return 1.0 / K + delta
    if solver == "released":
        def one(vi, ni):  # float32 inputs, as the release computes the differences
            a = np.vstack([(ni[1:] - ni[0]).T.astype(np.float64), np.full((1, K - 1), 10.0)])
            b = np.append((vi - ni[0]).astype(np.float64), 0.0)
            x = np.linalg.lstsq(a, b, rcond=None)[0] if K > 1 else np.zeros(0)
            return np.r_[1.0 - x.sum(), x]
        v32, nb32 = v.astype(np.float32), nb.astype(np.float32)
        return one(v32, nb32) if v.ndim == 1 else np.stack([one(vi, ni) for vi, ni in zip(v32, nb32)])
    raise ValueError(f"solver must be 'exact' or 'released', got {solver!r}")


# ------------------------------------------------------------------------------------ project
@dataclass
class Projection:
    """Result of `project`: bank rows used (in the order the weights refer to), their
    weights, and p = Σ wᵢ nᵢ (bank dtype). `distances` are the squared distances when the
    neighbours were searched (None when the caller passed them)."""

    indices: np.ndarray
    weights: np.ndarray
    projected: np.ndarray
    distances: np.ndarray | None = None


def project(v, bank: Bank, k: int | None, sex: str | None = None, solver: str = "exact",
            neighbours=None) -> Projection:
    """Project latent(s) v ((D,) or Q×D) onto the bank's manifold (K nearest + LLE weights).

    sex picks the pool (None = all rows). `neighbours` replaces the sorted search with
    explicit bank row indices, (K,) or Q×K, used in the given order, or with "released" for
    the released code's order (`released_neighbours`); the order matters to
    solver="released". With explicit indices `k` may be None, or must equal K.
    """
    v = np.asarray(v)
    if v.ndim not in (1, 2) or v.shape[-1] != bank.dim:
        raise ValueError(f"v must be (D,) or Q×D with D={bank.dim}, got shape {v.shape}")
    distances = None
    if isinstance(neighbours, str):
        if neighbours != "released":
            raise ValueError(f"neighbours must be row indices or 'released', got {neighbours!r}")
        rel = [released_neighbours(bank, vi, k, sex) for vi in np.atleast_2d(v)]
        neighbours = rel[0] if v.ndim == 1 else np.stack(rel)
    if neighbours is None:
        if k is None:
            raise ValueError("give k, or explicit neighbours")
        indices, distances = bank.nearest(v, k, sex)
    else:
        indices = np.asarray(neighbours)
        if indices.ndim != v.ndim or not np.issubdtype(indices.dtype, np.integer) or indices.shape[:-1] != v.shape[:-1]:
            raise ValueError(f"neighbours must be integer row indices shaped (K,) or Q×K matching v, got {indices.shape}")
        if k is not None and indices.shape[-1] != k:
            raise ValueError(f"k={k} but {indices.shape[-1]} neighbours were given")
        if indices.size and (indices.min() < 0 or indices.max() >= len(bank)):
            raise ValueError(f"neighbour indices must lie in [0, {len(bank)})")
        if sex is not None and not np.isin(indices, bank.pool(sex)).all():
            raise ValueError(f"some neighbours are not in the {sex!r} pool")
    nb = bank.vectors[indices]
    weights = locally_linear_weights(v, nb, solver)
    projected = np.einsum("...k,...kd->...d", weights.astype(np.float64), nb.astype(np.float64))
    return Projection(indices, weights, projected.astype(bank.vectors.dtype), distances)


def blend(v, projected, refine: float):
    """refine·projected + (1 − refine)·v.

    `refine` is the released code's part weight r: 1 = fully projected (realistic), 0 = the
    raw sketch latent (faithful). The paper's blending weight is w_bc = 1 − refine.
    """
    try:
        r = float(refine)
    except (TypeError, ValueError):
        raise ValueError(f"refine must be a number in [0, 1], got {refine!r}") from None
    if not 0.0 <= r <= 1.0:  # also rejects NaN
        raise ValueError(f"refine must lie in [0, 1] (1 = projection only, 0 = raw sketch), got {refine!r}")
    v, projected = np.asarray(v), np.asarray(projected)
    if v.shape != projected.shape:
        raise ValueError(f"v {v.shape} and projected {projected.shape} must have the same shape")
    return r * projected + (1.0 - r) * v


# ------------------------------------------------------------------------------------- shadow
def shadow_from_decoded(decoded, weights) -> np.ndarray:
    """Drawing-guidance shadow from the K decoded neighbour sketches.

    decoded: K×S×S, D(nᵢ) in the sketch decoder's range (−1 black … 1 white; not clipped,
    the decoder has no tanh). weights: (K,). Returns S×S float32 in [0, 1], 1 = white:
    shadow = 1 − Σ clip(wᵢ, 0, 0.5)·(1 − D(nᵢ))/2, clipped to [0, 1]. The 0.5 cap keeps a
    single dominant neighbour at half ink, a hint rather than a stroke.
    """
    decoded = np.asarray(decoded, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32)
    if decoded.ndim != 3 or w.shape != decoded.shape[:1]:
        raise ValueError(f"expected decoded K×S×S and weights (K,), got {decoded.shape} and {w.shape}")
    ink = np.tensordot(np.clip(w, 0.0, 0.5), (1.0 - decoded) / 2, axes=1)
    return np.clip(1.0 - ink, 0.0, 1.0).astype(np.float32)
