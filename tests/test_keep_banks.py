"""tools/keep_banks.py: an export takes its source's banks only when the encoders are the same."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, random_banks

from dsf.networks import build_networks
from dsf.params import load_kit, save_model, verify_manifest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("keep_banks", ROOT / "tools" / "keep_banks.py")
keep_banks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(keep_banks)


def test_export_gets_the_source_banks_and_a_valid_manifest(tmp_path):
    nets = build_networks(TINY)
    source = save_model(tmp_path / "shipped", TINY, nets, random_banks(TINY, seed=0))
    generator_before = {n: v.numpy().copy() for n, v in nets["generator"].state_dict().items()}
    for v in nets["generator"].parameters():   # a fine-tune: the generator moves, encoders do not
        v.update(v + 1.0)
    export = save_model(tmp_path / "export", TINY, nets, random_banks(TINY, seed=1))
    keep_banks.main([str(export), "--from", str(source)])
    verify_manifest(export)
    _, new_nets, banks, _ = load_kit(export)
    np.testing.assert_array_equal(banks["mouth"].vectors, load_kit(source)[2]["mouth"].vectors)
    name = next(iter(generator_before))
    assert not np.allclose(new_nets["generator"].state_dict()[name].numpy(), generator_before[name])


def test_other_encoders_are_refused(tmp_path):
    source = save_model(tmp_path / "shipped", TINY, build_networks(TINY), random_banks(TINY))
    export = save_model(tmp_path / "export", TINY, build_networks(TINY), random_banks(TINY, seed=1))
    with pytest.raises(SystemExit, match="other encoders"):
        keep_banks.keep_banks(export, source)
    assert verify_manifest(export)


def test_a_missing_folder_is_refused_without_a_traceback(tmp_path):
    source = save_model(tmp_path / "shipped", TINY, build_networks(TINY), random_banks(TINY))
    with pytest.raises(SystemExit, match="keep_banks: "):
        keep_banks.main([str(tmp_path / "nowhere"), "--from", str(source)])
