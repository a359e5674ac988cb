import numpy as np
import pytest

from conftest import TINY, random_banks
from dsf.config import PARTS
from dsf.images import SketchError
from dsf.manifold import blend
from dsf.pipeline import Pipeline, refine_per_part


def test_trace_holds_every_intermediate_with_the_documented_shapes(tiny_pipeline, face_sketch):
    tr = tiny_pipeline.run(face_sketch, refine=0.5, shadow=True)
    c, w = TINY.canvas, tiny_pipeline.windows
    assert tr.sketch.shape == (c, c) and tr.sketch.dtype == np.uint8
    assert set(tr.parts) == set(PARTS) and tr.parts["eye1"].shape == (w["eye1"].size,) * 2
    for p in PARTS:
        assert tr.latents[p].shape == (TINY.latent,)
        assert tr.neighbours[p].shape == (TINY.k,) and tr.weights[p].sum() == pytest.approx(1, abs=1e-6)
        assert np.allclose(tr.blended[p], blend(tr.latents[p], tr.projected[p], 0.5), atol=1e-6)
        assert tr.feature_maps[p].shape == (TINY.feature_channels, w[p].size, w[p].size)
    assert tr.fused.shape == (TINY.feature_channels, c, c)
    assert tr.image.shape == (c, c, 3) and tr.image.dtype == np.uint8
    assert tr.shadow.shape == (c, c) and tr.shadow.dtype == np.uint8
    assert {"encode", "project", "decode_features", "fuse", "synthesize", "shadow"} <= set(tr.timings)


def test_changing_one_refine_recomputes_only_that_part(tiny_pipeline, face_sketch):
    first = tiny_pipeline.run(face_sketch, refine=0.2)
    again = tiny_pipeline.run(face_sketch, refine=0.2)
    assert again.recomputed == () and np.array_equal(first.image, again.image)
    changed = tiny_pipeline.run(face_sketch, refine={**refine_per_part(0.2), "mouth": 0.9})
    assert changed.recomputed == ("mouth",)
    assert not np.array_equal(changed.image, first.image)


def test_a_stroke_in_one_window_reencodes_only_that_part(tiny_pipeline, face_sketch):
    tiny_pipeline.run(face_sketch)
    w = tiny_pipeline.windows["eye1"]
    stroked = face_sketch.copy()
    stroked[w.y + 5, w.x + 2 : w.x + 20] = 0
    tr = tiny_pipeline.run(stroked)
    assert tr.recomputed == ("eye1",)


def test_refine_endpoints_follow_the_released_direction(tiny_pipeline, face_sketch):
    raw = tiny_pipeline.run(face_sketch, refine=0.0)
    projected = tiny_pipeline.run(face_sketch, refine=1.0)
    for p in PARTS:
        assert np.allclose(raw.blended[p], raw.latents[p])
        assert np.allclose(projected.blended[p], projected.projected[p], atol=1e-6)


def test_batched_grid_equals_one_at_a_time(tiny_pipeline, face_sketch):
    settings = [0.0, 1.0, {"nose": 1.0}]
    grid = tiny_pipeline.run_batch(face_sketch, settings)
    assert grid.shape == (3, TINY.canvas, TINY.canvas, 3)
    for image, r in zip(grid, settings):
        single = tiny_pipeline.run(face_sketch, refine=r).image
        assert np.abs(image.astype(int) - single).max() <= 1  # float summation order only


def test_stages_are_callable_alone_and_agree_with_run(tiny_pipeline, face_sketch):
    tr = tiny_pipeline.run(face_sketch, refine=0.7, sex="female", k=3)
    latent = tiny_pipeline.encode("nose", tr.parts["nose"])
    assert np.allclose(latent, tr.latents["nose"], atol=1e-5)
    proj, blended = tiny_pipeline.project("nose", latent, 0.7, "female", 3)
    assert np.array_equal(proj.indices, tr.neighbours["nose"])
    assert np.all(tiny_pipeline.banks["nose"].labels["sex"][proj.indices] == "female")
    explicit, _ = tiny_pipeline.project("nose", latent, 0.7, neighbours=proj.indices[::-1], solver="released")
    assert np.array_equal(explicit.indices, proj.indices[::-1])
    image = tiny_pipeline.faces_from_latents(tr.blended)
    assert np.abs(image.astype(int) - tr.image).max() <= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"refine": 1.5}, "within \\[0, 1\\]"),
    ({"refine": {"ear": 0.5}}, "unknown part"),
    ({"sex": "other"}, "sex must be"),
])
def test_bad_arguments_get_clear_errors(tiny_pipeline, face_sketch, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_pipeline.run(face_sketch, **kwargs)


def test_bad_sketch_file_gets_a_sketch_error(tiny_pipeline, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(SketchError, match="x.png"):
        tiny_pipeline.run(bad)


def test_missing_bank_is_named():
    banks = random_banks(TINY)
    del banks["nose"]
    with pytest.raises(ValueError, match="nose"):
        Pipeline(TINY, {}, banks)


def test_trace_keeps_each_parts_projection(tiny_pipeline, face_sketch):
    tr = tiny_pipeline.run(face_sketch, refine=0.3, k=3)
    for p in PARTS:
        proj = tr.projections[p]
        assert proj.indices is tr.neighbours[p] and proj.weights is tr.weights[p] and proj.projected is tr.projected[p]
        assert len(proj.indices) == 3


def test_synthesize_is_the_generator_alone(tiny_pipeline, face_sketch):
    tr = tiny_pipeline.run(face_sketch)
    import jittor as jt

    faces = tiny_pipeline.synthesize(jt.array(tr.fused[None]))
    assert faces.shape == (1, TINY.canvas, TINY.canvas, 3) and np.abs(faces[0].astype(int) - tr.image).max() <= 1


def test_decode_sketch_gives_window_sized_sketches(tiny_pipeline, face_sketch):
    tr = tiny_pipeline.run(face_sketch)
    size = tiny_pipeline.windows["mouth"].size
    one = tiny_pipeline.decode_sketch("mouth", tr.latents["mouth"])
    both = tiny_pipeline.decode_sketch("mouth", np.stack([tr.latents["mouth"], tr.projected["mouth"]]))
    assert one.shape == (size, size) and both.shape == (2, size, size) and one.dtype == np.float32
    np.testing.assert_allclose(both[0], one, atol=1e-5)


def test_shadow_decodes_a_part_again_only_when_its_projection_changed(tiny_pipeline, face_sketch, monkeypatch):
    tr = tiny_pipeline.run(face_sketch, k=3)
    first = tiny_pipeline.shadow(tr.projections)
    decoded = []
    real = Pipeline.decode_sketch
    monkeypatch.setattr(Pipeline, "decode_sketch", lambda self, part, v: decoded.append(part) or real(self, part, v))
    assert np.array_equal(tiny_pipeline.shadow(tr.projections), first) and decoded == []
    moved = dict(tr.projections, nose=tiny_pipeline.project("nose", tr.latents["nose"], k=4)[0])
    tiny_pipeline.shadow(moved)
    assert decoded == ["nose"]
    assert np.array_equal(tiny_pipeline.run(face_sketch, k=3, shadow=True).shadow, first)


def test_max_k_is_the_smallest_pool_a_user_can_pick():
    banks = random_banks(TINY, rows=24)  # per part: 8 male, 8 female, 8 unlabelled
    assert Pipeline(TINY, {}, banks).max_k == 8
    banks["nose"].labels["sex"][:] = "female"  # no male pool for the nose: not a choice
    assert Pipeline(TINY, {}, banks).max_k == 8
    banks["eye1"] = type(banks["eye1"])(banks["eye1"].vectors[:5])
    assert Pipeline(TINY, {}, banks).max_k == 5


def test_clear_cache_makes_run_compute_every_stage_again(tiny_pipeline, face_sketch):
    tiny_pipeline.run(face_sketch)
    assert tiny_pipeline.run(face_sketch).recomputed == ()
    tiny_pipeline.clear_cache()
    again = tiny_pipeline.run(face_sketch)
    assert again.recomputed == PARTS and "encode" in again.timings


def test_large_batches_are_chunked_with_the_same_result(tiny_pipeline, face_sketch, monkeypatch):
    settings = [0.0, 0.5, 1.0]
    whole = tiny_pipeline.run_batch(face_sketch, settings)
    monkeypatch.setattr(Pipeline, "max_batch", property(lambda self: 2))
    chunked = tiny_pipeline.run_batch(face_sketch, settings)
    assert np.abs(chunked.astype(int) - whole).max() <= 1


def test_no_grad_from_two_threads_restores_the_flag_whatever_the_order():
    """Jittor's own no_grad, interleaved as enter A, enter B, leave A, leave B, leaves
    gradients off for good; the kit's counts the threads inside."""
    import threading

    import jittor as jt

    from dsf._nograd import no_grad

    assert not jt.flags.no_grad
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        with no_grad():
            a_in.set()
            b_in.wait(5)
        seen["after A left"] = jt.flags.no_grad
        a_out.set()

    def thread_b():
        a_in.wait(5)
        with no_grad():
            b_in.set()
            a_out.wait(5)

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after A left"]          # B is still inside: gradients stay off for it
    assert not jt.flags.no_grad          # the last one out restored the flag
