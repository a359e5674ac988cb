"""tools/average_params.py: a soup of kit folders is their tensor-wise weighted mean."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, random_banks

from dsf.networks import build_networks
from dsf.params import load_kit, save_model

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("average_params", ROOT / "tools" / "average_params.py")
average_params = importlib.util.module_from_spec(spec)
spec.loader.exec_module(average_params)


def _generator(folder) -> dict:
    _, nets, _, _ = load_kit(folder)
    return {n: v.numpy() for n, v in nets["generator"].state_dict().items()}


def test_soup_is_the_weighted_mean_of_the_two_folders(tmp_path):
    a = save_model(tmp_path / "a", TINY, build_networks(TINY), random_banks(TINY), dtype="float32")
    nets_b = build_networks(TINY)
    for v in nets_b["generator"].parameters():
        v.update(v + 1.0)
    b = save_model(tmp_path / "b", TINY, nets_b, random_banks(TINY, seed=1), dtype="float32")
    average_params.main([str(a), str(b), "--out", str(tmp_path / "soup"), "--weight", "0.25"])
    ga, gb, gs = _generator(a), _generator(b), _generator(tmp_path / "soup")
    name = next(n for n in ga if not np.allclose(ga[n], gb[n]))
    np.testing.assert_allclose(gs[name], 0.75 * ga[name] + 0.25 * gb[name], atol=2e-3)
    banks_a, banks_s = load_kit(a)[2], load_kit(tmp_path / "soup")[2]
    np.testing.assert_allclose(banks_s["nose"].vectors, banks_a["nose"].vectors, atol=2e-3)


def _shifted(tmp_path, name, shift, seed):
    nets = build_networks(TINY)
    for v in nets["generator"].parameters():
        v.update(v * 0 + shift)
    return save_model(tmp_path / name, TINY, nets, random_banks(TINY, seed=seed), dtype="float32")


def test_three_way_soup_gives_the_first_folder_the_rest(tmp_path):
    a, b, c = (_shifted(tmp_path, n, s, i) for i, (n, s) in enumerate([("a", 0.0), ("b", 1.0), ("c", 2.0)]))
    average_params.main([str(a), str(b), str(c), "--out", str(tmp_path / "soup"), "--weight", "0.35", "0.15"])
    weight = next(n for n in _generator(a) if n.endswith("weight"))
    np.testing.assert_allclose(_generator(tmp_path / "soup")[weight], 0.35 * 1.0 + 0.15 * 2.0, atol=1e-3)  # saved as float16
    banks_a, banks_s = load_kit(a)[2], load_kit(tmp_path / "soup")[2]
    np.testing.assert_allclose(banks_s["nose"].vectors, banks_a["nose"].vectors, atol=2e-3)


@pytest.mark.parametrize("weights, message", [(["0.5", "0.3"], "one --weight per folder"),
                                              (["1.5"], "in \\[0, 1\\]"),
                                              (["-0.1"], "in \\[0, 1\\]")])
def test_bad_weights_are_refused_with_a_clear_message(tmp_path, capsys, weights, message):
    with pytest.raises(SystemExit):
        average_params.main(["a", "b", "--out", str(tmp_path / "soup"), "--weight", *weights])
    assert re.search(message, capsys.readouterr().err)


def test_weights_summing_past_one_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        average_params.main(["a", "b", "c", "--out", str(tmp_path / "soup"), "--weight", "0.6", "0.5"])
    assert "sum to at most 1" in capsys.readouterr().err


def test_folders_of_different_configs_are_refused(tmp_path):
    other = TINY.replace(name="other", latent=16)
    a = save_model(tmp_path / "a", TINY, build_networks(TINY), random_banks(TINY))
    b = save_model(tmp_path / "b", other, build_networks(other), random_banks(other))
    with pytest.raises(SystemExit, match="different configs"):
        average_params.average(a, [b], tmp_path / "soup", [0.5])


def test_an_out_folder_that_holds_a_model_is_refused_without_a_traceback(tmp_path):
    a = save_model(tmp_path / "a", TINY, build_networks(TINY), random_banks(TINY))
    with pytest.raises(SystemExit, match="average_params: .* is not empty"):
        average_params.main([str(a), str(a), "--out", str(a)])
