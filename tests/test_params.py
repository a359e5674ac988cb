"""Parameter files (dsf.params): released and kit layouts, the restricted unpickler, errors."""
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import dsf  # noqa: F401  (Jittor environment defaults first)
from dsf import params
from dsf.config import PARTS, preset
from dsf.params import (MissingParamsError, ParamsError, kit_filename, load_model, released_bank_filenames,
                        released_filename, safe_load_pickle, save_model, save_released, verify_manifest)

SHAPES_JSON = Path(__file__).parent / "data" / "official_param_shapes.json"
# Small enough that every network of a model fills, saves and loads in a fraction of a second.
SMALL = preset("compact128").replace(name="small", width=0.125, latent=32, feature_channels=8)


def build(config):
    from dsf.networks import build_networks

    return build_networks(config)


def random_state(nets, seed):
    """{network key: {tensor name: float32 array}} of random values (positive running_var)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, net in nets.items():
        out[key] = {}
        for name, var in net.state_dict().items():
            a = rng.standard_normal(tuple(var.shape)).astype(np.float32)
            out[key][name] = np.abs(a) + 0.5 if name.endswith("running_var") else a
    return out


def fill(nets, state):
    import jittor as jt

    for key, net in nets.items():
        for name, var in net.state_dict().items():
            var.update(jt.array(state[key][name]))


def current_state(nets):
    return {key: {name: var.numpy() for name, var in net.state_dict().items()} for key, net in nets.items()}


def make_banks(config, seed=0, rows=12):
    from dsf.manifold import Bank

    rng = np.random.default_rng(seed)
    sex = np.array(["male"] * (rows // 3) + ["female"] * (rows - rows // 3))
    return {p: Bank(rng.standard_normal((rows, config.latent)).astype(np.float32),
                    {"sex": sex, "id": np.array([f"{p}-{i}" for i in range(rows)]), "index": np.arange(rows)})
            for p in PARTS}


def assert_state_equal(nets, state, cast=None):
    for key, net in nets.items():
        sd = net.state_dict()
        assert set(sd) == set(state[key]), key
        for name, var in sd.items():
            want = state[key][name] if cast is None else state[key][name].astype(cast).astype(np.float32)
            got = var.numpy()
            assert got.dtype == np.float32
            assert np.array_equal(got, want), f"{key} {name}"


@pytest.fixture(scope="module")
def small_model():
    nets = build(SMALL)
    state = random_state(nets, 1)
    fill(nets, state)
    return nets, state, make_banks(SMALL)


# ---------------------------------------------------------------------- released file names
def test_published_state_dicts_match_all_16_released_files():
    official = json.loads(SHAPES_JSON.read_text())
    nets = build(preset("published"))
    assert len(nets) == 16
    assert sorted(released_filename(k) for k in nets) == sorted(official)
    for key, net in nets.items():
        ours = {name: [int(s) for s in var.shape] for name, var in net.state_dict().items()}
        theirs = official[released_filename(key)]
        assert ours == theirs, key


def test_released_filenames():
    assert released_filename("encoder/eye1") == "AE_whole/latest_net_encoder_eye1.pkl"
    assert released_filename("sketch_decoder/remainder") == "AE_whole/latest_net_decoder__image.pkl"
    assert released_filename("feature_decoder/mouth") == "Combine/latest_net_DE_mouth.pkl"
    assert released_filename("generator") == "Combine/latest_net_G.pkl"
    assert released_bank_filenames("remainder") == ("AE_whole/man__feature.bin", "AE_whole/female__feature.bin")
    assert kit_filename("feature_decoder/eye2") == "weights/feature_decoder__eye2.npz"
    with pytest.raises(ValueError, match="unknown network key"):
        released_filename("decoder/eye1")


# ------------------------------------------------------------------------ restricted unpickler
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_load_plain_numpy_pickles(tmp_path, protocol):
    rng = np.random.default_rng(0)
    arrays = {"a.weight": rng.standard_normal((3, 4, 2)).astype(np.float32),
              "b": np.arange(5, dtype=np.float64), "c": np.array(2.5, np.float32),
              "d": np.asfortranarray(rng.standard_normal((3, 2))).astype(np.float16)}
    for container in (dict, __import__("collections").OrderedDict):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(container(arrays), protocol=protocol))
        loaded = safe_load_pickle(path)
        assert list(loaded) == list(arrays)
        for k in arrays:
            assert loaded[k].dtype == arrays[k].dtype and np.array_equal(loaded[k], arrays[k])


def test_safe_load_jittor_module_save(tmp_path):
    """Jittor 1.3's Module.save: pickled jittor Vars + sha1 + b"HCAJSLHD" (28 bytes)."""
    from jittor import nn

    net = nn.Sequential(nn.Conv(1, 3, 3), nn.BatchNorm(3), nn.Linear(4, 2))
    path = tmp_path / "net.pkl"
    net.save(str(path))
    raw = path.read_bytes()
    assert raw.endswith(b"HCAJSLHD")
    assert b"jittor_core.Var" in raw
    loaded = safe_load_pickle(path)
    sd = net.state_dict()
    assert list(loaded) == list(sd)
    for k, v in sd.items():
        assert np.array_equal(loaded[k], v.numpy())

    bad_sum = tmp_path / "bad_sum.pkl"
    bad_sum.write_bytes(raw[:-28] + bytes(20) + b"HCAJSLHD")
    with pytest.raises(ParamsError, match="checksum"):
        safe_load_pickle(bad_sum)
    trailing = tmp_path / "trailing.pkl"
    trailing.write_bytes(raw + b"junk")
    with pytest.raises(ParamsError, match="unexpected bytes"):
        safe_load_pickle(trailing)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ParamsError, match="truncated"):
        safe_load_pickle(truncated)


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalEvil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("evil", [_Evil, _EvalEvil])
@pytest.mark.parametrize("jittor_trailer", [False, True])
def test_restricted_unpickler_refuses_code(tmp_path, evil, jittor_trailer):
    import hashlib

    marker = tmp_path / "pwned"
    payload = pickle.dumps({"conv.weight": np.zeros(3, np.float32), "x": evil(marker)}, protocol=4)
    if jittor_trailer:
        payload += hashlib.sha1(payload).digest() + b"HCAJSLHD"
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(ParamsError, match=r"refuses to load global (posix|os|nt)\.system|refuses to load global builtins\.eval") as e:
        safe_load_pickle(path)
    assert str(path) in str(e.value) and "may only hold arrays" in str(e.value)
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_globals_and_values(tmp_path):
    path = tmp_path / "fn.pkl"
    path.write_bytes(pickle.dumps({"f": np.load}))
    with pytest.raises(ParamsError, match="refuses to load global numpy"):
        safe_load_pickle(path)
    path.write_bytes(pickle.dumps({"obj": np.array([1, "a"], dtype=object)}))
    with pytest.raises(ParamsError):
        safe_load_pickle(path)
    path.write_bytes(pickle.dumps({"n": 3}))
    with pytest.raises(ParamsError, match="'n' is a int"):
        safe_load_pickle(path)
    path.write_bytes(pickle.dumps([np.zeros(2)]))
    with pytest.raises(ParamsError, match="expected a dict"):
        safe_load_pickle(path)
    with pytest.raises(MissingParamsError, match="does not exist"):
        safe_load_pickle(tmp_path / "nope.pkl")


# ------------------------------------------------------------------------------- kit layout
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_kit_round_trip_bit_for_bit(tmp_path, small_model, dtype):
    nets, state, banks = small_model
    card = "# small test model\n\nRandom weights.\n"
    a = save_model(tmp_path / "a", SMALL, nets, banks, model_card=card, dtype=dtype)
    files = verify_manifest(a)
    assert "config.json" in files and "README.md" in files and kit_filename("generator") in files
    with np.load(a / kit_filename("generator"), allow_pickle=False) as z:
        assert {z[n].dtype for n in z.files} == {np.dtype(dtype)}

    config, nets2, banks2, info = load_model(a)
    assert config == SMALL
    assert info["layout"] == "kit" and info["model_card"] == card and info["dtype"] == dtype
    assert_state_equal(nets2, state, cast=dtype)
    for p in PARTS:
        assert np.array_equal(banks2[p].vectors, banks[p].vectors.astype(dtype).astype(np.float32))
        assert set(banks2[p].labels) == set(banks[p].labels)
        for name, values in banks[p].labels.items():
            assert np.array_equal(banks2[p].labels[name], values)
            assert banks2[p].labels[name].dtype.kind != "O"

    if dtype == "float32":  # the loaded weights are the ones the modules compute with
        import jittor as jt

        x = jt.array(np.random.default_rng(0).standard_normal((2, 1, 64, 64)).astype(np.float32))
        assert np.array_equal(nets2["encoder/eye1"](x).numpy(), nets["encoder/eye1"](x).numpy())
        z = jt.array(np.random.default_rng(1).standard_normal((2, SMALL.latent)).astype(np.float32))
        assert np.array_equal(nets2["feature_decoder/nose"](z).numpy(), nets["feature_decoder/nose"](z).numpy())

    b = save_model(tmp_path / "b", config, nets2, banks2, model_card=info["model_card"], dtype=dtype)
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


def test_save_model_refuses_non_empty_folder_and_overwrites(tmp_path, small_model):
    nets, _, banks = small_model
    save_model(tmp_path / "m", SMALL, nets, banks)
    with pytest.raises(ParamsError, match="not empty"):
        save_model(tmp_path / "m", SMALL, nets, banks)
    save_model(tmp_path / "m", SMALL, nets, banks, overwrite=True)
    verify_manifest(tmp_path / "m")


def test_write_model_card_updates_the_manifest_and_refuses_changed_weights(tmp_path, small_model):
    nets, _, banks = small_model
    m = save_model(tmp_path / "m", SMALL, nets, banks, model_card="# first\n")
    params.write_model_card(m, "# second: trained longer\n")
    assert verify_manifest(m)["README.md"] == params._sha256(m / "README.md")
    assert (m / "README.md").read_text() == "# second: trained longer\n"
    load_model(m)
    target = m / kit_filename("generator")
    good = target.read_bytes()
    target.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(ParamsError, match="sha256 does not match"):
        params.write_model_card(m, "# third\n")
    assert (m / "README.md").read_text() == "# second: trained longer\n"


def test_manifest_errors(tmp_path, small_model):
    nets, _, banks = small_model
    m = save_model(tmp_path / "m", SMALL, nets, banks)
    target = m / kit_filename("encoder/nose")
    good = target.read_bytes()

    target.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(ParamsError, match=r"encoder__nose\.npz: sha256 does not match"):
        load_model(m)
    target.unlink()
    with pytest.raises(MissingParamsError, match=r"missing: weights/encoder__nose\.npz"):
        load_model(m)
    target.write_bytes(good)
    (m / "weights" / "extra.npz").write_bytes(good)
    with pytest.raises(ParamsError, match=r"not listed in manifest\.json: weights/extra\.npz"):
        verify_manifest(m)
    (m / "weights" / "extra.npz").unlink()
    verify_manifest(m)
    (m / "manifest.json").write_text("{not json")
    with pytest.raises(ParamsError, match="manifest.json is not valid JSON"):
        load_model(m)


def _rewrite_config(folder, config):
    (folder / "config.json").write_text(config.to_json() + "\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["config.json"] = params._sha256(folder / "config.json")
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_kit_config_mismatch_names_tensor_and_shapes(tmp_path, small_model):
    nets, _, banks = small_model
    m = save_model(tmp_path / "m", SMALL, nets, banks)
    _rewrite_config(m, SMALL.replace(width=0.25))
    with pytest.raises(ParamsError, match=r"encoder__eye1\.npz does not fit config 'small': shape mismatch: "
                                          r"tensor 'conv\.0\.conv\.weight' expected \[8, 1, 4, 4\], found \[4, 1, 4, 4\]"):
        load_model(m)
    _rewrite_config(m, SMALL.replace(latent=64))
    with pytest.raises(ParamsError, match=r"fc_mu\.0\.weight' expected \[64, "):
        load_model(m)


def test_save_model_checks_networks_against_config(tmp_path, small_model):
    nets, _, banks = small_model
    with pytest.raises(ParamsError, match=r"does not fit config 'small2'"):
        save_model(tmp_path / "m", SMALL.replace(name="small2", width=0.25), nets, banks)
    with pytest.raises(ParamsError, match="overflow float16"):
        import jittor as jt

        big = build(SMALL)
        fill(big, random_state(big, 3))
        big["generator"].state_dict()["model.1.bias"].update(jt.array(np.full(big["generator"].state_dict()["model.1.bias"].shape, 1e6, np.float32)))
        save_model(tmp_path / "m2", SMALL, big, banks)


# -------------------------------------------------------------------------- released layout
def test_released_layout_plain_pickles_round_trip(tmp_path, small_model):
    nets, state, banks = small_model
    save_released(tmp_path / "Params", nets, banks)
    assert (tmp_path / "Params/AE_whole/latest_net_decoder__image.pkl").is_file()
    config, nets2, banks2, info = load_model(tmp_path / "Params", config=SMALL)
    assert info["layout"] == "released" and config == SMALL
    assert_state_equal(nets2, state)
    for p in PARTS:
        sex = banks[p].labels["sex"]
        order = np.r_[np.flatnonzero(sex == "male"), np.flatnonzero(sex == "female")]
        assert np.array_equal(banks2[p].vectors, banks[p].vectors[order])
        assert list(banks2[p].labels["sex"]) == list(sex[order])


def test_released_layout_real_jittor_module_save(tmp_path):
    """compact128 networks written by Jittor's own Module.save (Var pickles + trailer)."""
    config = preset("compact128")
    nets = build(config)
    state = random_state({"generator": nets["generator"], "encoder/eye1": nets["encoder/eye1"]}, 2)
    fill({k: nets[k] for k in state}, state)
    state = current_state(nets)
    folder = tmp_path / "Params"
    save_released(folder, {}, make_banks(config))
    for key, net in nets.items():
        path = folder / released_filename(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        net.save(str(path))
    assert (folder / released_filename("generator")).read_bytes().endswith(b"HCAJSLHD")
    _, nets2, banks2, info = load_model(folder, config=config)
    assert_state_equal(nets2, state)
    assert len(banks2["nose"]) == 12 and banks2["nose"].dim == config.latent


def test_released_layout_errors(tmp_path, small_model):
    nets, _, banks = small_model
    folder = tmp_path / "Params"
    save_released(folder, nets, banks)
    # wrong architecture: the small files do not fit compact128
    with pytest.raises(ParamsError, match=r"latest_net_encoder_eye1\.pkl does not fit config 'compact128': shape mismatch: tensor "):
        load_model(folder, config=preset("compact128"))
    # unexpected and missing tensor names
    path = folder / released_filename("generator")
    arrays = safe_load_pickle(path)
    arrays["model.999.weight"] = np.zeros(3, np.float32)
    del arrays["model.1.bias"]
    path.write_bytes(pickle.dumps(arrays))
    with pytest.raises(ParamsError, match=r"latest_net_G\.pkl does not fit .*missing tensors: 'model\.1\.bias'.*unexpected tensors: 'model\.999\.weight'"):
        load_model(folder, config=SMALL)
    save_released(folder, nets, banks)
    # bank size not a multiple of a row
    bank = folder / released_bank_filenames("mouth")[1]
    bank.write_bytes(bank.read_bytes()[:-4])
    with pytest.raises(ParamsError, match=r"female_mouth_feature\.bin: size .* not a positive multiple of 128"):
        load_model(folder, config=SMALL)
    # missing files are listed
    bank.unlink()
    (folder / released_filename("feature_decoder/remainder")).unlink()
    with pytest.raises(MissingParamsError, match=r"lacks 2 file\(s\): Combine/latest_net_DE_\.pkl, AE_whole/female_mouth_feature\.bin"):
        load_model(folder, config=SMALL)


def test_load_model_path_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(params, "DEFAULT_PARAMS", tmp_path / "params" / "compact128")
    with pytest.raises(MissingParamsError, match=r"no shipped parameters .*python -m dsf\.train.*AE_whole"):
        load_model()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParamsError, match="is not a parameter folder"):
        load_model(tmp_path / "empty")
    (tmp_path / "AE_whole").mkdir()
    (tmp_path / "Combine").mkdir()
    with pytest.raises(MissingParamsError, match=r"lacks 26 file\(s\): AE_whole/latest_net_encoder_eye1\.pkl"):
        load_model(tmp_path)
    assert issubclass(ParamsError, ValueError) and issubclass(MissingParamsError, FileNotFoundError)


def test_default_params_path():
    assert params.DEFAULT_PARAMS == Path(dsf.__file__).resolve().parent.parent / "params" / "compact128"
