import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from dsf.images import MAX_SIDE, SketchError, SketchWarning, load_sketch


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


# ---------------------------------------------------------------------------- bad input classes

def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: enough for the size checks, which
    run before decoding (a real 20000×20000 file would take 400 MB to make)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def bad_files(folder):
    """One file per class of input the loader refuses: name -> (path, what the message says)."""
    good = folder / "good.png"
    Image.fromarray(_face(400)).save(good)
    files = {
        "missing": (folder / "missing.png", "not found"),
        "not an image": (folder / "notes.png", "cannot read"),
        "empty": (folder / "empty.png", "cannot read"),
        "truncated": (folder / "truncated.png", "cannot read"),
        "decompression bomb": (folder / "bomb.png", "too large"),
        "side over the limit": (folder / "huge.png", f"at most {MAX_SIDE} px"),
        "a folder": (folder / "folder.png", "cannot read"),
    }
    files["not an image"][0].write_text("not an image at all")
    files["empty"][0].write_bytes(b"")
    files["truncated"][0].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    files["decompression bomb"][0].write_bytes(_png_header(20000, 20000))
    files["side over the limit"][0].write_bytes(_png_header(MAX_SIDE + 1, 20))
    files["a folder"][0].mkdir()
    return files


def test_each_refused_file_gets_a_one_line_error_naming_it(tmp_path):
    for kind, (path, says) in bad_files(tmp_path).items():
        with pytest.raises(SketchError, match=says) as caught:
            load_sketch(path, 128)
        message = str(caught.value)
        assert path.name in message and "\n" not in message, (kind, message)


def test_a_decompression_bomb_in_bytes_is_refused_too():
    with pytest.raises(SketchError, match="too large"):
        load_sketch(_png_header(20000, 20000), 128)
    with pytest.raises(SketchError, match="at most"):
        load_sketch(np.zeros((MAX_SIDE + 1, 4), np.uint8), 128)


def test_16_bit_greyscale_keeps_its_strokes(tmp_path):
    a = np.full((200, 200), 60000, np.uint16)
    a[60:64, 40:160] = 8000  # a dark stroke across both eye windows
    path = tmp_path / "scan16.png"
    Image.fromarray(a).save(path)
    for source in (path, a):
        out = load_sketch(source, 128)
        assert out.min() < 64 and np.median(out) > 200


def test_a_photos_exif_orientation_is_applied(tmp_path):
    stored = np.full((120, 200), 255, np.uint8)
    stored[:, 20:24] = 0  # a vertical stroke near the stored image's left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display", as phones write it
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SketchWarning)  # one stroke is no face
        out = load_sketch(path, 128)
    rows_with_ink = np.flatnonzero((out < 128).any(axis=1))
    assert rows_with_ink.size and rows_with_ink.max() - rows_with_ink.min() < 8  # the stroke now lies flat
