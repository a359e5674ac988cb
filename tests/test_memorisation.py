"""tools/memorisation.py: identity on training sketches beside held-out ones, each set ranked
within its own gallery."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, random_banks

from dsf.data.dataset import PACK_ARRAYS

jt = pytest.importorskip("jittor")

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("memorisation", ROOT / "tools" / "memorisation.py")
memorisation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memorisation)


def _sketches(n, seed):
    rng = np.random.default_rng(seed)
    sk = np.full((n, 128, 128), 255, np.uint8)
    for s in sk:
        for _ in range(40):
            y, x = rng.integers(4, 120, 2)
            s[y:y + 2, x:x + rng.integers(3, 30)] = 0
    return sk


def _pack(folder, split, sketches, photos, source):
    n = len(sketches)
    arrays = {"photos": photos, "sketches": sketches, "ids": np.array([f"{split}{i}" for i in range(n)]),
              "sex": np.array([""] * n), "source": np.array([source] * n)}
    assert set(arrays) == set(PACK_ARRAYS)
    np.savez(folder / f"pack_{split}.npz", **arrays)


def test_a_model_that_reproduces_its_training_photos_shows_the_gap(tmp_path, capsys):
    """Training photos = the model's own faces (perfect memorisation), test photos = the model's
    faces of other sketches: the tool reports 100 % top-1 on the first and less on the second."""
    from dsf.networks import build_networks
    from dsf.params import save_model
    from dsf.pipeline import load_pipeline

    folder = save_model(tmp_path / "kit", TINY, build_networks(TINY), random_banks(TINY), dtype="float32")
    pipe = load_pipeline(folder)
    train_sk, test_sk = _sketches(10, 0), _sketches(6, 1)
    faces = lambda sk: memorisation.synthesize_all(pipe, memorisation.encode_all(pipe, sk, 8), 8, 1)
    data = tmp_path / "data"
    data.mkdir()
    _pack(data, "train", train_sk, faces(train_sk), "fs2k")
    _pack(data, "test", test_sk, np.roll(faces(test_sk), 1, axis=0), "fs2k")  # each sketch another's photo
    memorisation.main(["--params", str(folder), "--data", str(data), "--source", "fs2k"])
    lines = capsys.readouterr().out.splitlines()
    assert "gallery of 6 photos" in lines[0]
    train_row = next(l for l in lines if l.startswith("| train (fs2k)"))
    test_row = next(l for l in lines if l.startswith("| test (held out)"))
    assert train_row.split("|")[2].strip().startswith("100.0 / 100.0 %, 1")
    assert not test_row.split("|")[2].strip().startswith("100.0")


def test_clear_errors(tmp_path):
    with pytest.raises(SystemExit, match="not found"):
        memorisation.main(["--data", str(tmp_path)])
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "test"):
        _pack(data, split, _sketches(2, 0), np.zeros((2, 128, 128, 3), np.uint8), "scut")
    with pytest.raises(SystemExit, match="no training faces of source 'fs2k'"):
        memorisation.main(["--data", str(data)])
