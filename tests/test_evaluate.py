"""dsf.evaluate: the metrics on constructed inputs, and the whole evaluation end to end on a
tiny random-weight pipeline with in-memory packs (no data, no trained parameters)."""
import json

import numpy as np
import pytest

from dsf.config import PARTS
from dsf.evaluate import evaluate, gaussian_window, l1, l1_at_photo_colour, l1_chroma, ssim, ssim_map, subset_indices

from conftest import TINY, drawn_face


def _img(seed=0, shape=(32, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _smooth_img(shape=(48, 48, 3)):
    yy, xx = np.mgrid[:shape[0], :shape[1]] / shape[0]
    base = 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)
    return np.stack([base, base ** 1.5, 1 - base], -1)[..., :shape[2]]


# ----------------------------------------------------------------------------------- metrics
def test_identical_images_l1_zero_ssim_one():
    a = _img()
    assert l1(a, a) == 0.0
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    batch = np.stack([_img(1), _img(2)])
    np.testing.assert_allclose(l1(batch, batch), 0.0)
    np.testing.assert_allclose(ssim(batch, batch), 1.0, atol=1e-12)
    f = _smooth_img()
    assert ssim(f, f, mode="luma") == pytest.approx(1.0, abs=1e-12)


def test_l1_known_values_and_scaling():
    black, white = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8)
    assert l1(black, white) == pytest.approx(1.0)
    half = white.copy()
    half[:8] = 0
    assert l1(black, half) == pytest.approx(0.5)
    # uint8 and the same image as floats in [0, 1] agree
    a, b = _img(3), _img(4)
    assert l1(a, b) == pytest.approx(l1(a / 255.0, b / 255.0))
    assert ssim(a, b) == pytest.approx(ssim(a / 255.0, b / 255.0))
    # batch = per-image values
    np.testing.assert_allclose(l1(np.stack([a, b]), np.stack([b, b])), [l1(a, b), 0.0])


def test_l1_at_photo_colour_forgives_overall_colour_only():
    photo = _smooth_img()
    tinted = np.clip(photo + np.array([0.1, -0.05, 0.2]) * (photo < 0.75), 0, 1)  # a tint, kept in range
    assert l1(tinted, photo) > 0.05
    assert l1_at_photo_colour(tinted, photo) < 0.15 * l1(tinted, photo)
    # structure is not forgiven: a mirrored photo has the same mean colour
    mirrored = photo[:, ::-1]
    assert l1_at_photo_colour(mirrored, photo) == pytest.approx(l1(mirrored, photo))
    np.testing.assert_allclose(l1_at_photo_colour(np.stack([tinted, photo]), np.stack([photo, photo])),
                               [l1_at_photo_colour(tinted, photo), 0.0], atol=1e-12)


def test_l1_chroma_counts_a_cast_not_lightness():
    photo = _smooth_img()
    darker = photo - 0.08  # darker in every channel alike: no cast (the test image stays ≥ 0)
    green = np.clip(photo + np.array([-0.05, 0.1, -0.05]) * (photo < 0.85), 0, 1)
    assert l1_chroma(photo, photo) == 0.0
    assert l1_chroma(darker, photo) == pytest.approx(0.0, abs=1e-12)
    assert l1_chroma(green, photo) > 0.05
    assert l1(darker, photo) > l1(green, photo)  # while plain L1 ranks them the other way
    np.testing.assert_allclose(l1_chroma(np.stack([green, photo]), np.stack([photo, photo])),
                               [l1_chroma(green, photo), 0.0], atol=1e-12)


def test_ssim_symmetric_and_bounded():
    a, b = _img(5), _img(6)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)
    assert -1.0 <= ssim(a, b) < 0.2  # independent noise: nearly uncorrelated


def test_ssim_decreases_with_noise():
    x = _smooth_img()
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(x.shape)
    values = [ssim(x, np.clip(x + s * noise, 0, 1)) for s in (0.0, 0.02, 0.05, 0.1, 0.2)]
    assert values[0] == pytest.approx(1.0)
    assert all(b < a for a, b in zip(values, values[1:])), values


def test_constant_shift_hurts_ssim_less_than_noise_of_equal_l1():
    x = _smooth_img() * 0.8 + 0.1  # keep x + shift inside [0, 1]
    shift = 0.05
    shifted = x + shift
    rng = np.random.default_rng(1)
    noisy = np.clip(x + rng.choice([-shift, shift], size=x.shape), 0, 1)
    assert l1(x, shifted) == pytest.approx(l1(x, noisy), rel=1e-6)
    assert ssim(x, shifted) > ssim(x, noisy) + 0.2
    assert ssim(x, shifted) > 0.9


def test_ssim_matches_brute_force_per_window():
    rng = np.random.default_rng(2)
    a, b = rng.random((14, 13, 2)), rng.random((14, 13, 2))
    b = 0.6 * a + 0.4 * b  # correlated, so SSIM is well away from 0
    w = np.outer(gaussian_window(), gaussian_window())
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    expect = np.zeros((4, 3, 2))
    for i in range(4):
        for j in range(3):
            for c in range(2):
                x, y = a[i:i + 11, j:j + 11, c], b[i:i + 11, j:j + 11, c]
                mx, my = (w * x).sum(), (w * y).sum()
                vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
                cxy = (w * (x - mx) * (y - my)).sum()
                expect[i, j, c] = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    np.testing.assert_allclose(ssim_map(a, b), expect, rtol=1e-9, atol=1e-12)
    assert ssim(a, b) == pytest.approx(expect.mean(), rel=1e-9)


def test_ssim_float32_close_to_float64():
    x = _smooth_img()
    y = np.clip(x + 0.05 * np.random.default_rng(4).standard_normal(x.shape), 0, 1)
    batch_x, batch_y = np.stack([x, y]), np.stack([y, y])
    np.testing.assert_allclose(ssim(batch_x, batch_y, dtype=np.float32), ssim(batch_x, batch_y), atol=1e-5)


def test_ssim_luma_equals_rgb_on_grey_images():
    g = _smooth_img()[..., :1]
    a = np.repeat(g, 3, -1)
    b = np.repeat(np.clip(g + 0.05 * np.random.default_rng(3).standard_normal(g.shape), 0, 1), 3, -1)
    assert ssim(a, b, mode="luma") == pytest.approx(ssim(a, b), rel=1e-9)
    assert ssim(a[..., 0], b[..., 0]) == pytest.approx(ssim(a, b), rel=1e-9)  # H×W grey input


def test_metric_errors():
    with pytest.raises(ValueError, match="same shape"):
        l1(_img(shape=(8, 8, 3)), _img(shape=(8, 9, 3)))
    with pytest.raises(ValueError, match="smaller than"):
        ssim(_img(shape=(8, 8, 3)), _img(shape=(8, 8, 3)))
    with pytest.raises(ValueError, match="mode"):
        ssim(_img(), _img(), mode="lab")


def test_subset_indices():
    np.testing.assert_array_equal(subset_indices(5, None), np.arange(5))
    np.testing.assert_array_equal(subset_indices(5, 9), np.arange(5))
    s = subset_indices(100, 4)
    assert s[0] == 0 and s[-1] == 99 and len(s) == 4
    with pytest.raises(ValueError):
        subset_indices(5, 0)


# ------------------------------------------------------------------------------- end to end
def _sketch(rng, canvas=128):
    """drawn_face plus a few random strokes, so every sketch encodes differently."""
    s = drawn_face(canvas)
    for _ in range(6):
        y, x = rng.integers(10, canvas - 20, 2)
        if rng.random() < 0.5:
            s[y, x:x + rng.integers(5, 18)] = 0
        else:
            s[y:y + rng.integers(5, 18), x] = 0
    return s


@pytest.fixture(scope="module")
def packs_and_pipeline(tiny_pipeline):
    """A train pack of 8 faces, a pipeline whose banks are those faces' latents stored in a
    *different* order (ids say which), and a test pack of 4 sketches, two of them copies of
    training sketches (so NN retrieval must find exactly their photos)."""
    from dsf.evaluate.batches import encode_all
    from dsf.manifold import Bank
    from dsf.pipeline import Pipeline

    rng = np.random.default_rng(0)
    n_train = 8
    train = {
        "sketches": np.stack([_sketch(rng) for _ in range(n_train)]),
        "photos": rng.integers(0, 256, (n_train, 128, 128, 3), dtype=np.uint8),
        "ids": np.array([f"train{i}" for i in range(n_train)]),
        "sex": np.array(["male", "female"] * (n_train // 2)),
        "source": np.array(["test"] * n_train),
    }
    order = rng.permutation(n_train)
    latents = encode_all(tiny_pipeline, train["sketches"][order], batch=3)
    labels = {"id": train["ids"][order], "sex": train["sex"][order], "source": train["source"][order]}
    pipe = Pipeline(TINY, tiny_pipeline.networks, {p: Bank(latents[p], labels) for p in PARTS})
    test = {
        "sketches": np.stack([train["sketches"][2], _sketch(rng), train["sketches"][5], _sketch(rng)]),
        "photos": np.concatenate([train["photos"][[2]], rng.integers(0, 256, (1, 128, 128, 3), dtype=np.uint8),
                                  train["photos"][[5]], rng.integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)]),
        "ids": np.array(["test0", "test1", "test2", "test3"]),
    }
    return pipe, test, train


def test_evaluate_end_to_end(packs_and_pipeline, tmp_path):
    pipe, test, train = packs_and_pipeline
    seen = []

    def stub_detector(rgb):  # stands in for mediapipe: "a face" = bright enough
        seen.append(rgb.shape)
        return object() if rgb.mean() > 100 else None

    rep = evaluate(pipe, test, train, tmp_path / "eval", batch=4, detector=stub_detector,
                   params="tiny", data="memory", progress=False)
    out = tmp_path / "eval"
    for name in ("report.md", "report.json", "grid_test.png", "grid_robustness.png", "grid_baselines.png",
                 "locality.png", "refine_response.png", "per_image.npz"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    saved = json.loads((out / "report.json").read_text())
    assert saved["rows"] == rep["rows"]
    for key in ("params", "data", "split", "date", "n", "rows", "checks", "robustness", "metrics",
                "face_rate_real_photos", "timings_s", "files"):
        assert key in saved, key
    assert saved["n"] == 4 and saved["split"] == "test"
    assert 0.1 < saved["peak_rss_gb"] < 64 and saved["batch"] == 4  # a real figure, in GiB
    assert "Peak resident memory" in (out / "report.md").read_text()
    methods = {(r["method"], r["setting"]) for r in saved["rows"]}
    for s in ("intact", "strokes_removed"):
        for m in ("mean face", "NN retrieval", "model r=0", "model r=0.5", "model r=1"):
            assert (m, s) in methods
    for r in saved["rows"]:
        assert 0.0 <= r["l1"]["mean"] <= 1.0
        assert 0.0 <= r["l1_photo_colour"]["mean"] <= r["l1"]["mean"] + 0.05  # the mean shift is L2's optimum, not L1's
        assert 0.0 <= r["l1_chroma"]["mean"] <= 2 * r["l1"]["mean"]
        assert -1.0 <= r["ssim"]["mean"] <= 1.0
        assert 0.0 <= r["face_rate"] <= 1.0
        assert r["n"] == 4
    assert 0.0 <= saved["face_rate_real_photos"] <= 1.0
    assert set(seen) == {(256, 256, 3)}  # upscaled for the detector
    assert {"beats_mean_face_l1", "beats_nn_retrieval_ssim", "face_rate_at_least_0.9"} <= set(saved["checks"])
    row = {(r["method"], r["setting"]): r for r in saved["rows"]}
    for key, rob in saved["robustness"].items():  # paired over all 4 sketches here
        assert rob["l1_intact"] == pytest.approx(row[(key, "intact")]["l1"]["mean"])
        assert rob["l1_change"] == pytest.approx(row[(key, "strokes_removed")]["l1"]["mean"] - rob["l1_intact"])
    assert row[("mean face", "intact")]["l1"] == row[("mean face", "strokes_removed")]["l1"]
    assert "robustness_r=1_loses_less_l1_than_r=0" in saved["checks"]
    assert 0.0 <= saved["ink_removed"]["mean"] <= 1.0
    with np.load(out / "per_image.npz") as z:
        np.testing.assert_allclose(z["l1/model r=0.5/intact"].mean(), row[("model r=0.5", "intact")]["l1"]["mean"])
        assert list(z["ids"]) == list(test["ids"])
    md = (out / "report.md").read_text()
    assert "L1 at the photo's mean colour (oracle)" in md
    assert "| model r=0.5 | intact |" in md and "NN retrieval" in md and "grid_test.png" in md
    # the effect measurements, per part, and identity per row
    for section in ("locality", "refine_response", "reconstruction"):
        assert set(saved[section]) == set(PARTS), section
    assert saved["effect_pairs"] == 4 and saved["locality"]["mouth"]["n"] == 4
    assert saved["ink_removed"]["p90"] <= 0.3 + 1e-9  # ink-capped removal (the default)
    for r in saved["rows"]:
        for ident in (r["identity"], r["identity_edges"]):
            assert 0.0 <= ident["top1"] <= ident["top5"] <= 1.0
    for ident in ("identity", "identity_edges"):
        mean_face = row[("mean face", "intact")][ident]
        assert mean_face["top1"] == pytest.approx(saved["identity_chance"]["top1"])  # one image for all: chance
    with np.load(out / "per_image.npz") as z:
        assert np.median(z["rank_edges/model r=0.5/intact"]) == row[("model r=0.5", "intact")]["identity_edges"]["median_rank"]
    assert isinstance(saved["checks"]["removed_r=1_beats_r=0_l1_by_2se"], bool)
    assert "## Locality" in md and "## Identity" in md and "## Stage-1 reconstruction" in md
    assert "r=1 beats r=0 by ≥ 2 standard errors" in md


def test_nn_retrieval_matches_by_id(packs_and_pipeline):
    """Test sketches 0 and 2 are training sketches 2 and 5 (with their photos): the nearest
    bank row is their own, and the id (not the row position) must lead to the right photo."""
    from dsf.evaluate.baselines import bank_ids, nn_retrieval
    from dsf.evaluate.batches import encode_all

    pipe, test, train = packs_and_pipeline
    latents = encode_all(pipe, test["sketches"], batch=4)
    index = {v: i for i, v in enumerate(train["ids"])}
    got = nn_retrieval(pipe, latents, index, bank_ids(pipe))
    assert got[0] == 2 and got[2] == 5


def test_evaluate_without_detector_and_limit(packs_and_pipeline):
    pipe, test, train = packs_and_pipeline
    rep = evaluate(pipe, test, train, None, limit=3, robust_limit=2, detector=None, refines=(0.5,), progress=False,
                   removal="strokes", effects=False)
    assert rep["n"] == 3 and rep["n_robust"] == 2 and rep["face_rate_real_photos"] is None
    assert all(r["face_rate"] is None for r in rep["rows"])
    assert rep["checks"]["face_rate_at_least_0.9"] is None
    assert {r["method"] for r in rep["rows"]} == {"mean face", "NN retrieval", "model r=0.5"}
    assert [r["n"] for r in rep["rows"] if r["setting"] == "strokes_removed"] == [2, 2, 2]
    assert rep["robustness"]["model r=0.5"]["n"] == 2
    assert rep["removal"] == "strokes" and "locality" not in rep


def test_evaluate_rejects_mismatched_packs(packs_and_pipeline):
    pipe, test, train = packs_and_pipeline
    bad = dict(test, photos=test["photos"][:, :64, :64])
    with pytest.raises(ValueError, match="canvas"):
        evaluate(pipe, bad, train, None, detector=None, progress=False, effects=False)
    foreign = dict(train, ids=np.array([f"other{i}" for i in range(len(train["ids"]))]))
    with pytest.raises(ValueError, match="bank ids"):
        evaluate(pipe, test, foreign, None, detector=None, progress=False)


def test_time_budget_can_cut_the_intact_part(packs_and_pipeline):
    """With 16 sketches and batch 4: the 12 grid sketches go first (3 batches), then the spent
    budget stops the intact part; stroke removal keeps only sketches done intact."""
    pipe, test, train = packs_and_pipeline
    test16 = {k: np.concatenate([v] * 4) for k, v in test.items()}
    test16["ids"] = np.array([f"test{i}" for i in range(16)])
    rep = evaluate(pipe, test16, train, None, batch=4, max_minutes=0.0, refines=(0.5,), progress=False, effects=False,
                   detector=lambda rgb: object() if rgb.mean() > 100 else None)
    assert rep["n_planned"] == 16 and rep["n"] == 12
    assert rep["n_robust"] == 4 and rep["n_robust_planned"] == 16
    assert rep["robustness"]["model r=0.5"]["n"] == 4
    assert all(r["n"] == (12 if r["setting"] == "intact" else 4) for r in rep["rows"])
    from dsf.evaluate.markdown import markdown

    assert "time budget" in markdown(rep)


def test_threaded_synthesis_leaves_gradients_switched_on(packs_and_pipeline, tmp_path):
    import jittor as jt

    pipe, test, train = packs_and_pipeline
    evaluate(pipe, test, train, tmp_path, threads=2, detector=None, effects=False)
    assert not jt.flags.no_grad  # later training in the same process must still get gradients


def test_every_score_belongs_to_its_own_sketch(packs_and_pipeline, tmp_path):
    """With more sketches than the grids take, the evaluator processes them in a shuffled
    order; each per-image score must still compare a sketch's own face (and its own NN
    retrieval) with that sketch's photo."""
    from dsf.evaluate import l1
    from dsf.evaluate.baselines import bank_ids, nn_retrieval
    from dsf.evaluate.batches import encode_all

    pipe, _, train = packs_and_pipeline
    rng = np.random.default_rng(7)
    n = 20
    test = {"sketches": np.stack([_sketch(rng) for _ in range(n)]),
            "photos": rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8),
            "ids": np.array([f"t{i}" for i in range(n)])}
    evaluate(pipe, test, train, tmp_path, batch=4, detector=None, refines=(0.0,), robust_limit=1, progress=False,
             effects=False)
    with np.load(tmp_path / "per_image.npz") as z:
        order, model_l1, nn_l1 = z["positions/intact"], z["l1/model r=0/intact"], z["l1/NN retrieval/intact"]
    assert sorted(order) == list(range(n)) and list(order) != list(range(n))  # really shuffled
    index = {v: i for i, v in enumerate(train["ids"])}
    for j, i in enumerate(order):
        own = pipe.run(test["sketches"][i], refine=0.0).image
        assert model_l1[j] == pytest.approx(l1(own, test["photos"][i]), abs=2e-3)
        nn = nn_retrieval(pipe, encode_all(pipe, test["sketches"][[i]], 1), index, bank_ids(pipe))[0]
        assert nn_l1[j] == pytest.approx(l1(train["photos"][nn], test["photos"][i]))
