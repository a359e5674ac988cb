"""dsf.align_sketch: known similarity transforms undone, aligned inputs kept, non-faces warned
about, the install hint without mediapipe, and the face mapped back onto the original.

Tests marked `landmarker` run MediaPipe's face mesh on committed sample sketches and are skipped,
with the reason, where mediapipe is not installed (requirements-train.txt). The others use a
stub detector that finds four drawn discs, so the fit, the warp and the coordinate bookkeeping
are tested everywhere.
"""
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import landmarker

from dsf import sketch_align
from dsf.data.align import apply, template_points
from dsf.data.landmarks import FaceCentres
from dsf.images import SketchWarning, load_sketch
from dsf.sketch_align import AlignmentError, align_sketch, check_template

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sketches"
CANVAS = 512
PAPER = (900, 1100)  # (width, height) of the synthetic scans


def disc_sketch(canvas: int = CANVAS) -> np.ndarray:
    """Four filled discs on the template targets (eye1, eye2, nose, mouth), black on white."""
    img = np.full((canvas, canvas), 255, np.uint8)
    for x, y in template_points(canvas):
        cv2.circle(img, (int(round(x)), int(round(y))), canvas // 25, 0, -1)
    return img


def disc_detector(rgb: np.ndarray) -> FaceCentres | None:
    """Stub landmarker: the centroids of the four largest dark blobs, eyes (upper two, left
    first), then nose and mouth by height."""
    n, _, stats, centroids = cv2.connectedComponentsWithStats((rgb[..., 0] < 200).astype(np.uint8))
    if n < 5:
        return None
    biggest = centroids[1 + np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:4]]
    by_height = biggest[np.argsort(biggest[:, 1])]
    points = np.vstack([by_height[:2][np.argsort(by_height[:2, 0])], by_height[2:]])
    return FaceCentres(points=points, nose_tip=points[2])


def similarity(angle_deg: float, scale: float, centre: tuple[float, float], canvas: int = CANVAS) -> np.ndarray:
    """2×3 similarity moving a canvas² sketch onto the paper: rotate, scale, centre it at `centre`."""
    a = np.radians(angle_deg)
    linear = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([linear, (np.asarray(centre) - linear @ np.full(2, canvas / 2))[:, None]])


def scan_of(sketch: np.ndarray, move: np.ndarray) -> np.ndarray:
    """The sketch moved onto a larger sheet of grey paper, as a scanner would give it."""
    moved = cv2.warpAffine(sketch, move, PAPER, flags=cv2.INTER_LINEAR, borderValue=255)
    return (moved.astype(np.float32) * 0.92).astype(np.uint8)


def eye_error(aligned, move: np.ndarray, canvas: int = CANVAS) -> float:
    """Mean distance, / canvas, of the template's eye centres from where the alignment puts them back."""
    eyes = template_points(canvas)[:2]
    return float(np.linalg.norm(apply(aligned.matrix, apply(move, eyes)) - eyes, axis=1).mean() / canvas)


MOVES = [(0, 1.0, (450, 550)), (12, 0.7, (380, 420)), (-18, 1.3, (500, 600)), (5, 0.6, (650, 800))]


@pytest.mark.parametrize("angle, scale, centre", MOVES)
def test_a_known_similarity_is_undone_exactly_with_exact_landmarks(angle, scale, centre):
    move = similarity(angle, scale, centre)
    aligned = align_sketch(scan_of(disc_sketch(), move), CANVAS, detector=disc_detector)
    assert aligned.method == "landmarks" and aligned.moved
    assert eye_error(aligned, move) < 0.005
    assert aligned.offset_frac > 0.02 and aligned.alignment.residual_frac < 0.01


@landmarker
@pytest.mark.parametrize("sample", ["02_male_smiling", "03_female"])
@pytest.mark.parametrize("angle, scale, centre", MOVES[1:])
def test_a_moved_sample_sketch_is_brought_back_within_2_percent(sample, angle, scale, centre):
    move = similarity(angle, scale, centre)
    sketch = cv2.imread(str(SAMPLES / f"{sample}.png"), cv2.IMREAD_GRAYSCALE)
    aligned = align_sketch(scan_of(sketch, move), CANVAS, fallback=False)
    assert eye_error(aligned, move) < 0.02, aligned.quality()


def test_an_aligned_input_is_left_as_it_is():
    sketch = disc_sketch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SketchWarning)  # four discs are no face for the ink check
        aligned = align_sketch(sketch, 128, detector=disc_detector)
        expected = load_sketch(sketch, 128)
    assert not aligned.moved and aligned.offset_frac < 0.005
    np.testing.assert_array_equal(aligned.sketch, expected)


@landmarker
@pytest.mark.parametrize("sample", ["02_male_smiling", "03_female", "06_male"])
def test_an_aligned_sample_sketch_is_left_as_it_is(sample):
    path = SAMPLES / f"{sample}.png"
    aligned = align_sketch(path, 128)
    assert not aligned.moved, aligned.quality()
    np.testing.assert_array_equal(aligned.sketch, load_sketch(path, 128))
    assert check_template(load_sketch(path, 128)) is None


@landmarker
def test_an_off_template_sketch_is_flagged_by_the_landmark_check():
    sketch = cv2.imread(str(SAMPLES / "07_drawn_clean.png"), cv2.IMREAD_GRAYSCALE)
    small = cv2.warpAffine(sketch, similarity(0, 0.55, (330, 330)), (CANVAS, CANVAS), borderValue=255)
    assert "off the template" in check_template(load_sketch(small, 128))


def test_the_face_maps_back_onto_the_original():
    move = similarity(10, 0.8, (420, 500))
    scan = scan_of(disc_sketch(), move)
    aligned = align_sketch(scan, CANVAS, detector=disc_detector)
    back = aligned.to_original(aligned.sketch)
    assert back.shape == scan.shape
    ink = scan < 100
    assert (back[ink] < 128).mean() > 0.95  # the aligned discs land on the scan's discs
    face = np.zeros((CANVAS, CANVAS, 3), np.uint8)
    assert aligned.to_original(face).shape == (*scan.shape, 3)


def test_without_a_face_the_ink_places_the_sketch_and_says_so():
    scan = scan_of(disc_sketch(), similarity(0, 0.5, (250, 300)))
    no_face = lambda rgb: None  # noqa: E731
    aligned = align_sketch(scan, 128, detector=no_face)
    assert aligned.method == "ink" and aligned.moved and "no face found" in aligned.warning
    with pytest.raises(AlignmentError, match="no face found"):
        align_sketch(scan, 128, detector=no_face, fallback=False)
    with pytest.raises(AlignmentError, match="blank"):
        align_sketch(np.full((64, 64), 255, np.uint8), 128, detector=no_face)


def test_noise_is_not_a_face_sketch():
    noise = np.random.default_rng(0).integers(0, 256, (700, 300), dtype=np.uint8)
    with pytest.warns(SketchWarning, match="does not look like a face sketch.*--align"):
        load_sketch(noise, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SketchWarning)
        aligned = align_sketch(noise, 128, detector=lambda rgb: None)
    assert aligned.method == "ink" and aligned.warning


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.png")), ids=lambda p: p.stem)
def test_the_sample_sketches_raise_no_template_warning(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SketchWarning)
        load_sketch(path, 128)


def test_without_mediapipe_align_says_what_to_install(without_mediapipe):
    with pytest.raises(ImportError, match="requirements-train.txt"):
        align_sketch(disc_sketch(), 128)
    assert not sketch_align.landmarker_available()
