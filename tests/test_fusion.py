import jittor as jt
import numpy as np

from dsf.components import nose_kept_rows, windows
from dsf.config import PARTS
from dsf.fusion import fuse


def marker_maps(canvas, channels=2):
    """Each part's map is filled with its own marker value (remainder 0, eye1 1, ... )."""
    w = windows(canvas)
    return {p: jt.full((1, channels, w[p].size, w[p].size), float(i)) for i, p in enumerate(PARTS[::-1])}


def brute_force_fusion(canvas):
    w = windows(canvas)
    markers = {p: float(i) for i, p in enumerate(PARTS[::-1])}
    out = np.full((canvas, canvas), markers["remainder"])
    for part in ("mouth", "nose", "eye1", "eye2"):  # the published paste order
        rows = nose_kept_rows(canvas) if part == "nose" else w[part].size
        out[w[part].y:w[part].y + rows, w[part].cols] = markers[part]
    return out


def test_paste_order_and_nose_trim_on_the_published_canvas():
    fused = fuse(marker_maps(512), 512).numpy()
    assert fused.shape == (1, 2, 512, 512)
    expected = brute_force_fusion(512)
    assert np.array_equal(fused[0, 0], expected) and np.array_equal(fused[0, 1], expected)
    markers = {p: float(i) for i, p in enumerate(PARTS[::-1])}
    # The nose's bottom 36 rows are dropped, so the mouth shows at the nose's last rows ...
    assert fused[0, 0, 232 + 124, 250] == markers["mouth"]
    assert fused[0, 0, 232 + 123, 250] == markers["nose"]
    # ... and the eyes, pasted last, cover the nose where they overlap.
    assert fused[0, 0, 240, 200] == markers["eye1"]


def test_fusion_on_a_compact_canvas_and_gradients_flow():
    maps = marker_maps(128)
    assert np.array_equal(fuse(maps, 128).numpy()[0, 0], brute_force_fusion(128))
    x = jt.randn(1, 2, 32, 32)
    maps["eye1"] = x
    grad = jt.grad(fuse(maps, 128).sum(), x).numpy()
    assert np.all(grad == 1)  # eye1 is fully visible: nothing is pasted over it but eye2, elsewhere
