"""The command line end to end, on a tiny random-weight folder in the kit's layout."""
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, drawn_face, random_banks
from dsf.networks import build_networks
from dsf.params import save_model

SAMPLES = Path(__file__).resolve().parent.parent / "sample_sketches"


@pytest.fixture(scope="module")
def tiny_params(tmp_path_factory):
    folder = tmp_path_factory.mktemp("params") / "tiny"
    save_model(folder, TINY, build_networks(TINY), random_banks(TINY))
    return folder


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dsf", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_generate_writes_faces_shadows_and_strips(tiny_params, tmp_path):
    sketches = []
    for i in range(2):
        path = tmp_path / f"s{i}.png"
        Image.fromarray(drawn_face(300 + 20 * i)).save(path)
        sketches.append(path)
    out = tmp_path / "out"
    res = run_cli("generate", *sketches, "--params", tiny_params, "--refine", "0.3", "--part", "eye1=1",
                  "--sex", "female", "--k", "3", "--shadow", "--out", out)
    assert res.returncode == 0, res.stderr
    assert "wrote 2 face(s)" in res.stdout
    for i in range(2):
        face = np.asarray(Image.open(out / f"s{i}_face.png"))
        assert face.shape == (TINY.canvas, TINY.canvas, 3)
        assert (out / f"s{i}_shadow.png").exists()


def test_generate_passes_on_sketch_warnings_but_not_numpys_flush_to_zero_notice(tiny_params, tmp_path,
                                                                               monkeypatch, capsys):
    # Jittor's -Ofast kernels set flush-to-zero; numpy's notice about it is filtered out kit-wide,
    # and generate's own warning capture must not bring it back as a note on the sketch.
    import dsf
    from dsf.__main__ import main

    load = dsf.load_pipeline

    def load_noisy(params):
        pipe = load(params)
        run = pipe.run

        def run_and_warn(*args, **kwargs):
            warnings.warn("The value of the smallest subnormal for <class 'numpy.float32'> type is zero.")
            return run(*args, **kwargs)
        pipe.run = run_and_warn
        return pipe

    monkeypatch.setattr(dsf, "load_pipeline", load_noisy)
    path = tmp_path / "s.png"
    Image.fromarray(drawn_face(300)).save(path)
    assert main(["generate", str(path), "--params", str(tiny_params), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert "wrote 1 face(s)" in printed and "smallest subnormal" not in printed


def test_generate_skips_unreadable_inputs_with_a_message(tiny_params, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    res = run_cli("generate", bad, "--params", tiny_params, "--out", tmp_path / "o")
    assert res.returncode == 1 and "skipped" in res.stdout and "bad.png" in res.stdout


def test_bad_part_option_and_missing_params_are_explained(tmp_path):
    res = run_cli("generate", "x.png", "--part", "ear=1")
    assert res.returncode == 2 and "PART=WEIGHT" in res.stderr
    res = run_cli("generate", "x.png", "--params", tmp_path / "nowhere")
    assert res.returncode != 0 and "nowhere" in res.stderr
    assert "Traceback" not in res.stderr


def test_bench_prints_a_table_with_every_measure(tiny_params, tmp_path):
    res = run_cli("bench", "--params", tiny_params, "--repeat", "1", "--strokes", "2", "--json", tmp_path / "b.json")
    assert res.returncode == 0, res.stderr
    rows = {line.split("|")[1].strip(): line for line in res.stdout.splitlines() if line.startswith("| ")}
    for key in ("end_to_end_s", "generator_s", "one_part_update_s", "stroke_to_face_s", "peak_rss_gb"):
        value = rows[key].split("|")[2].strip()
        assert float(value) > 0, rows[key]


def test_every_refused_file_is_skipped_with_one_line_and_the_rest_is_made(tiny_params, tmp_path):
    from test_images import bad_files

    files = bad_files(tmp_path)
    good = tmp_path / "face.png"
    Image.fromarray(drawn_face(300)).save(good)
    res = run_cli("generate", good, *(path for path, _ in files.values()), "--params", tiny_params,
                  "--out", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    for path, says in files.values():
        line = next((ln for ln in res.stdout.splitlines() if ln.startswith(f"skipped {path}:")), None)
        assert line is not None and says in line, res.stdout
    assert "wrote 1 face(s)" in res.stdout and f"{len(files)} input(s) skipped" in res.stdout


def test_a_noise_image_is_made_but_warned_about(tiny_params, tmp_path):
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 300), dtype=np.uint8)).save(noise)
    res = run_cli("generate", noise, "--params", tiny_params, "--out", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    assert "does not look like a face sketch" in res.stdout and "--align" in res.stdout


def test_align_without_mediapipe_says_what_to_install(tiny_params, tmp_path):
    Image.fromarray(drawn_face(300)).save(tmp_path / "s.png")
    code = ("import sys; sys.modules['mediapipe'] = None; from dsf.__main__ import main; "
            "sys.exit(main(sys.argv[1:]))")
    res = subprocess.run([sys.executable, "-c", code, "generate", str(tmp_path / "s.png"), "--align", "--params",
                          str(tiny_params), "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=600)
    assert res.returncode == 2 and "requirements-train.txt" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                    reason="mediapipe is not installed (pip install -r requirements-train.txt)")
def test_align_writes_the_aligned_sketch_and_says_how_far_it_moved(tiny_params, tmp_path):
    sample = Image.open(SAMPLES / "07_drawn_clean.png").convert("L")
    scan = Image.new("L", (700, 900), 235)
    scan.paste(sample.rotate(10, fillcolor=235).resize((300, 300)), (300, 150))
    scan.save(tmp_path / "scan.png")
    res = run_cli("generate", tmp_path / "scan.png", "--align", "--params", tiny_params, "--out", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    assert "aligned (landmarks" in res.stdout and "off the template" in res.stdout
    aligned = np.asarray(Image.open(tmp_path / "o" / "scan_aligned.png"))
    assert aligned.shape == (TINY.canvas, TINY.canvas)
    assert (tmp_path / "o" / "scan_face.png").exists()


@pytest.mark.parametrize("command, usage", [("prepare", "python -m dsf.data prepare"), ("train", "python -m dsf.train"),
                                            ("evaluate", "python -m dsf.evaluate")])
def test_delegated_commands_reach_their_module(command, usage):
    res = run_cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"usage: {usage}")
