"""The sketch pad's stroke model: rendering, undo/redo, JSON, which windows a stroke touches."""
import base64
import json

import numpy as np
import pytest

from dsf.components import split_components, windows
from dsf.config import PARTS
from dsf.images import SketchError
from dsf.strokes import Sketch, Stroke, changed_parts, stroke_box, touched_parts


def centre_stroke(part, canvas=512, length=0.3, width_px=3.0):
    """A short horizontal stroke through the centre of `part`'s window."""
    w = windows(canvas)[part]
    cx, cy = w.centre
    half = length * w.size / 2
    return Stroke.from_pixels([(cx - half, cy), (cx + half, cy)], canvas, width_px)


# ---- Stroke -------------------------------------------------------------------------------------
def test_stroke_validates_and_normalises():
    s = Stroke([(0.1, 0.2), [0.3, 0.4]], width=0.01)
    assert s.points == ((0.1, 0.2), (0.3, 0.4)) and s.mode == "pen"
    with pytest.raises(ValueError, match="at least one point"):
        Stroke([])
    with pytest.raises(ValueError, match="mode"):
        Stroke([(0, 0)], mode="brush")
    with pytest.raises(ValueError, match="width"):
        Stroke([(0, 0)], width=0)
    with pytest.raises(ValueError, match="finite"):
        Stroke([(float("nan"), 0)])
    assert Stroke.from_pixels([(256, 128)], 512, 4).points == ((0.5, 0.25),)
    assert Stroke.from_pixels([(256, 128)], 512, 4).width == pytest.approx(4 / 512)


# ---- rendering ------------------------------------------------------------------------------------
def test_render_blank_and_pen_and_eraser():
    sk = Sketch()
    assert (sk.render(64) == 255).all() and sk.render(64).dtype == np.uint8
    sk.add(Stroke([(0.1, 0.5), (0.9, 0.5)], width=4 / 64))
    img = sk.render(64)
    assert img[32, 10:54].max() == 0           # the line is black along its length
    assert (img[:20] == 255).all() and (img[45:] == 255).all()
    sk.add(Stroke([(0.5, 0.3), (0.5, 0.7)], width=10 / 64, mode="eraser"))
    img2 = sk.render(64)
    assert img2[32, 31] == 255 and img2[32, 12] == 0   # erased where the eraser crossed only


def test_render_any_size_same_drawing():
    sk = Sketch([Stroke([(0.2, 0.2), (0.8, 0.3), (0.5, 0.8)], width=6 / 512)])
    small, big = sk.render(128), sk.render(512)
    assert small.shape == (128, 128) and big.shape == (512, 512)
    # the 512 render, box-downsampled, puts ink where the 128 render does
    down = big.reshape(128, 4, 128, 4).mean(axis=(1, 3))
    ink_small, ink_down = small < 128, down < 200
    assert ink_small.sum() > 50

    def near(ink):  # within one pixel (rasterisation differs by at most that)
        p = np.pad(ink, 1)
        return np.max([p[dy:dy + 128, dx:dx + 128] for dy in range(3) for dx in range(3)], axis=0)

    assert (ink_small & ~near(ink_down)).sum() == 0
    assert (ink_down & (down < 100) & ~near(ink_small)).sum() == 0


def test_round_caps_single_point_and_thin_lines():
    dot = Sketch([Stroke([(0.5, 0.5)], width=10 / 100)]).render(100)
    ys, xs = np.nonzero(dot == 0)
    assert abs(ys.mean() - 49.5) < 1 and abs(xs.mean() - 49.5) < 1
    assert 8 <= xs.max() - xs.min() + 1 <= 12           # a disc of about 10 px
    thin = Sketch([Stroke([(0.1, 0.1), (0.9, 0.9)], width=0.1 / 100)]).render(100)
    assert (thin == 0).sum() >= 70                       # at least one pixel wide, continuous


def test_render_over_base_resizes_it_and_erases_its_ink():
    base = np.full((512, 512), 255, np.uint8)
    base[250:262, :] = 0
    sk = Sketch(base=base)
    img = sk.render(128)
    assert img[63, 64] < 64 and img[10, 10] == 255
    sk.add(Stroke([(0.5, 0.3), (0.5, 0.7)], width=16 / 128, mode="eraser"))
    assert sk.render(128)[63, 64] == 255
    with pytest.raises(ValueError, match="square 2-D uint8"):
        Sketch(base=np.zeros((10, 12), np.uint8))


# ---- undo / redo / clear / remove ------------------------------------------------------------------
def test_undo_redo_clear_and_remove():
    a, b, c = (Stroke([(0.1 * i, 0.5)]) for i in (1, 2, 3))
    sk = Sketch()
    assert not sk.can_undo and not sk.undo() and not sk.redo()
    sk.add(a), sk.add(b)
    assert sk.strokes == (a, b)
    assert sk.undo() and sk.strokes == (a,)
    assert sk.redo() and sk.strokes == (a, b)
    sk.undo()
    sk.add(c)                                  # a new edit drops the redo history
    assert sk.strokes == (a, c) and not sk.can_redo
    sk.clear()
    assert sk.strokes == () and sk.undo() and sk.strokes == (a, c)   # clear is undoable
    sk.remove(0)
    assert sk.strokes == (c,) and sk.undo() and sk.strokes == (a, c)
    sk.remove([0, -1])
    assert sk.strokes == ()
    with pytest.raises(IndexError):
        sk.remove(3)


def test_without_is_a_copy_and_base_edits_undo():
    strokes = [Stroke([(0.1 * i, 0.5)]) for i in range(1, 6)]
    sk = Sketch(strokes)
    fewer = sk.without([1, 3])
    assert fewer.strokes == (strokes[0], strokes[2], strokes[4]) and len(sk) == 5
    base = np.zeros((64, 64), np.uint8) + 200
    sk.set_base(base)
    assert len(sk) == 0 and sk.base is not None and not sk.base.flags.writeable
    sk.undo()
    assert sk.base is None and len(sk) == 5
    sk.replace(strokes[:2], base)
    assert len(sk) == 2 and sk.base is not None
    sk.undo()
    assert len(sk) == 5 and sk.base is None


# ---- JSON -----------------------------------------------------------------------------------------
def test_json_round_trip(tmp_path):
    base = np.full((64, 64), 255, np.uint8)
    base[10:20, 10:20] = 30
    sk = Sketch([Stroke([(0.123456, 0.5), (0.7, 0.25)], 0.01), Stroke([(0.5, 0.5)], 0.05, "eraser")], base)
    doc = json.loads(sk.to_json())
    assert doc["format"] == "dsf-strokes" and doc["version"] == 1 and len(doc["strokes"]) == 2
    back = Sketch.from_json(sk.to_json())
    assert back.strokes == sk.strokes
    np.testing.assert_array_equal(back.base, base)
    np.testing.assert_array_equal(back.render(256), sk.render(256))
    path = sk.save_json(tmp_path / "s.json")
    np.testing.assert_array_equal(Sketch.load_json(path).render(128), sk.render(128))
    assert Sketch.from_dict([s.to_dict() for s in sk.strokes]).strokes == sk.strokes   # a bare list
    with pytest.raises(ValueError, match="dsf-strokes"):
        Sketch.from_json('{"strokes": []}')
    with pytest.raises(ValueError, match="not a stroke"):
        Sketch.from_dict({"format": "dsf-strokes", "strokes": [{"width": 1}]})
    with pytest.raises(ValueError, match="base_png is not base64"):
        Sketch.from_dict({"format": "dsf-strokes", "base_png": "not base64!"})
    with pytest.raises(SketchError):  # base64, but not an image: refused like any unreadable sketch file
        Sketch.from_dict({"format": "dsf-strokes", "base_png": base64.b64encode(b"hello").decode()})


def test_save_png(tmp_path):
    from PIL import Image

    sk = Sketch([Stroke([(0.2, 0.2), (0.8, 0.8)], 0.02)])
    p = sk.save_png(tmp_path / "s.png", size=200)
    with Image.open(p) as im:
        assert im.size == (200, 200) and im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), sk.render(200))


# ---- touched parts ------------------------------------------------------------------------------
@pytest.mark.parametrize("canvas", [128, 512])
def test_touched_parts_window_centres(canvas):
    # eye centres are inside only their own window; the stroke there leaves the remainder alone
    assert touched_parts(centre_stroke("eye1", canvas, 0.2), canvas) == ("eye1",)
    assert touched_parts(centre_stroke("eye2", canvas, 0.2), canvas) == ("eye2",)
    # the windows overlap: the mouth's centre lies inside the nose window too
    mouth = touched_parts(centre_stroke("mouth", canvas, 0.1), canvas)
    assert "mouth" in mouth and "remainder" not in mouth
    # a stroke in the corner (hair) touches only the remainder
    corner = Stroke([(0.05, 0.05), (0.15, 0.1)], 3 / 512)
    assert touched_parts(corner, canvas) == ("remainder",)
    # a long stroke across the face touches the eyes and the remainder
    across = Stroke([(0.05, 0.43), (0.95, 0.43)], 3 / 512)
    assert set(touched_parts(across, canvas)) >= {"eye1", "eye2", "remainder"}
    # off the canvas: nothing
    assert touched_parts(Stroke([(1.5, 1.5), (1.6, 1.7)], 0.01), canvas) == ()


def test_touched_parts_width_counts():
    w = windows(512)["eye1"]
    x = (w.x - 6) / 512   # 6 px left of eye1's window, vertically inside it
    y0, y1 = (w.y + 40) / 512, (w.y + 60) / 512
    thin, thick = Stroke([(x, y0), (x, y1)], 2 / 512), Stroke([(x, y0), (x, y1)], 20 / 512)
    assert "eye1" not in touched_parts(thin, 512)
    assert "eye1" in touched_parts(thick, 512)
    x0, y0_, x1, y1_ = stroke_box(thick, 512)
    assert x1 > w.x and x0 < w.x - 6


def test_touched_parts_agrees_with_pipeline_crops():
    """Every part whose crop a stroke actually changes is reported (conservative), and the
    remainder is never reported for strokes well inside the windows."""
    rng = np.random.default_rng(0)
    canvas = 128
    base = Sketch([Stroke([(0.2, 0.2), (0.8, 0.25)], 3 / 512)])
    before = base.render(canvas)
    for _ in range(40):
        p0 = rng.uniform(0.05, 0.95, 2)
        pts = [p0 + rng.normal(0, 0.05, 2) * i for i in range(4)]
        s = Stroke([tuple(p) for p in pts], rng.uniform(2, 12) / 512, "pen")
        sk = base.copy()
        sk.add(s)
        after = sk.render(canvas)
        changed = set(changed_parts(before, after))
        touched = set(touched_parts(s, canvas))
        assert changed <= touched, (s, changed, touched)
    inside = centre_stroke("eye1", canvas, 0.3)
    sk = base.copy()
    sk.add(inside)
    assert "remainder" not in changed_parts(before, sk.render(canvas))
    assert split_components(before)["remainder"].shape == (canvas, canvas)


def test_changed_parts_of_eraser_on_blank_is_empty():
    blank = Sketch()
    erased = Sketch([Stroke([(0.3, 0.4), (0.6, 0.4)], 0.05, "eraser")])
    assert changed_parts(blank.render(128), erased.render(128)) == ()
    assert PARTS[-1] == "remainder"
