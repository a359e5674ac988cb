"""Template alignment (dsf.data.align) on synthetic landmarks: no mediapipe, no shared data."""
import numpy as np
import pytest

pytest.importorskip("cv2")

from dsf.components import windows
from dsf.data.align import (Thresholds, align_face, apply, rescale, reject_reason, similarity, template_points,
                            warp_photo, warp_sketch, window_centres)
from dsf.data.landmarks import FaceCentres


def similarity_matrix(scale, angle_deg, tx, ty):
    a = np.radians(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, [[tx], [ty]]])


def face_in_photo(canvas, matrix, nose_tip_shift=0.0):
    """Centres of a template-shaped face placed in a photo by `matrix` (template -> photo)."""
    pts = apply(matrix, template_points(canvas))
    tip = pts[2] + nose_tip_shift * (pts[1] - pts[0])
    return FaceCentres(points=pts, nose_tip=tip)


@pytest.mark.parametrize("canvas", [128, 256, 512])
def test_template_points_are_the_eye_window_centres_and_an_upright_midline(canvas):
    t, w = template_points(canvas), window_centres(canvas)
    np.testing.assert_allclose(t[:2], w[:2])                 # eyes exactly at their window centres
    np.testing.assert_allclose(t[2:, 1], w[2:, 1])           # nose and mouth at their windows' heights
    np.testing.assert_allclose(t[2:, 0], t[:2, 0].mean())    # ... on the vertical through the eye midpoint
    for name, (x, y) in zip(("nose", "mouth"), t[2:]):
        win = windows(canvas)[name]                          # still well inside their windows
        assert win.x + 0.3 * win.size < x < win.x + 0.7 * win.size


@pytest.mark.parametrize("scale,angle,tx,ty", [(1.0, 0, 0, 0), (2.3, 17, -40, 12), (0.4, -9, 300, 250)])
def test_similarity_recovers_the_transform_from_synthetic_landmarks(scale, angle, tx, ty):
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (4, 2))
    truth = similarity_matrix(scale, angle, tx, ty)
    fitted = similarity(src, apply(truth, src), weights=[1, 1, 0.5, 0.5])
    np.testing.assert_allclose(fitted, truth, atol=1e-9)


def test_similarity_never_reflects():
    src = np.array([[0, 0], [10, 0], [5, 8], [5, 14]], float)
    mirrored = src * [-1, 1]
    m = similarity(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


@pytest.mark.parametrize("canvas", [128, 256, 512])
def test_align_maps_landmark_centres_onto_the_window_centres(canvas):
    # A face 1.7× the template, rotated 12°, shifted: after alignment its centres sit on the
    # template, so the eyes are on their window centres and nose and mouth inside their windows.
    photo_matrix = similarity_matrix(1.7 * 256 / canvas, 12, 40, -10)
    centres = face_in_photo(canvas, photo_matrix)
    a = align_face(centres, (600, 600), canvas)
    np.testing.assert_allclose(a.aligned, template_points(canvas), atol=1e-6)
    assert a.eye_error_px < 1e-6 and a.residual_frac < 1e-9
    assert a.roll_deg == pytest.approx(12)
    for name, (x, y) in zip(("eye1", "eye2", "nose", "mouth"), a.aligned):
        w = windows(canvas)[name]
        assert w.x < x < w.x + w.size and w.y < y < w.y + w.size
    assert np.linalg.norm(a.aligned - window_centres(canvas), axis=1).max() < 0.04 * canvas


def test_noisy_landmarks_keep_eyes_within_three_percent():
    rng = np.random.default_rng(1)
    canvas = 256
    base = face_in_photo(canvas, similarity_matrix(1.2, -5, 30, 20))
    for _ in range(20):
        noisy = FaceCentres(points=base.points + rng.normal(0, 2.0, (4, 2)), nose_tip=base.nose_tip)
        assert align_face(noisy, (500, 500), canvas).eye_error_frac < 0.03


def test_reject_reasons():
    canvas = 256
    ok = align_face(face_in_photo(canvas, similarity_matrix(1.0, 3, 20, 20)), (400, 400), canvas)
    assert reject_reason(ok) is None
    rolled = align_face(face_in_photo(canvas, similarity_matrix(1.0, 40, 200, 0)), (600, 600), canvas)
    assert reject_reason(rolled) == "roll_too_large"
    turned = align_face(face_in_photo(canvas, similarity_matrix(1.0, 0, 20, 20), nose_tip_shift=0.4), (400, 400), canvas)
    assert abs(turned.yaw_asymmetry) > Thresholds().max_yaw_asymmetry
    assert reject_reason(turned) == "yaw_too_large"
    small = align_face(face_in_photo(canvas, similarity_matrix(0.2, 0, 5, 5)), (60, 60), canvas)
    assert reject_reason(small) == "too_small"
    cut = align_face(face_in_photo(canvas, similarity_matrix(1.0, 0, -120, 0)), (256, 256), canvas)
    assert cut.outside_frac > 0.15 and reject_reason(cut) == "out_of_frame"
    distorted = face_in_photo(canvas, similarity_matrix(1.0, 0, 20, 20))
    squashed = distorted.points.copy()
    squashed[3, 1] += 120  # mouth far below where the template allows
    bad = align_face(FaceCentres(points=squashed, nose_tip=distorted.nose_tip), (400, 400), canvas)
    assert reject_reason(bad) == "bad_alignment"


def test_warps_put_a_source_point_where_the_matrix_says():
    img = np.zeros((400, 400), np.uint8)
    yy, xx = np.mgrid[:400, :400]
    img[(xx - 123) ** 2 + (yy - 211) ** 2 <= 64] = 255
    for m in (np.array([[0.3, 0, 5], [0, 0.3, 7]]), np.array([[1.4, 0, -60], [0, 1.4, -200]])):
        out = warp_photo(np.dstack([img] * 3), m, 128)[..., 0].astype(float)
        ys, xs = np.mgrid[:128, :128]
        centre = [(out * xs).sum() / out.sum(), (out * ys).sum() / out.sum()]
        np.testing.assert_allclose(centre, apply(m, [[123, 211]])[0], atol=0.15)
    paper = warp_sketch(np.full((50, 50), 0, np.uint8), np.array([[1.0, 0, 100], [0, 1.0, 100]]), 128)
    assert paper[0, 0] == 255 and paper[120, 120] == 0  # outside the source is white paper


def test_rescale_is_the_same_alignment_on_a_larger_canvas():
    m = similarity_matrix(0.8, 7, 10, -4)
    big = rescale(m, 128, 256)
    p = np.array([[50.0, 60.0]])
    np.testing.assert_allclose(apply(big, p), (apply(m, p) + 0.5) * 2 - 0.5)
