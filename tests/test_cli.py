"""The command line end to end, on a tiny random-weight folder in the kit's layout."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, drawn_face, random_banks
from dsf.networks import build_networks
from dsf.params import save_model


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
