"""tools/average_params.py: a soup of two kit folders is their tensor-wise weighted mean."""
import importlib.util
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


def test_folders_of_different_configs_are_refused(tmp_path):
    other = TINY.replace(name="other", latent=16)
    a = save_model(tmp_path / "a", TINY, build_networks(TINY), random_banks(TINY))
    b = save_model(tmp_path / "b", other, build_networks(other), random_banks(other))
    with pytest.raises(SystemExit, match="different configs"):
        average_params.average(a, b, tmp_path / "soup", 0.5)
