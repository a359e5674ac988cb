"""Manifold projection (dsf.manifold): numpy only, no Jittor, no shared data."""
import numpy as np
import pytest

from dsf.manifold import (Bank, Projection, blend, locally_linear_weights, nearest_neighbours,
                          project, shadow_from_decoded)


def brute_knn(bank, q, k, rows=None):
    rows = np.arange(len(bank)) if rows is None else np.asarray(rows)
    d = np.linalg.norm(bank[rows].astype(np.float64) - q.astype(np.float64), axis=1) ** 2
    order = np.argsort(d, kind="stable")[:k]
    return rows[order], d[order]


def kkt_weights(v, nb):
    """min |v − Nᵀw|² s.t. Σw = 1 via the KKT system of the Gram form."""
    K = len(nb)
    y = nb.astype(np.float64) - v.astype(np.float64)
    a = np.zeros((K + 1, K + 1))
    a[:K, :K] = 2 * y @ y.T
    a[:K, K] = a[K, :K] = 1
    return np.linalg.solve(a, np.r_[np.zeros(K), 1.0])[:K]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng, rng.standard_normal((600, 32)).astype(np.float32)


def make_bank(vectors):
    sex = np.where(np.arange(len(vectors)) % 3 == 0, "male", "female")
    sex[5] = ""
    return Bank(vectors, {"sex": sex, "id": np.arange(len(vectors))})


# ---------------------------------------------------------------------------------- k-NN
def test_knn_matches_brute_force(data):
    rng, b = data
    q = rng.standard_normal((7, 32)).astype(np.float32)
    idx, dist = nearest_neighbours(b, q, 10)
    assert idx.shape == dist.shape == (7, 10)
    for i in range(7):
        ri, rd = brute_knn(b, q[i], 10)
        np.testing.assert_array_equal(idx[i], ri)
        np.testing.assert_allclose(dist[i], rd, rtol=1e-5)
        assert np.all(np.diff(dist[i]) >= 0)


def test_knn_single_vector_and_precomputed_norms(data):
    rng, b = data
    q = rng.standard_normal(32).astype(np.float32)
    idx, dist = nearest_neighbours(b, q, 5)
    assert idx.shape == dist.shape == (5,)
    np.testing.assert_array_equal(idx, brute_knn(b, q, 5)[0])
    bank = Bank(b)
    idx2, _ = nearest_neighbours(bank.vectors, q, 5, norms=bank.norms)
    np.testing.assert_array_equal(idx, idx2)


def test_knn_query_in_bank_finds_itself(data):
    _, b = data
    idx, dist = nearest_neighbours(b, b[[3, 77]], 1)
    np.testing.assert_array_equal(idx[:, 0], [3, 77])
    np.testing.assert_allclose(dist[:, 0], 0, atol=1e-6)


def test_knn_ties_smaller_index_first(data):
    rng, b = data
    b = b.copy()
    b[[40, 400, 10]] = b[200]  # four identical rows: 10, 40, 200, 400
    idx, _ = nearest_neighbours(b, b[200] + 1e-3, 4)
    np.testing.assert_array_equal(idx, [10, 40, 200, 400])
    idx, _ = nearest_neighbours(b, b[200] + 1e-3, 2)
    np.testing.assert_array_equal(idx, [10, 40])


def test_knn_pools_by_sex(data):
    rng, b = data
    bank = make_bank(b)
    q = rng.standard_normal((3, 32)).astype(np.float32)
    for sex in (None, "male", "female"):
        rows = bank.pool(sex)
        idx, dist = bank.nearest(q, 6, sex)
        for i in range(3):
            ri, rd = brute_knn(b, q[i], 6, rows)
            np.testing.assert_array_equal(idx[i], ri)
            np.testing.assert_allclose(dist[i], rd, rtol=1e-5)
        if sex:
            assert (bank.labels["sex"][idx] == sex).all()
    # a contiguous pool (sliced, not copied) gives the same as the explicit rows
    idx, _ = nearest_neighbours(b, q, 4, rows=np.arange(100, 300))
    for i in range(3):
        np.testing.assert_array_equal(idx[i], brute_knn(b, q[i], 4, np.arange(100, 300))[0])


def test_knn_errors(data):
    _, b = data
    with pytest.raises(ValueError, match="larger than the pool"):
        nearest_neighbours(b, b[0], 601)
    with pytest.raises(ValueError, match="larger than the pool"):
        nearest_neighbours(b, b[0], 11, rows=np.arange(10))
    with pytest.raises(ValueError, match="positive integer"):
        nearest_neighbours(b, b[0], 0)
    with pytest.raises(ValueError, match="D=32"):
        nearest_neighbours(b, np.zeros(31), 3)
    with pytest.raises(ValueError, match="finite"):
        nearest_neighbours(b, np.full(32, np.nan), 3)


# ------------------------------------------------------------------------------- weights
def test_exact_weights_reproduce_point_in_affine_hull(data):
    rng, b = data
    nb = b[:10]
    w_true = rng.standard_normal(10)
    w_true /= w_true.sum()
    v = w_true @ nb.astype(np.float64)
    w = locally_linear_weights(v, nb, "exact")
    assert abs(w.sum() - 1) < 1e-6
    rec = w @ nb.astype(np.float64)
    assert np.linalg.norm(rec - v) <= 1e-4 * np.linalg.norm(v)
    np.testing.assert_allclose(w, w_true, atol=1e-6)  # affinely independent neighbours: unique


def test_exact_weights_match_kkt(data):
    rng, b = data
    for K in (1, 3, 10, 15):
        nb = b[rng.choice(len(b), K, replace=False)]
        v = rng.standard_normal(32).astype(np.float32)
        w = locally_linear_weights(v, nb, "exact")
        assert w.shape == (K,) and abs(w.sum() - 1) < 1e-9
        np.testing.assert_allclose(w, kkt_weights(v, nb), rtol=1e-7, atol=1e-9)


def test_exact_weights_batched(data):
    rng, b = data
    v = rng.standard_normal((4, 32))
    nb = b[rng.integers(0, len(b), (4, 6))]
    w = locally_linear_weights(v, nb, "exact")
    assert w.shape == (4, 6)
    for i in range(4):
        np.testing.assert_allclose(w[i], locally_linear_weights(v[i], nb[i]), atol=1e-12)


def test_exact_weights_degenerate(data):
    rng, b = data
    # duplicate neighbours: the weight is shared, the sum stays 1, the fit is unchanged
    nb = np.concatenate([b[:5], b[:1]])
    v = rng.standard_normal(32)
    w = locally_linear_weights(v, nb)
    assert abs(w.sum() - 1) < 1e-9 and abs(w[0] - w[5]) < 1e-9
    np.testing.assert_allclose(w[:5] + np.r_[w[5], 0, 0, 0, 0], kkt_weights(v, b[:5]), atol=1e-9)
    # more neighbours than dimensions: v is reproduced exactly
    nb = rng.standard_normal((12, 4))
    v = rng.standard_normal(4)
    w = locally_linear_weights(v, nb)
    assert abs(w.sum() - 1) < 1e-9
    np.testing.assert_allclose(w @ nb, v, atol=1e-9)


def test_released_weights_are_stacked_lstsq(data):
    """The release: w = [1 − Σx, x], x from [(nᵢ − n₀)ᵀ ; 10·1ᵀ] x ≈ [v − n₀ ; 0]."""
    rng, b = data
    nb = b[:15]
    v = rng.standard_normal(32).astype(np.float32)
    w = locally_linear_weights(v, nb, "released")
    a = np.vstack([(nb[1:] - nb[0]).T.astype(np.float64), np.full((1, 14), 10.0)])
    x = np.linalg.lstsq(a, np.r_[(v - nb[0]).astype(np.float64), 0.0], rcond=None)[0]
    np.testing.assert_allclose(w, np.r_[1 - x.sum(), x], rtol=1e-10, atol=1e-12)
    x_normal = np.linalg.solve(a.T @ a, a.T @ np.r_[v - nb[0], 0.0])  # the release's own route
    np.testing.assert_allclose(w[1:], x_normal, rtol=1e-8, atol=1e-10)
    assert abs(w.sum() - 1) < 1e-12  # the constraint is exact; the 10s row is a ridge on w₀
    exact = locally_linear_weights(v, nb, "exact")
    assert np.abs(w - exact).max() > 1e-3
    assert w[0] > exact[0]  # pulled toward the first neighbour
    # it minimises |v − Nᵀw|² + 100(1 − w₀)² over Σw = 1: no perturbation does better
    cost = lambda w_: np.sum((v - w_ @ nb.astype(np.float64)) ** 2) + 100 * (1 - w_[0]) ** 2
    for _ in range(20):
        d = rng.standard_normal(15) * 1e-3
        assert cost(w + d - d.mean()) >= cost(w)
    # order matters: reversing the neighbours is not a permutation of the answer
    wb = locally_linear_weights(np.stack([v, v]), np.stack([nb, nb[::-1]]), "released")
    np.testing.assert_allclose(wb[0], w, atol=1e-12)
    assert np.abs(wb[1][::-1] - w).max() > 1e-3
    assert locally_linear_weights(v, nb[:1], "released").tolist() == [1.0]


def test_released_neighbours_order():
    """Fixtures from g++ 12 libstdc++ std::nth_element on the same float32 data (-Ofast)."""
    from dsf.manifold import released_neighbours

    rng = np.random.default_rng(7)
    b = rng.standard_normal((300, 16)).astype(np.float32)
    q = rng.standard_normal(16).astype(np.float32)
    got = released_neighbours(Bank(b), q, 10)
    np.testing.assert_array_equal(got, [240, 175, 163, 150, 265, 223, 77, 151, 23, 270])
    assert sorted(got) == sorted(nearest_neighbours(b, q, 10)[0])  # same set, other order
    rng = np.random.default_rng(7)
    b = rng.standard_normal((2000, 64)).astype(np.float32)
    q = rng.standard_normal(64).astype(np.float32)
    np.testing.assert_array_equal(released_neighbours(Bank(b), q, 15),
                                  [257, 1658, 1335, 996, 55, 1812, 1697, 1992, 1912, 1287, 933, 1521, 1660, 1312, 1081])
    # a pool: positions follow the pool's row order, results are bank rows of that sex
    bank = Bank.from_sex_split(b[:500], b[500:])
    got = released_neighbours(bank, q, 15, "female")
    assert (got >= 500).all()
    np.testing.assert_array_equal(got, 500 + released_neighbours(Bank(b[500:]), q, 15))
    p = project(q, bank, 15, sex="female", solver="released", neighbours="released")
    np.testing.assert_array_equal(p.indices, got)
    with pytest.raises(ValueError, match="k must be"):
        released_neighbours(bank, q, 501, "male")


def test_weights_errors(data):
    _, b = data
    with pytest.raises(ValueError, match="solver"):
        locally_linear_weights(b[0], b[:3], "lle")
    with pytest.raises(ValueError, match="neighbours"):
        locally_linear_weights(b[0], b[:3, :5])


# ------------------------------------------------------------------------------- project
def test_project_search_and_explicit_neighbours(data):
    rng, b = data
    bank = make_bank(b)
    v = rng.standard_normal(32).astype(np.float32)
    p = project(v, bank, 8, sex="female")
    assert isinstance(p, Projection) and p.indices.shape == p.weights.shape == (8,)
    assert (bank.labels["sex"][p.indices] == "female").all()
    assert p.projected.shape == (32,) and p.projected.dtype == np.float32
    np.testing.assert_allclose(p.projected, p.weights @ b[p.indices].astype(np.float64), rtol=1e-5)
    np.testing.assert_array_equal(p.indices, brute_knn(b, v, 8, bank.pool("female"))[0])
    # explicit order is used as given (the released solver favours the first one)
    order = p.indices[::-1].copy()
    q = project(v, bank, None, solver="released", neighbours=order)
    np.testing.assert_array_equal(q.indices, order)
    assert q.distances is None and q.weights.dtype == np.float64
    np.testing.assert_allclose(q.weights, locally_linear_weights(v, b[order], "released"))
    # batched
    pb = project(np.stack([v, v]), bank, 8, sex="female")
    np.testing.assert_allclose(pb.projected[1], p.projected, rtol=1e-6)


def test_project_errors(data):
    _, b = data
    bank = make_bank(b)
    with pytest.raises(ValueError, match="k=3"):
        project(b[0], bank, 3, neighbours=[1, 2])
    with pytest.raises(ValueError, match="lie in"):
        project(b[0], bank, None, neighbours=[1, 600])
    with pytest.raises(ValueError, match="'male' pool"):
        project(b[0], bank, None, sex="male", neighbours=[0, 1])
    with pytest.raises(ValueError, match="give k"):
        project(b[0], bank, None)


# --------------------------------------------------------------------------------- blend
def test_blend_endpoints_and_validation(data):
    rng, b = data
    v, p = b[0], b[1]
    np.testing.assert_array_equal(blend(v, p, 0), v)
    np.testing.assert_array_equal(blend(v, p, 1.0), p)
    np.testing.assert_allclose(blend(v, p, 0.25), 0.25 * p + 0.75 * v, rtol=1e-6)
    assert blend(v, p, 0.5).dtype == np.float32
    for bad in (-0.1, 1.01, float("nan"), "x"):
        with pytest.raises(ValueError, match="refine"):
            blend(v, p, bad)
    with pytest.raises(ValueError, match="same shape"):
        blend(v, p[:3], 0.5)


# -------------------------------------------------------------------------------- shadow
def test_shadow():
    white = np.ones((3, 8, 8), np.float32)
    np.testing.assert_array_equal(shadow_from_decoded(white, [0.3, 0.3, 0.4]), 1)
    black = -np.ones((1, 8, 8), np.float32)
    np.testing.assert_allclose(shadow_from_decoded(black, [1.0]), 0.5)  # weight capped at 0.5
    np.testing.assert_allclose(shadow_from_decoded(black, [-2.0]), 1.0)  # negative weights ignored
    three_black = -np.ones((3, 4, 4), np.float32)
    out = shadow_from_decoded(three_black, [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(out, 0)  # clipped at black
    mixed = np.stack([np.full((2, 2), -1.0), np.full((2, 2), 0.0)])
    np.testing.assert_allclose(shadow_from_decoded(mixed, [0.2, 0.4]), 1 - 0.2 - 0.4 * 0.5)
    assert out.shape == (4, 4) and out.dtype == np.float32
    with pytest.raises(ValueError):
        shadow_from_decoded(white, [1.0, 0.0])


# ---------------------------------------------------------------------------------- Bank
def test_bank_basics(data):
    _, b = data
    bank = make_bank(b.astype(np.float64))
    assert len(bank) == 600 and bank.dim == 32
    assert bank.vectors.dtype == np.float32 and bank.vectors.flags.c_contiguous
    np.testing.assert_allclose(bank.norms, (b.astype(np.float64) ** 2).sum(1), rtol=1e-5)
    assert len(bank.pool()) == 600
    assert len(bank.pool("male")) + len(bank.pool("female")) == 599  # row 5 is unknown
    assert "male=" in repr(bank)
    split = Bank.from_sex_split(b[:10], b[10:30])
    assert list(split.pool("male")) == list(range(10)) and list(split.pool("female")) == list(range(10, 30))
    assert (Bank(b).labels["sex"] == "").all()


def test_bank_validation(data):
    _, b = data
    with pytest.raises(ValueError, match="N×D"):
        Bank(b[0])
    with pytest.raises(ValueError, match="N×D"):
        Bank(np.zeros((0, 4)))
    bad = b.copy()
    bad[7, 3] = np.inf
    with pytest.raises(ValueError, match=r"finite.*\[7\]"):
        Bank(bad)
    with pytest.raises(ValueError, match="label 'id'"):
        Bank(b, {"id": np.arange(5)})
    with pytest.raises(ValueError, match="'sex'"):
        Bank(b, {"sex": np.ones(600, int)})
    bank = Bank(b)
    with pytest.raises(ValueError, match="no 'male' rows"):
        bank.pool("male")
    with pytest.raises(ValueError, match="sex must be"):
        bank.pool(1)
