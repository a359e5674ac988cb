"""The evaluator's effect measurements on constructed inputs: locality, refine response,
identity ranks, stage-1 reconstruction and the ink-capped stroke removal."""
from types import SimpleNamespace

import numpy as np
import pytest

from dsf.components import part_regions
from dsf.config import PARTS
from dsf.data.augment import INK_LEVEL
from dsf.evaluate.effects import locality, reconstruction, refine_response, sketch_pairs
from dsf.evaluate.metrics import (change_ratio, edge_signature, identity_ranks, identity_signature, ink_dice, paired_difference,
                                  region_change, top_k_rate)
from dsf.evaluate.strokes import TILES, incomplete_sketches, ink_removed, remove_ink, stroke_pieces

CANVAS = 128


class RegionModel:
    """A stand-in for a pipeline: each part's latent paints only that part's region (local),
    or the sum of all latents paints the whole face (global)."""

    config = SimpleNamespace(canvas=CANVAS)

    def __init__(self, local: bool):
        self.local = local

    def faces_from_latents(self, latents):
        n = len(latents[PARTS[0]])
        faces = np.zeros((n, CANVAS, CANVAS, 3), np.uint8)
        for part, region in part_regions(CANVAS).items():
            z = latents[part] if self.local else sum(latents.values())
            faces[:, region] = (128 + 100 * np.tanh(z[:, :3]))[:, None, :].astype(np.uint8)
        return faces


def _latents(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return ({p: rng.standard_normal((n, 8)).astype(np.float32) for p in PARTS},
            {p: rng.standard_normal((n, 8)).astype(np.float32) for p in PARTS})


# ---------------------------------------------------------------------------------- locality
def test_part_regions_cover_the_canvas_once_per_window_part():
    regions = part_regions(CANVAS)
    assert set(regions) == set(PARTS)
    windows_union = np.any([regions[p] for p in PARTS[:-1]], axis=0)
    np.testing.assert_array_equal(regions["remainder"], ~windows_union)
    assert all(regions[p].any() for p in PARTS)


def test_perfectly_local_parts_give_an_infinite_locality_ratio():
    latents, projected = _latents()
    a, b = sketch_pairs(6, 6, seed=0)
    result = locality(RegionModel(local=True), latents, projected, a, b, batch=4)
    for part in PARTS:
        s = result["parts"][part]
        assert s["outside"]["mean"] == 0.0 and s["inside"]["mean"] > 0, part
        assert s["ratio"] == float("inf")
    assert result["examples"]["face"].shape == (4, CANVAS, CANVAS, 3)


def test_global_parts_give_a_ratio_near_one():
    latents, projected = _latents()
    a, b = sketch_pairs(6, 6, seed=0)
    result = locality(RegionModel(local=False), latents, projected, a, b, batch=4)
    for part in PARTS:
        assert result["parts"][part]["ratio"] == pytest.approx(1.0, abs=0.05), part


def test_sketch_pairs_never_pair_a_sketch_with_itself():
    a, b = sketch_pairs(50, 20, seed=3)
    assert len(a) == len(b) == 20 and (a != b).all()
    assert set(a) == set(b)
    with pytest.raises(ValueError):
        sketch_pairs(1, 5, seed=0)


def test_change_ratio_cases():
    assert change_ratio([2.0, 4.0], [1.0, 1.0]) == pytest.approx(3.0)
    assert change_ratio([1.0], [0.0]) == float("inf")
    assert np.isnan(change_ratio([0.0], [0.0]))


# --------------------------------------------------------------------------- refine response
def test_identical_images_give_zero_response():
    faces = np.random.default_rng(0).integers(0, 256, (3, CANVAS, CANVAS, 3), dtype=np.uint8)
    inside, outside = region_change(faces, faces, part_regions(CANVAS)["mouth"])
    np.testing.assert_array_equal(inside, 0.0)
    np.testing.assert_array_equal(outside, 0.0)


def test_region_change_in_255_units():
    a = np.zeros((1, 4, 4, 3), np.uint8)
    b = a.copy()
    b[0, :2] = 51  # the top half changes by 51/255
    region = np.zeros((4, 4), bool)
    region[:2] = True
    inside, outside = region_change(b, a, region)
    assert inside[0] == pytest.approx(51.0) and outside[0] == 0.0


def test_refine_response_of_a_local_model_stays_in_its_window():
    latents, projected = _latents()
    result = refine_response(RegionModel(local=True), latents, projected, np.arange(6), batch=4)
    for part in PARTS:
        s = result["parts"][part]
        assert s["inside"]["mean"] > 0 and s["outside"]["mean"] == 0.0, part
    r0, r1 = result["examples"]["mouth"]
    assert r0.shape == r1.shape == (4, CANVAS, CANVAS, 3)


def test_refine_response_is_zero_when_projection_changes_nothing():
    latents, _ = _latents()
    result = refine_response(RegionModel(local=True), latents, latents, np.arange(6), batch=4)
    assert all(result["parts"][p]["inside"]["mean"] == 0.0 for p in PARTS)


# ---------------------------------------------------------------------------------- identity
def _photos(n=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("signature", [identity_signature, edge_signature])
def test_a_perfect_identity_map_ranks_every_true_photo_first(signature):
    sig = signature(_photos())
    ranks = identity_ranks(sig, sig, np.arange(len(sig)))
    assert (ranks == 1).all() and top_k_rate(ranks, 1) == 1.0


def test_one_image_for_every_query_is_chance_level():
    photos = _photos()
    queries = identity_signature(np.repeat(photos[:1] // 2 + 60, len(photos), axis=0))
    ranks = identity_ranks(queries, identity_signature(photos), np.arange(len(photos)))
    assert sorted(ranks) == list(range(1, len(photos) + 1))  # each rank once: top-1 = 1/N, top-5 = 5/N
    assert top_k_rate(ranks, 1) == pytest.approx(1 / len(photos))
    assert top_k_rate(ranks, 5) == pytest.approx(5 / len(photos))


def test_identity_signature_ignores_brightness_and_contrast():
    x = np.random.default_rng(1).random((2, 64, 64, 3)) * 0.5 + 0.2
    np.testing.assert_allclose(identity_signature(x), identity_signature(0.5 * x + 0.3), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(identity_signature(x), axis=1), 1.0, rtol=1e-5)
    assert not identity_signature(np.full((1, 64, 64, 3), 0.4)).any()  # a flat image: zeros
    with pytest.raises(ValueError, match="blocks"):
        identity_signature(np.zeros((1, 40, 40, 3)))


def test_edge_signature_sees_contours_not_shading():
    """A dark square on two different smooth shadings: the grey signatures differ, the edge
    signatures (where the square's border is) nearly agree; a flat image gives zeros."""
    ramp = np.linspace(0.3, 0.7, 64)
    square = np.zeros((64, 64))
    square[20:44, 20:44] = -0.25
    a, b = 0.2 + square + ramp[None, :] * 0.5, 0.2 + square + ramp[:, None] * 0.5
    images = np.repeat(np.stack([a, b])[..., None], 3, axis=-1)
    grey, edges = identity_signature(images), edge_signature(images)
    assert grey[0] @ grey[1] < 0.8 and edges[0] @ edges[1] > 0.95
    assert edges.shape == (2, 63 * 63)
    assert not edge_signature(np.full((1, 64, 64, 3), 0.4)).any()


# ----------------------------------------------------------------------- stage-1 reconstruction
def test_ink_dice_cases():
    a = np.ones((3, 8, 8))
    a[0, 2:4] = 0  # ink
    b = a.copy()
    b[1, 5:7] = 0
    dice = ink_dice(a, b, 0.5)
    assert dice[0] == 1.0  # identical ink
    assert dice[1] == 0.0  # ink in one only
    assert dice[2] == 1.0  # no ink in either


def test_reconstruction_through_the_pipeline(tiny_pipeline, face_sketch):
    from dsf.evaluate.batches import encode_all

    sketches = np.stack([face_sketch, 255 - (255 - face_sketch) // 2])
    latents = encode_all(tiny_pipeline, sketches, batch=2)
    result = reconstruction(tiny_pipeline, sketches, latents, batch=2)
    for part in PARTS:
        assert 0.0 <= result[part]["l1"]["mean"] <= 1.0
        assert 0.0 <= result[part]["ink_dice"]["mean"] <= 1.0
        assert result[part]["n"] == 2
    size = tiny_pipeline.windows["mouth"].size
    assert tiny_pipeline.decode_sketch("mouth", latents["mouth"]).shape == (2, size, size)
    assert tiny_pipeline.decode_sketch("mouth", latents["mouth"][0]).shape == (size, size)


# ------------------------------------------------------------------------------- robustness
def _sketch_with_hair(strokes=40, seed=0):
    """A dark hair mass with ~80 % of the ink, plus many short strokes."""
    rng = np.random.default_rng(seed)
    s = np.full((CANVAS, CANVAS), 255, np.uint8)
    s[:40, 10:118] = 0  # the hair: one connected stroke
    for i in range(strokes):
        y, x = 50 + 2 * (i // 10) * 4, 10 + (i % 10) * 11
        s[y, x:x + rng.integers(4, 8)] = 0
    return s


def test_stroke_removal_is_capped_near_the_ink_fraction_even_with_one_big_stroke():
    s = _sketch_with_hair()
    ink = (s < INK_LEVEL).sum()
    assert (s[:40, 10:118] < INK_LEVEL).sum() > 0.8 * ink  # one stroke holds most of the ink
    for seed in range(5):
        out = remove_ink(s, 0.3, np.random.default_rng(seed))
        assert 0.25 <= ink_removed(s[None], out[None])[0] <= 0.3
        assert ((out < INK_LEVEL) <= (s < INK_LEVEL)).all()  # only removes ink


def test_stroke_pieces_stay_within_one_tile_and_cover_the_ink():
    s = _sketch_with_hair()
    labels, n = stroke_pieces(s)
    np.testing.assert_array_equal(labels > 0, s < INK_LEVEL)
    tile = CANVAS // TILES
    for piece in range(1, n + 1):
        ys, xs = np.nonzero(labels == piece)
        assert ys.min() // tile == ys.max() // tile and xs.min() // tile == xs.max() // tile
    assert n > 40  # the hair mass alone is many pieces


def test_stroke_removal_gets_close_to_the_cap_with_small_strokes():
    s = np.full((CANVAS, CANVAS), 255, np.uint8)
    for i in range(100):
        y, x = 4 + 12 * (i // 10), 4 + 12 * (i % 10)
        s[y, x:x + 5] = 0
    shares = ink_removed(np.stack([s] * 5), np.stack([remove_ink(s, 0.3, np.random.default_rng(i)) for i in range(5)]))
    np.testing.assert_allclose(shares, 0.3, atol=0.01)
    assert (remove_ink(s, 0.0, np.random.default_rng(0)) == s).all()


def test_incomplete_sketches_depend_on_the_sketch_index_not_the_order():
    sketches = np.stack([_sketch_with_hair(seed=i) for i in range(3)])
    forward = incomplete_sketches(sketches, [0, 1, 2], 0.3, seed=0)
    backward = incomplete_sketches(sketches[::-1], [2, 1, 0], 0.3, seed=0)
    np.testing.assert_array_equal(forward, backward[::-1])
    with pytest.raises(ValueError, match="removal"):
        incomplete_sketches(sketches, [0, 1, 2], 0.3, seed=0, removal="pixels")


def test_paired_difference():
    d = paired_difference([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert d["mean"] == pytest.approx(0.5) and d["sem"] == pytest.approx(0.0)
