"""Shared fixtures: a tiny random-weight pipeline (canvas 128, narrow widths) that builds in
well under a second, so tests exercise the real code paths without trained parameters; and
stand-ins for `dsf.align_sketch` and its landmarker (a stub, mediapipe missing, no face found)."""
import importlib.util
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import dsf  # noqa: F401  (sets Jittor's environment defaults before anything imports it)
from dsf.config import PARTS, preset
from dsf.png import png_bytes

TINY = preset("compact128").replace(name="tiny", width=0.125, latent=32, feature_channels=8, k=4)


def random_banks(config, rows=24, seed=0):
    from dsf.manifold import Bank

    rng = np.random.default_rng(seed)
    sexes = np.array(["male", "female", ""] * (rows // 3))
    return {
        p: Bank(rng.standard_normal((rows, config.latent)).astype(np.float32),
                {"sex": sexes, "source": np.array(["test"] * rows), "id": np.array([f"{p}{i}" for i in range(rows)])})
        for p in PARTS
    }


@pytest.fixture(scope="session")
def tiny_pipeline():
    from dsf._jittor import jt
    from dsf.networks import build_networks
    from dsf.pipeline import Pipeline

    jt.set_global_seed(0)
    return Pipeline(TINY, build_networks(TINY), random_banks(TINY))


def drawn_face(canvas=128):
    """A crude face drawn with numpy: outline, eyes, nose, mouth (black on white)."""
    yy, xx = np.mgrid[:canvas, :canvas] / canvas
    img = np.full((canvas, canvas), 255, np.uint8)
    ring = np.abs(((xx - 0.5) / 0.36) ** 2 + ((yy - 0.52) / 0.46) ** 2 - 1) < 0.04
    img[ring] = 0
    for cx in (0.335, 0.625):
        img[(np.abs(((xx - cx) / 0.07) ** 2 + ((yy - 0.43) / 0.03) ** 2 - 1) < 0.3)] = 0
    img[(np.abs(xx - 0.5) < 0.01) & (yy > 0.48) & (yy < 0.6)] = 0
    img[(np.abs(yy - 0.74) < 0.008) & (np.abs(xx - 0.51) < 0.1)] = 0
    return img


@pytest.fixture
def face_sketch():
    return drawn_face()


# ---- dsf.align_sketch and its landmarker ---------------------------------------------------------
landmarker = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                reason="mediapipe is not installed (pip install -r requirements-train.txt)")
"""Marks a test that runs MediaPipe's face mesh: skipped, with the reason, without it."""


@pytest.fixture
def stub_aligner(monkeypatch):
    """`dsf.sketch_align.align_sketch` replaced by a stub (no mediapipe): any image comes back as
    `drawn_face` on the canvas asked for, with the stub's `warning`; `calls` records the canvases."""
    from dsf import sketch_align

    stub = SimpleNamespace(calls=[], warning=None)

    def align_sketch(image, canvas=512):
        stub.calls.append(canvas)
        return SimpleNamespace(sketch=drawn_face(canvas), method="landmarks", warning=stub.warning)

    monkeypatch.setattr(sketch_align, "align_sketch", align_sketch)
    return stub


@pytest.fixture
def without_mediapipe(monkeypatch):
    """mediapipe as if not installed: importing it (or any part of it already loaded) fails."""
    from dsf import sketch_align

    for name in [n for n in sys.modules if n == "mediapipe" or n.startswith("mediapipe.")] or ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)
    sketch_align.default_detector.cache_clear()  # the face mesh built by an earlier test
    yield
    sketch_align.default_detector.cache_clear()  # built again, with mediapipe, when next needed


@pytest.fixture
def no_face_found(monkeypatch):
    """The landmarker finds no face (and needs no mediapipe): alignment falls back on the ink."""
    from dsf import sketch_align

    monkeypatch.setattr(sketch_align, "default_detector", lambda: sketch_align.no_landmarks)


BAD_UPLOADS = {"not an image": (b"junk", "cannot read"),
               "blank": (png_bytes(np.full((64, 64), 255, np.uint8)), "blank")}
"""Uploads alignment refuses: name → (file content, words its one-line message must contain)."""
