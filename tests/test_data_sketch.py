"""The kit's line extractor and artist-sketch cleanup (dsf.data.sketch_extraction), on synthetic images."""
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from dsf.data.sketch_extraction import extract_sketch, normalise_artist_sketch


def synthetic_face_photo(size=256, seed=0):
    """A shaded face: skin ellipse on a grey-green background, hair, dark eyes, brows, nose, lips,
    plus mild sensor noise."""
    rng = np.random.default_rng(seed)
    s = size / 256
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (90, 120, 100)
    c = lambda x, y: (int(x * s), int(y * s))  # noqa: E731
    cv2.ellipse(img, c(128, 110), c(82, 80), 0, 180, 360, (40, 30, 25), -1)         # hair
    cv2.ellipse(img, c(128, 135), c(70, 92), 0, 0, 360, (205, 170, 150), -1)         # skin
    for x in (95, 161):
        cv2.ellipse(img, c(x, 118), c(16, 7), 0, 0, 360, (245, 245, 245), -1)        # eye white
        cv2.circle(img, c(x, 118), int(6 * s), (50, 35, 30), -1)                    # iris
        cv2.line(img, c(x - 18, 100), c(x + 18, 98), (60, 45, 40), max(1, int(4 * s)))  # brow
    cv2.line(img, c(124, 130), c(120, 160), (170, 130, 115), max(1, int(2 * s)))    # nose ridge
    cv2.ellipse(img, c(128, 165), c(12, 5), 0, 0, 180, (120, 80, 70), max(1, int(2 * s)))  # nostrils
    cv2.ellipse(img, c(128, 192), c(24, 8), 0, 0, 360, (170, 70, 80), -1)           # lips
    cv2.line(img, c(104, 192), c(152, 192), (90, 40, 45), max(1, int(2 * s)))       # lip line
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [128, 256, 512])
def test_extractor_draws_dark_strokes_on_white_of_sane_density(size):
    sketch = extract_sketch(synthetic_face_photo(size))
    assert sketch.shape == (size, size) and sketch.dtype == np.uint8
    assert np.median(sketch) == 255                       # white paper
    assert sketch.min() < 40                              # black strokes
    ink = (sketch < 128).mean()
    assert 0.02 <= ink <= 0.25, ink
    # the features are drawn: ink in each eye's and the mouth's neighbourhood
    s = size / 256
    for x, y in ((95, 118), (161, 118), (128, 192)):
        patch = sketch[int((y - 14) * s):int((y + 14) * s), int((x - 24) * s):int((x + 24) * s)]
        assert (patch < 128).mean() > 0.03


def test_extractor_ignores_texture_without_contours():
    rng = np.random.default_rng(3)
    skin = np.clip(np.array([200, 165, 145]) + rng.normal(0, 6, (256, 256, 3)), 0, 255).astype(np.uint8)
    assert (extract_sketch(skin) < 128).mean() < 0.01


def test_extractor_rejects_non_square_input():
    with pytest.raises(ValueError, match="square"):
        extract_sketch(np.zeros((100, 120, 3), np.uint8))


def test_artist_sketch_paper_becomes_white_and_strokes_stay_dark():
    paper = np.tile(np.linspace(215, 240, 300, dtype=np.float32), (300, 1))   # unevenly lit scan
    cv2.line(paper, (20, 150), (280, 160), 60, 2)
    cv2.circle(paper, (150, 80), 40, 110, 1)
    out = normalise_artist_sketch(paper.astype(np.uint8))
    assert out[10, 10] == 255 and out[10, 290] == 255
    assert out[155, 150] < 90 and out[80, 110] < 150
