import warnings

import numpy as np
import pytest
from PIL import Image

from dsf.images import SketchError, SketchWarning, load_sketch


def _face(size=200):
    a = np.full((size, size), 255, np.uint8)
    a[size // 3, size // 4 : 3 * size // 4] = 0
    a[2 * size // 3, size // 3 : 2 * size // 3] = 0
    return a


def test_any_size_is_letterboxed_onto_white_then_resized():
    a = np.full((100, 300), 255, np.uint8)
    a[50, :] = 0
    out = load_sketch(a, 128)
    assert out.shape == (128, 128) and out.dtype == np.uint8
    assert (out[:30] == 255).all() and (out[-30:] == 255).all()  # letterbox bands are white
    assert out[60:68].min() < 128  # the stroke survived the resize


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "1", "P"])
def test_pil_modes_are_accepted(mode):
    im = Image.fromarray(_face()).convert(mode)
    out = load_sketch(im, 128)
    assert out.shape == (128, 128) and out.min() < 64 and out.max() == 255


def test_transparent_background_becomes_white():
    rgba = np.zeros((64, 64, 4), np.uint8)  # fully transparent black ...
    rgba[32, :, 3] = 255  # ... except one opaque black line
    out = load_sketch(rgba, 128)
    assert out.mean() > 240 and out.min() < 64


def test_white_on_black_is_inverted_with_a_warning():
    with pytest.warns(SketchWarning, match="white-on-black"):
        out = load_sketch(255 - _face(), 128)
    assert np.median(out) == 255


def test_blank_sketch_is_accepted_with_a_warning():
    with pytest.warns(SketchWarning, match="blank"):
        out = load_sketch(np.full((50, 50), 255, np.uint8), 128)
    assert (out == 255).all()


def test_float_arrays_in_unit_range_are_scaled():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = load_sketch(_face().astype(np.float32) / 255, 128)
    assert out.max() == 255 and out.min() < 64


def test_corrupt_and_truncated_files_name_the_problem(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(SketchError, match="cannot read"):
        load_sketch(bad)
    good = tmp_path / "good.png"
    Image.fromarray(_face(400)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SketchError, match="truncated.png"):
        load_sketch(truncated)
    with pytest.raises(SketchError, match="not found"):
        load_sketch(tmp_path / "missing.png")


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4, 2), np.uint8), "H×W"),
    (np.full((8, 8), np.nan), "NaN"),
    (42, "path, PIL image or numpy array"),
])
def test_bad_arrays_and_types_get_clear_errors(bad, message):
    with pytest.raises(SketchError, match=message):
        load_sketch(bad)
