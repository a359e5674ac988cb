import numpy as np
import pytest

from dsf.components import (FUSION_ORDER, PUBLISHED_WINDOWS, composite, network_size, nose_kept_rows,
                            split_components, window_masks, windows)
from dsf.config import PARTS


def test_published_windows_match_the_spec():
    w = windows(512)
    assert w == PUBLISHED_WINDOWS
    assert (w["eye1"].x, w["eye1"].y, w["eye1"].size) == (108, 156, 128)
    assert (w["mouth"].x, w["mouth"].y, w["mouth"].size) == (169, 301, 192)
    assert nose_kept_rows(512) == 124
    assert FUSION_ORDER == ("mouth", "nose", "eye1", "eye2")


@pytest.mark.parametrize("canvas", [128, 256])
def test_windows_scale_with_the_canvas(canvas):
    s = canvas / 512
    for part, w in windows(canvas).items():
        p = PUBLISHED_WINDOWS[part]
        assert abs(w.x - p.x * s) <= 0.5 and abs(w.y - p.y * s) <= 0.5 and w.size == p.size * s
        assert w.y + w.size <= canvas and w.x + w.size <= canvas


def test_network_size_is_a_multiple_of_32_and_at_least_64():
    assert [network_size(s) for s in (32, 40, 48, 64, 128, 160, 192, 512)] == [64, 64, 64, 64, 128, 160, 192, 512]


def test_split_crops_windows_and_whitens_them_in_the_remainder():
    rng = np.random.default_rng(0)
    sketch = rng.integers(0, 255, (512, 512), dtype=np.uint8)
    parts = split_components(sketch)
    assert list(parts) == list(PARTS)
    w = windows(512)
    for part in PARTS[:-1]:
        assert np.array_equal(parts[part], sketch[w[part].rows, w[part].cols])
        assert (parts["remainder"][w[part].rows, w[part].cols] == 255).all()
    outside = np.ones((512, 512), bool)
    for part in PARTS[:-1]:
        outside[w[part].rows, w[part].cols] = False
    assert np.array_equal(parts["remainder"][outside], sketch[outside])
    assert sketch.max() < 255 or True  # the input itself is untouched:
    assert not (sketch[w["eye1"].rows, w["eye1"].cols] == 255).all()


def test_split_rejects_non_square_input():
    with pytest.raises(ValueError, match="square"):
        split_components(np.zeros((100, 120), np.uint8))


def test_masks_are_feathered_and_partition_unity_inside_windows():
    masks = window_masks(128)
    w = windows(128)["nose"]
    m = masks["nose"]
    assert m.max() == pytest.approx(1.0, abs=1e-3) and m.min() == 0
    assert m[w.y + w.size // 2, w.x + w.size // 2] > 0.99
    assert m[w.y, w.x] < 0.05  # the ramp starts near zero at the border
    assert np.all((masks["remainder"] >= 0) & (masks["remainder"] <= 1))


def test_composite_of_constant_parts_is_that_constant():
    w = windows(128)
    parts = {p: np.full((w[p].size, w[p].size), 0.25, np.float32) for p in PARTS}
    assert np.allclose(composite(parts, 128), 0.25, atol=1e-5)
