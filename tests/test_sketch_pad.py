"""The sketch pad's callback logic and widget, without a browser.

A fake pipeline (slow on demand, records what it was given) checks the threading: strokes
never wait for a refresh, edits during a refresh are coalesced, errors keep the pad alive.
The tiny random-weight pipeline checks the real path: only touched parts are re-encoded, the
shadow, the widget's messages and buttons, and the latency benchmark. The upload's align toggle
is checked on the fake pipeline (a stub aligner, mediapipe missing, refused files).
"""
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import BAD_UPLOADS, drawn_face

from dsf import sketch_align
from dsf.components import windows
from dsf.config import PARTS
from dsf.pad_controller import PadController, benchmark_stroke_latency
from dsf.png import png_bytes
from dsf.strokes import Sketch, Stroke


def window_stroke(part, canvas=128, length=0.25):
    w = windows(canvas)[part]
    cx, cy = w.centre
    cy -= w.size / 8   # a little above the centre: at 128 the nose window starts 3 px below the eyes' centre
    h = length * w.size / 2
    return Stroke.from_pixels([(cx - h, cy), (cx, cy - 1), (cx + h, cy)], canvas, 2.0)


class FakePipeline:
    """Looks like a Pipeline to the controller; `delay` s per run; remembers the sketches."""

    def __init__(self, delay=0.0, canvas=128, fail=False):
        self.config = SimpleNamespace(canvas=canvas, name="fake", k=4)
        self.max_k = 8  # the pad's K slider asks
        self.delay, self.fail = delay, fail
        self.sketches, self.started = [], threading.Event()
        self.threads = set()

    def run(self, sketch, refine=0.5, sex=None, k=None, shadow=False):
        self.threads.add(threading.current_thread().name)
        self.started.set()
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("boom")
        self.sketches.append(np.array(sketch))
        img = np.repeat(np.asarray(sketch)[..., None], 3, axis=2)
        return SimpleNamespace(image=img, recomputed=(), timings={}, refine=refine, sex=sex)


# ---- threading, debounce, coalescing ---------------------------------------------------------------
def test_strokes_never_wait_and_are_coalesced():
    pipe = FakePipeline(delay=0.4)
    ctrl = PadController(pipe, shadow=False, debounce=0.0)
    try:
        ctrl.refresh()
        assert pipe.started.wait(5)                 # a refresh is running now
        t = time.perf_counter()
        strokes = [window_stroke(p) for p in ("eye1", "eye2", "nose", "mouth")]
        for s in strokes:
            ctrl.add_stroke(s)
        assert time.perf_counter() - t < 0.2         # drawing did not wait for the 0.4 s run
        assert ctrl.busy
        assert ctrl.wait(10) and not ctrl.busy
        # the four strokes that arrived during the first run became ONE follow-up refresh
        assert len(pipe.sketches) == 2 and len(ctrl.records) == 2
        last = ctrl.records[-1]
        assert last.edits == 4 and last.since_first_s > last.latency_s
        assert set(last.touched) >= {"eye1", "eye2", "nose", "mouth"}
        expected = Sketch(strokes).render(128)
        np.testing.assert_array_equal(pipe.sketches[-1], expected)   # the newest state
        np.testing.assert_array_equal(ctrl.face[..., 0], expected)
        assert pipe.threads == {"dsf-sketch-pad"}                     # never the caller's thread
    finally:
        ctrl.close()


def test_debounce_waits_for_a_pause():
    pipe = FakePipeline()
    ctrl = PadController(pipe, shadow=False, debounce=0.3)
    try:
        for i in range(3):
            ctrl.add_stroke(Stroke([(0.1 * (i + 1), 0.1)], 0.01))
            time.sleep(0.05)
        assert ctrl.wait(10)
        assert len(pipe.sketches) == 1                # three quick strokes, one refresh
        assert ctrl.records[0].latency_s >= 0.25
    finally:
        ctrl.close()


def test_events_refresh_and_settings_are_passed():
    pipe = FakePipeline()
    faces, statuses = [], []
    ctrl = PadController(pipe, shadow=False, debounce=0, refine={"eye1": 0.9}, sex="female",
                         on_face=lambda img, rec: faces.append(rec), on_status=statuses.append)
    try:
        a = ctrl.add_stroke(window_stroke("eye1"))
        assert a == ("eye1",)
        assert ctrl.add_stroke({"points": [[0.02, 0.02], [0.1, 0.05]], "width": 0.01}) == ("remainder",)
        assert ctrl.wait(10)
        n = len(pipe.sketches)
        assert ctrl.undo() and ctrl.wait(10) and len(ctrl.sketch) == 1
        assert ctrl.redo() and ctrl.wait(10) and len(ctrl.sketch) == 2
        assert not ctrl.redo()
        ctrl.clear()
        assert ctrl.wait(10) and len(ctrl.sketch) == 0
        assert (pipe.sketches[-1] == 255).all()
        ctrl.undo()
        ctrl.remove(0)
        assert ctrl.wait(10) and len(ctrl.sketch) == 1
        ctrl.set_sex("male")
        ctrl.set_refine(0.2)
        assert ctrl.wait(10)
        assert len(pipe.sketches) > n and faces and "face" in statuses[-1]
        ctrl.set_shadow(False)
    finally:
        ctrl.close()


def test_load_image_json_and_keep_strokes(tmp_path):
    from PIL import Image

    pipe = FakePipeline()
    ctrl = PadController(pipe, shadow=False, debounce=0)
    try:
        img = np.full((300, 300), 255, np.uint8)
        img[140:160, 50:250] = 0
        Image.fromarray(img).save(tmp_path / "s.png")
        ctrl.add_stroke(window_stroke("eye1"))
        ctrl.load(tmp_path / "s.png")
        assert ctrl.wait(10)
        assert ctrl.sketch.base.shape == (512, 512) and len(ctrl.sketch) == 0
        assert pipe.sketches[-1][64, 64] < 128            # the loaded bar is in the face
        ctrl.undo()                                        # loading is one undoable edit
        assert ctrl.sketch.base is None and len(ctrl.sketch) == 1
        Sketch([window_stroke("nose")]).save_json(tmp_path / "n.json")
        ctrl.load(tmp_path / "n.json", keep_strokes=True)
        assert len(ctrl.sketch) == 2
        ctrl.load((tmp_path / "s.png").read_bytes())       # an upload's bytes
        assert ctrl.wait(10) and ctrl.sketch.base is not None
    finally:
        ctrl.close()


def test_errors_keep_the_pad_alive():
    pipe = FakePipeline(fail=True)
    statuses = []
    ctrl = PadController(pipe, shadow=False, debounce=0, on_status=statuses.append)
    try:
        ctrl.add_stroke(window_stroke("eye1"))
        assert ctrl.wait(10)
        assert isinstance(ctrl.error, RuntimeError) and statuses[-1].startswith("error: RuntimeError: boom")
        pipe.fail = False
        ctrl.add_stroke(window_stroke("eye2"))
        assert ctrl.wait(10) and ctrl.face is not None
    finally:
        ctrl.close()


# ---- the real pipeline (tiny, random weights) ------------------------------------------------------
@pytest.fixture
def ctrl(tiny_pipeline):
    c = PadController(tiny_pipeline, debounce=0, shadow=True)
    c.refresh()
    assert c.wait(600), "the first refresh (Jittor compiles) did not finish"
    yield c
    c.close()


def test_only_touched_parts_are_reencoded(ctrl, tiny_pipeline):
    canvas = tiny_pipeline.config.canvas
    assert ctrl.face.shape == (canvas, canvas, 3) and ctrl.face.dtype == np.uint8
    assert ctrl.shadow.shape == (canvas, canvas) and ctrl.shadow.dtype == np.uint8
    for part in ("eye1", "eye2"):
        touched = ctrl.add_stroke(window_stroke(part, canvas))
        assert ctrl.wait(120) and ctrl.error is None
        rec = ctrl.records[-1]
        assert touched == (part,) and rec.touched == (part,)
        assert rec.recomputed == (part,)               # only that part was re-encoded/decoded
        assert rec.shadow_s is not None and rec.latency_s > 0
    ctrl.add_stroke(Stroke([(0.02, 0.9), (0.1, 0.97)], 0.02))     # the remainder (chin corner)
    assert ctrl.wait(120) and ctrl.records[-1].recomputed == ("remainder",)
    # the published face is the pipeline's face of the rendered vector sketch
    again = tiny_pipeline.run(ctrl.sketch.render(canvas), refine=0.5).image
    np.testing.assert_array_equal(ctrl.face, again)


def test_shadow_cache_matches_pipeline_shadow(ctrl, tiny_pipeline):
    ctrl.add_stroke(window_stroke("nose", tiny_pipeline.config.canvas))
    assert ctrl.wait(120)
    full = tiny_pipeline.run(ctrl.sketch.render(tiny_pipeline.config.canvas), shadow=True).shadow
    assert np.abs(full.astype(int) - ctrl.shadow.astype(int)).max() <= 1


def test_benchmark_stroke_latency(tiny_pipeline):
    r = benchmark_stroke_latency(tiny_pipeline, n=5)
    assert r["n"] == 5 and len(r["latencies_s"]) == 5 and r["canvas"] == 128
    assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"] and r["run_median_s"] > 0
    assert r["shadow_median_s"] is not None
    assert all(len(rc) >= 1 for rc in r["recomputed"])        # each stroke changed some part
    assert all(len(rc) <= 3 for rc in r["recomputed"])        # … never everything


# ---- the widget (no front end: messages are fed in as the browser would send them) -------------------
def test_widget_messages_buttons_and_save(tiny_pipeline, tmp_path, monkeypatch):
    pytest.importorskip("anywidget")
    from dsf.sketch_pad import SketchCanvas, SketchPad, sketch_pad

    pad = sketch_pad(tiny_pipeline, debounce=0)
    try:
        assert isinstance(pad, SketchPad) and isinstance(pad.canvas, SketchCanvas)
        assert pad.controller.wait(600)
        first = pad.face.value
        assert bytes(first[:8]) == b"\x89PNG\r\n\x1a\n"
        assert pad.canvas.shadow.startswith("data:image/png;base64,")
        # the browser's message at pointerup
        pad.canvas._handle(pad.canvas, {"type": "stroke", "seq": 1, "points": [[0.3, 0.39], [0.36, 0.40]],
                                        "width": 4 / 512, "mode": "pen"}, [])
        assert pad.canvas.ack == 1 and len(pad.canvas.strokes) == 1
        assert pad.canvas.strokes[0]["points"][0] == [0.3, 0.39]
        assert pad.controller.wait(120) and pad.face.value != first
        assert pad.controller.records[-1].touched == ("eye1",)
        pad.canvas._handle(pad.canvas, {"type": "other"}, [])        # ignored
        # the interactive notebook's refine sliders / sex pool, reused: one slider → one part
        from dsf.widgets import RefineControls

        assert isinstance(pad.refine_panel, RefineControls)
        pad.refine_panel.sliders["mouth"].value = 1.0
        assert pad.controller.wait(120) and pad.controller.refine["mouth"] == 1.0
        assert pad.controller.records[-1].recomputed == ("mouth",)
        pad.refine_panel.sex.value = "female"
        assert pad.controller.wait(120) and pad.controller.sex == "female" and pad.controller.error is None
        # tools
        pad.tool.value = "eraser"
        pad.width_slider.value = 20
        assert pad.canvas.mode == "eraser" and pad.canvas.width == pytest.approx(20 / 512)
        pad.undo_btn.click()
        assert pad.canvas.strokes == [] and pad.controller.wait(120)
        pad.redo_btn.click()
        assert len(pad.canvas.strokes) == 1
        pad.shadow_box.value = False
        assert pad.canvas.show_shadow is False and pad.controller.shadow_on is False
        # save PNG + JSON
        monkeypatch.chdir(tmp_path)
        pad.save_path.value = "out/my_face"
        (tmp_path / "out").mkdir()
        pad.save_btn.click()
        assert (tmp_path / "out/my_face.png").exists()
        assert Sketch.load_json(tmp_path / "out/my_face.json").strokes == pad.controller.sketch.strokes
        # load a PNG as the starting point (upload widget's value format)
        pad._on_upload({"new": ({"name": "x.png", "type": "image/png", "size": 1,
                                 "content": memoryview(png_bytes(np.full((64, 64), 128, np.uint8)))},)})
        assert pad.canvas.base.startswith("data:image/png;base64,") and pad.canvas.strokes == []
        pad.clear_btn.click()
        assert pad.canvas.base == "" and pad.controller.wait(120)
    finally:
        pad.controller.close()


# ---- the upload's align toggle (on the fake pipeline) ------------------------------------------------
@pytest.fixture
def fake_pad():
    pytest.importorskip("anywidget")
    from dsf.sketch_pad import sketch_pad

    pad = sketch_pad(FakePipeline(), shadow=False, debounce=0)
    assert pad.controller.wait(10)
    yield pad
    pad.controller.close()


def upload_aligned(pad, name: str, content: bytes) -> None:
    """Tick align and upload a file (the upload widget's value format)."""
    pad.align.value = True
    entry = {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content)}
    pad._on_upload({"new": (entry,)})


def test_align_loads_the_aligned_sketch_and_notes_it_until_the_next_load(fake_pad, stub_aligner):
    upload_aligned(fake_pad, "scan.png", png_bytes(drawn_face(300)))
    assert stub_aligner.calls == [512] and fake_pad.controller.wait(10)
    np.testing.assert_array_equal(fake_pad.controller.sketch.base, drawn_face(512))
    status = fake_pad.status.value
    assert status.startswith("face ") and status.endswith(" · aligned (landmarks)")  # after the refresh's own status
    stub_aligner.warning = "the face is small (eyes 20 px apart): the aligned sketch is blurry"
    upload_aligned(fake_pad, "small.png", png_bytes(drawn_face(300)))
    assert fake_pad.controller.wait(10) and fake_pad.status.value.endswith(stub_aligner.warning)
    fake_pad.sample.value = fake_pad.sample.options[1][1]
    assert fake_pad.controller.wait(10) and "blurry" not in fake_pad.status.value


def test_align_without_mediapipe_shows_the_install_hint(fake_pad, without_mediapipe):
    upload_aligned(fake_pad, "scan.png", png_bytes(drawn_face(300)))
    assert fake_pad.status.value.endswith(sketch_align.INSTALL_HINT)
    assert fake_pad.controller.sketch.base is None  # the sketch is left as it was


@pytest.mark.parametrize("content, words", BAD_UPLOADS.values(), ids=list(BAD_UPLOADS))
def test_align_refusing_a_file_says_why_in_one_line(fake_pad, no_face_found, content, words):
    upload_aligned(fake_pad, "bad.png", content)
    status = fake_pad.status.value
    assert "· not aligned:" in status and words in status and "\n" not in status
    assert fake_pad.controller.sketch.base is None


def test_sketch_pad_reads_params_from_env(tmp_path, monkeypatch, tiny_pipeline):
    from dsf.params import save_model
    from dsf.sketch_pad import sketch_pad

    folder = save_model(tmp_path / "tiny", tiny_pipeline.config, tiny_pipeline.networks, tiny_pipeline.banks)
    monkeypatch.setenv("DSF_PARAMS", str(folder))
    pad = sketch_pad(debounce=0, start=Sketch([window_stroke("mouth")]))
    try:
        assert pad.controller.wait(600) and pad.controller.error is None
        assert pad.controller.pipeline.config == tiny_pipeline.config
        assert pad.face.value and len(pad.canvas.strokes) == 1
    finally:
        pad.controller.close()


def test_parts_constant():
    assert PARTS == ("eye1", "eye2", "nose", "mouth", "remainder")


def test_a_bad_upload_without_align_says_why_in_one_line(fake_pad):
    content = BAD_UPLOADS["not an image"][0]  # (a blank page is a fine start without align)
    entry = {"name": "bad.png", "type": "image/png", "size": len(content), "content": memoryview(content)}
    fake_pad._on_upload({"new": (entry,)})  # no exception escapes the widget callback
    status = fake_pad.status.value
    assert "not loaded:" in status and "\n" not in status
    assert fake_pad.controller.sketch.base is None  # the sketch is left as it was
