"""Sketch augmentation (dsf.data.augment): numpy only."""
import numpy as np
import pytest

from dsf.data.augment import (augment_sketch, change_stroke_width, drop_strokes, label_components, random_warp)


def blobs(n=20, size=128, seed=0):
    """A white sketch with n separate short dark strokes (3×8 bars on a grid)."""
    img = np.full((size, size), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, 5)
        img[10 + r * 22:13 + r * 22, 10 + c * 22:18 + c * 22] = 0
    return img


def test_label_components_counts_8_connected_strokes():
    img = blobs(20)
    labels, n = label_components(img < 250)
    assert n == 20 and labels.max() == 20 and (labels[img == 255] == 0).all()
    diag = np.zeros((6, 6), bool)
    diag[np.arange(6), np.arange(6)] = True          # a diagonal line is one 8-connected stroke
    diag[0, 5] = diag[5, 0] = True                   # plus two isolated corners
    assert label_components(diag)[1] == 3
    spiral = np.zeros((40, 40), bool)                # a long winding stroke stays one component
    spiral[2, 2:38] = spiral[2:38, 37] = spiral[37, 4:38] = spiral[6:38, 4] = spiral[6, 4:34] = True
    assert label_components(spiral)[1] == 1
    assert label_components(np.zeros((5, 5), bool))[1] == 0


@pytest.mark.parametrize("fraction,left", [(0.0, 20), (0.25, 15), (0.5, 10), (1.0, 0)])
def test_drop_strokes_removes_the_requested_fraction_of_components(fraction, left):
    img = blobs(20)
    out = drop_strokes(img, fraction, np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert label_components(out < 250)[1] == left
    assert ((out == img) | (out == 255)).all()         # only whole strokes turn white


def test_drop_strokes_is_reproducible_and_checks_its_fraction():
    img = blobs(20)
    a = drop_strokes(img, 0.3, np.random.default_rng(7))
    b = drop_strokes(img, 0.3, np.random.default_rng(7))
    assert (a == b).all()
    with pytest.raises(ValueError):
        drop_strokes(img, 1.5, np.random.default_rng(0))


def test_stroke_width_thickens_and_thins():
    img = blobs(4)
    ink = (img < 128).sum()
    assert (change_stroke_width(img, 1) < 128).sum() > ink
    assert (change_stroke_width(img, -1) > img).any()   # lighter borders
    assert (change_stroke_width(img, 0) == img).all()


def test_random_warp_moves_strokes_a_little_and_fills_white():
    img = np.full((128, 128), 255, np.uint8)
    img[60:68, 30:100] = 0
    rng = np.random.default_rng(2)
    out = random_warp(img, rng)
    assert out.dtype == np.uint8 and out.shape == img.shape
    ys, xs = np.nonzero(out < 128)
    assert abs(ys.mean() - 63.5) < 6 and abs(xs.mean() - 64.5) < 6
    big = random_warp(img, rng, max_rotate_deg=0, max_scale=0.5, max_shift=0, elastic=0)
    assert big[0, 0] == 255


def test_augment_sketch_returns_a_sketch():
    img = blobs(20)
    out = augment_sketch(img, np.random.default_rng(0))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert 0 < (out < 128).mean() < 0.5
