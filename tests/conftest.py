"""Shared fixtures: a tiny random-weight pipeline (canvas 128, narrow widths) that builds in
well under a second, so tests exercise the real code paths without trained parameters."""
import numpy as np
import pytest

import dsf  # noqa: F401  (sets Jittor's environment defaults before anything imports it)
from dsf.config import PARTS, preset

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
