"""dsf.widgets driven from pytest: set slider values, check the face changed and only the
changed part was recomputed; errors land in the output area and the widgets stay alive; the
upload's align toggle (a stub aligner, mediapipe missing, refused files, the real landmarker).
Also checks the shipped sample sketches the chooser lists."""
import datetime
import io

import cv2
import numpy as np
import pytest
from conftest import BAD_UPLOADS, drawn_face, landmarker
from PIL import Image

from dsf import sketch_align, widgets
from dsf.config import PARTS


def png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(a, np.uint8)).save(buf, format="png")
    return buf.getvalue()


def upload_entry(name, content: bytes) -> dict:
    """One file as ipywidgets 8's FileUpload.value holds it."""
    return {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
            "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)}


@pytest.fixture
def panel(tiny_pipeline):
    face = drawn_face()
    other = face.copy()
    other[90:100, 50:80] = 0  # a different mouth region
    return widgets.blending_panel(tiny_pipeline, {"face": face, "other": other, "blank": np.full((128, 128), 255, np.uint8)})


def test_panel_builds_and_shows_a_face(panel):
    assert panel.last_trace is not None and panel.n_updates == 1 and not panel.errors
    assert set(panel.sliders) == set(PARTS)
    img = Image.open(io.BytesIO(panel.image.value))
    assert img.size == (256, 256)
    assert panel.last_shadow is not None and panel.last_shadow.shape == (128, 128)
    assert "recomputed" in panel.status.value


@pytest.mark.parametrize("part", PARTS)
def test_moving_one_slider_recomputes_only_that_part(panel, part):
    before = panel.image.value
    panel.sliders[part].value = 1.0
    assert not panel.errors
    assert panel.last_trace.recomputed == (part,)
    assert panel.last_trace.refine[part] == 1.0
    assert all(panel.last_trace.refine[p] == 0.5 for p in PARTS if p != part)
    assert panel.image.value != before
    assert part in panel.status.value and "ms" in panel.status.value


def test_move_all_together_sets_every_slider_with_one_update(panel):
    n = panel.n_updates
    before = panel.image.value
    panel.all_slider.value = 0.0
    assert panel.n_updates == n + 1
    assert all(s.value == 0.0 for s in panel.sliders.values())
    assert set(panel.last_trace.recomputed) == set(PARTS)
    assert panel.image.value != before


def test_refine_changes_reuse_the_shadow_and_pool_changes_recompute_it(panel, monkeypatch):
    calls = []
    real = panel.pipe.shadow
    monkeypatch.setattr(panel.pipe, "shadow", lambda proj: calls.append(1) or real(proj))
    panel.sliders["nose"].value = 0.9
    assert calls == []
    panel.sex.value = "male"
    assert calls == [1]
    assert panel.last_trace.sex == "male" and set(panel.last_trace.recomputed) == set(PARTS)
    panel.k.value = 2
    assert calls == [1, 1] and panel.last_trace.k == 2
    panel.show_shadow.value = False
    assert calls == [1, 1]


def test_choosing_another_sketch_updates_everything(panel):
    sketch_before, face_before = panel.sketch_image.value, panel.image.value
    panel.chooser.value = "other"
    assert panel.sketch_image.value != sketch_before
    assert panel.image.value != face_before
    assert "mouth" in panel.last_trace.recomputed


def test_errors_go_to_the_output_area_and_the_panel_stays_alive(panel):
    panel.sketches["broken"] = b"not an image"
    panel.chooser.options = list(panel.sketches)
    panel.chooser.value = "broken"
    assert len(panel.errors) == 1
    assert "SketchError" in panel.output.outputs[-1]["text"]
    assert "error" in panel.status.value
    panel.chooser.value = "face"
    panel.sliders["mouth"].value = 0.2
    assert len(panel.errors) == 1
    assert panel.last_trace.recomputed == ("mouth",)


def test_upload_adds_and_selects_the_sketch(panel, tiny_pipeline):
    sketch = drawn_face(256)
    panel.upload.value = (upload_entry("mine.png", png(sketch)),)
    assert not panel.errors
    assert panel.chooser.value == "upload: mine.png"
    np.testing.assert_array_equal(panel.last_trace.sketch, tiny_pipeline.load_sketch(png(sketch)))


def test_a_bad_upload_is_reported_and_leaves_the_chooser_alone(panel):
    options = panel.chooser.options
    panel.upload.value = (upload_entry("junk.png", b"junk"),)
    assert len(panel.errors) == 1 and panel.chooser.options == options
    assert "SketchError" in panel.output.outputs[-1]["text"]


# ---- the upload's align toggle ----------------------------------------------------------------------
def upload_aligned(panel, name: str, content: bytes) -> None:
    panel.align.value = True
    panel.upload.value = (upload_entry(name, content),)


@pytest.mark.parametrize("warning", [None, "the face is turned (yaw asymmetry +0.31): the model expects frontal faces"])
def test_align_stores_the_aligned_sketch_and_keeps_its_note_while_chosen(panel, stub_aligner, warning):
    stub_aligner.warning = warning
    upload_aligned(panel, "scan.png", png(drawn_face(300)))
    assert not panel.errors and panel.chooser.value == "upload: scan.png"
    assert stub_aligner.calls == [panel.pipe.config.canvas]
    np.testing.assert_array_equal(panel.sketches["upload: scan.png"], drawn_face(128))
    note = warning or "aligned (landmarks)"
    assert note in panel.status.value
    panel.sliders["mouth"].value = 0.9
    assert note in panel.status.value
    panel.chooser.value = "face"
    assert note not in panel.status.value


def test_align_without_mediapipe_shows_the_install_hint(panel, without_mediapipe):
    options = panel.chooser.options
    upload_aligned(panel, "scan.png", png(drawn_face(300)))
    assert sketch_align.INSTALL_HINT in panel.status.value
    assert panel.chooser.options == options and not panel.errors and not panel.output.outputs


@pytest.mark.parametrize("content, words", BAD_UPLOADS.values(), ids=list(BAD_UPLOADS))
def test_align_refusing_a_file_says_why_in_one_line(panel, no_face_found, content, words):
    options = panel.chooser.options
    upload_aligned(panel, "bad.png", content)
    assert "not aligned:" in panel.status.value and words in panel.status.value and "\n" not in panel.status.value
    assert panel.chooser.options == options and not panel.errors and not panel.output.outputs  # no traceback


@landmarker
def test_align_with_the_real_landmarker_puts_a_tilted_scan_on_the_template(panel):
    sketch = cv2.imread(str(widgets.SAMPLE_DIR / "03_female.png"), cv2.IMREAD_GRAYSCALE)
    move = cv2.getRotationMatrix2D((256, 256), 12, 0.7) + [[0, 0, 150], [0, 0, 250]]
    scan = png(cv2.warpAffine(sketch, move, (900, 1100), borderValue=255))
    upload_aligned(panel, "scan.png", scan)
    aligned = sketch_align.align_sketch(scan, canvas=128)
    assert aligned.method == "landmarks" and aligned.moved
    np.testing.assert_array_equal(panel.sketches["upload: scan.png"], aligned.sketch)
    np.testing.assert_array_equal(panel.last_trace.sketch, aligned.sketch)
    assert (aligned.warning or "aligned (landmarks)") in panel.status.value


def test_refine_controls_on_change_hook():
    seen = []
    c = widgets.refine_controls(value=0.3, on_change=lambda values, changed: seen.append((changed, values)))
    c.sliders["eye2"].value = 0.8
    assert seen[-1][0] == "eye2" and seen[-1][1]["refine"]["eye2"] == 0.8 and seen[-1][1]["refine"]["nose"] == 0.3
    c.all_slider.value = 1.0
    assert len(seen) == 2 and seen[-1][0] == "all" and set(seen[-1][1]["refine"].values()) == {1.0}
    c.sex.value = "female"
    assert seen[-1] == ("sex", {"refine": {p: 1.0 for p in PARTS}, "sex": "female", "k": 10})
    c.k.value = 5
    assert seen[-1][0] == "k" and seen[-1][1]["k"] == 5
    c.set_refine({"mouth": 0.1})
    assert seen[-1][0] == "mouth" and seen[-1][1]["refine"]["mouth"] == 0.1
    assert widgets.refine_controls(k=None).k is None and widgets.refine_controls(k=None).values()["k"] is None


def test_guarded_reports_exceptions():
    out, status, errors = widgets.W.Output(), widgets.W.HTML(), []

    @widgets.guarded(out, status, errors)
    def boom(x):
        raise RuntimeError(f"bad {x}")

    assert boom(3) is None
    assert isinstance(errors[0], RuntimeError) and "bad 3" in out.outputs[-1]["text"] and "bad 3" in status.value


def test_png_bytes_resizes():
    from dsf.png import png_bytes

    data = png_bytes(np.zeros((10, 20, 3), np.uint8), size=40)
    assert Image.open(io.BytesIO(data)).size == (40, 20)


def test_sample_sketches_are_shipped_and_valid():
    samples = widgets.sample_sketches()
    assert len(samples) >= 8
    for name, path in samples.items():
        im = Image.open(path)
        assert im.size == (512, 512), name
        assert path.stat().st_size < 30_000, name
        a = np.asarray(im.convert("L"))
        ink = (a < 128).mean()
        assert 0.003 < ink < 0.2, (name, ink)  # strokes on white
    assert (widgets.SAMPLE_DIR / "README.md").is_file()
    readme = (widgets.SAMPLE_DIR / "README.md").read_text()
    assert all(f"{name}.png" in readme for name in samples)


def test_the_k_slider_is_bounded_by_the_pipelines_smallest_pool(tiny_pipeline):
    controls = widgets.pipeline_controls(tiny_pipeline, k=100)
    assert controls.k.value == controls.k.max == tiny_pipeline.max_k
    assert widgets.pipeline_controls(tiny_pipeline).k.value == min(tiny_pipeline.config.k, tiny_pipeline.max_k)
