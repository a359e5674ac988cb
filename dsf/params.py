"""Parameters on disk: one loader for the authors' released folder and for the kit's own layout.

    config, networks, banks, info = load_model()            # the kit's shipped parameters
    config, networks, banks, info = load_model("Params")    # the authors' released folder
    save_model("my_model", config, networks, banks, model_card="...")

Two layouts
-----------
Released ("Params" folder of the SIGGRAPH 2020 release, `preset("published")`)::

    AE_whole/latest_net_encoder_{key}.pkl         encoder/<part>
    AE_whole/latest_net_decoder_{key}_image.pkl   sketch_decoder/<part>
    AE_whole/man_{key}_feature.bin                male bank, raw float32, rows of `latent`
    AE_whole/female_{key}_feature.bin             female bank, raw float32
    Combine/latest_net_DE_{key}.pkl               feature_decoder/<part>
    Combine/latest_net_G.pkl                      generator

  `key` is `RELEASED_PART_KEY[part]` (the remainder is ""). Each .pkl is a pickle of a dict
  {tensor name: array}. Two writers occur: older Jittor (and `save_released` here) pickle plain
  numpy arrays; Jittor 1.3's `Module.save` pickles `jittor.Var`s and appends a 28-byte trailer.
  Both are read by `safe_load_pickle`, which executes nothing from the file (see there).

Kit layout (a folder; every file written deterministically, so save → load → save is
byte-identical)::

    config.json                      `Config.to_json()`
    weights/<stage>__<part>.npz      one per network (`generator.npz`), state_dict names,
                                     BatchNorm running statistics included, in `dtype`
    banks/<part>.npz                 "vectors" (N×latent, in `dtype`) + "label.<name>" per-row
                                     label arrays (fixed-width unicode or numbers, never objects)
    training/<name>.npz              optional: what training needs beyond inference, so a fresh
                                     clone can resume or fine-tune (`discriminator.npz`)
    README.md                        optional model card
    manifest.json                    {"format": "dsf-params", "version": 1,
                                      "files": {relative path: sha256}} of every file above

  npz files are plain zip archives of .npy arrays (ZIP_STORED, fixed 1980-01-01 timestamps);
  they are read with `np.load(..., allow_pickle=False)`. The manifest is verified before
  anything is read.

Errors
------
Every problem raises `ParamsError` (a `ValueError`), naming the file and what is wrong. When
files are missing the error is a `MissingParamsError`, which is both a `ParamsError` and a
`FileNotFoundError`, so either `except` clause catches it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .config import PARTS, RELEASED_PART_KEY, Config, preset

__all__ = [
    "DEFAULT_PARAMS", "FORMAT_VERSION", "JITTOR_TRAILER_SIZE", "MissingParamsError", "ParamsError",
    "kit_filename", "load_model", "load_released", "load_training_extras", "released_bank_filenames", "released_filename",
    "safe_load_pickle", "save_model", "save_released", "verify_manifest",
]

DEFAULT_PARAMS = Path(__file__).resolve().parent.parent / "params" / "compact128"
"""The kit's shipped parameters (kit layout), loaded by `load_model()` / `load_pipeline()`."""

FORMAT = "dsf-params"
FORMAT_VERSION = 1

JITTOR_TRAILER_MAGIC = b"HCAJSLHD"
JITTOR_TRAILER_SIZE = 28
"""Jittor 1.3's `safepickle` (behind `Module.save` and `jt.save`) writes `pickle.dumps(obj, 4)`
followed by sha1(pickle bytes) (20 bytes) and the 8-byte magic b"HCAJSLHD"."""

STAGES = ("encoder", "sketch_decoder", "feature_decoder")
_SAVE_DTYPES = ("float16", "float32")


class ParamsError(ValueError):
    """A parameter folder or file is missing, unreadable, unsafe or does not fit the config."""


class MissingParamsError(ParamsError, FileNotFoundError):
    """Parameter files or folders that should be there are not."""


# ------------------------------------------------------------------------------ file names
def network_keys() -> list[str]:
    """Every network key of a model, in `build_networks` order."""
    return [f"{stage}/{part}" for part in PARTS for stage in STAGES] + ["generator"]


def _split_key(network_key: str) -> tuple[str, str | None]:
    if network_key == "generator":
        return "generator", None
    stage, _, part = network_key.partition("/")
    if stage not in STAGES or part not in PARTS:
        raise ValueError(f"unknown network key {network_key!r}; expected 'generator' or "
                         f"'<stage>/<part>' with stage in {STAGES} and part in {PARTS}")
    return stage, part


def released_filename(network_key: str) -> str:
    """Relative path, in the released "Params" folder, of one network's .pkl file."""
    stage, part = _split_key(network_key)
    if stage == "generator":
        return "Combine/latest_net_G.pkl"
    key = RELEASED_PART_KEY[part]
    return {
        "encoder": f"AE_whole/latest_net_encoder_{key}.pkl",
        "sketch_decoder": f"AE_whole/latest_net_decoder_{key}_image.pkl",
        "feature_decoder": f"Combine/latest_net_DE_{key}.pkl",
    }[stage]


def released_bank_filenames(part: str) -> tuple[str, str]:
    """(male, female) relative paths of one part's raw float32 latent banks."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {PARTS}")
    key = RELEASED_PART_KEY[part]
    return f"AE_whole/man_{key}_feature.bin", f"AE_whole/female_{key}_feature.bin"


def kit_filename(network_key: str) -> str:
    """Relative path, in a kit folder, of one network's weights."""
    _split_key(network_key)
    return "weights/" + network_key.replace("/", "__") + ".npz"


def _kit_bank_filename(part: str) -> str:
    return f"banks/{part}.npz"


# -------------------------------------------------------------------- restricted unpickler
def _numpy_internals():
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":  # pragma: no cover - the kit pins numpy<2
        from numpy._core import multiarray, numeric
    else:
        from numpy.core import multiarray, numeric
    return multiarray, numeric


_multiarray, _numeric = _numpy_internals()


def _safe_reconstruct(subtype, shape, dtype):
    # ndarray.__reduce__ → _reconstruct(ndarray, (0,), b"b"), then BUILD sets shape/dtype/data.
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"_reconstruct of {subtype!r}: only numpy.ndarray is allowed")
    return _multiarray._reconstruct(subtype, shape, dtype)


def _safe_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of an object dtype is not allowed")
    return _multiarray.scalar(dtype, data) if data is not None else _multiarray.scalar(dtype)


def _safe_frombuffer(buf, dtype, shape, order):
    # numpy's pickle protocol 5 form: _frombuffer(PickleBuffer/bytearray, dtype, shape, order).
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy array of an object dtype is not allowed")
    return _numeric._frombuffer(buf, dtype, shape, order)


def _safe_codecs_encode(text, encoding="utf-8"):
    # Protocol 2 pickles bytes as _codecs.encode(latin-1 text, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode(encoding)


def _jittor_var(data):
    """Stand-in for `jittor.Var` in Jittor 1.3 pickles.

    Jittor 1.3 sets `Var.__module__ = "jittor"` and `Var.__reduce__ = lambda self: (Var,
    (self.data,))`, so a pickled Var is the global `jittor.jittor_core.Var` (protocol 4:
    STACK_GLOBAL "jittor" "jittor_core.Var") called with one numpy array. We return that
    array instead of importing Jittor's callable."""
    if not isinstance(data, np.ndarray):
        raise pickle.UnpicklingError(f"jittor.Var argument must be a numpy array, got {type(data).__name__}")
    return data


_ALLOWED_GLOBALS = {
    # numpy arrays, dtypes and scalars (numpy 1 module names, and numpy 2's numpy._core aliases)
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    # Jittor Vars (1.3: module "jittor", qualified name "jittor_core.Var"; older spellings too)
    ("jittor", "jittor_core.Var"): _jittor_var,
    ("jittor", "Var"): _jittor_var,
    ("jittor_core", "Var"): _jittor_var,
    ("jittor.jittor_core", "Var"): _jittor_var,
    # plain containers
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _safe_codecs_encode,
}
for _mod in ("builtins", "__builtin__"):
    for _name, _obj in (("dict", dict), ("list", list), ("tuple", tuple), ("set", set),
                        ("frozenset", frozenset), ("bytearray", bytearray)):
        _ALLOWED_GLOBALS[(_mod, _name)] = _obj


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, Jittor Vars (as numpy arrays) and plain containers; refuses
    every other global, so nothing from the file can run."""

    def __init__(self, file, path: str):
        # latin1: Python 2 pickles store numpy data as str; Python 3 pickles are unaffected.
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ParamsError(f"safe_load_pickle refuses to load global {module}.{name} from {self._path}: "
                              f"parameter files may only hold arrays") from None

    def persistent_load(self, pid):
        raise ParamsError(f"safe_load_pickle refuses a persistent reference in {self._path}: "
                          f"parameter files may only hold arrays")


def _sha1_prefix(path: Path, n: int) -> bytes:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while n > 0:
            chunk = f.read(min(n, 1 << 24))
            if not chunk:
                break
            h.update(chunk)
            n -= len(chunk)
    return h.digest()


def safe_load_pickle(path) -> dict[str, np.ndarray]:
    """Read a parameter .pkl ({tensor name: array}) without executing anything from it.

    Accepted: a pickle (any protocol) of a dict / OrderedDict whose keys are strings and whose
    values are numpy arrays or Jittor Vars, optionally followed by Jittor 1.3's 28-byte trailer
    (sha1 of the pickle, then b"HCAJSLHD"), whose checksum is verified. Any other global in
    the pickle (a function, a class, `os.system`, ...) is refused with a `ParamsError` before it
    is called, as are object arrays, non-array values and stray bytes after the pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingParamsError(f"parameter file {path} does not exist")
    size = path.stat().st_size
    with open(path, "rb") as f:
        try:
            obj = _RestrictedUnpickler(f, str(path)).load()
        except ParamsError:
            raise
        except Exception as e:  # UnpicklingError, EOFError, TypeError from a malformed stream ...
            raise ParamsError(f"{path} is not a readable parameter pickle (truncated or corrupt?): "
                              f"{type(e).__name__}: {e}") from None
        end = f.tell()
        rest = size - end
        if rest:
            tail = f.read(rest)
    if rest:
        if rest == JITTOR_TRAILER_SIZE and tail.endswith(JITTOR_TRAILER_MAGIC):
            if _sha1_prefix(path, end) != tail[:20]:
                raise ParamsError(f"{path}: the Jittor checksum does not match the pickle; "
                                  f"the file is corrupt (re-download it)")
        else:
            raise ParamsError(f"{path}: {rest} unexpected bytes after the pickle "
                              f"(only Jittor's {JITTOR_TRAILER_SIZE}-byte checksum trailer may follow)")
    if not isinstance(obj, dict):
        raise ParamsError(f"{path} holds a {type(obj).__name__}, expected a dict of parameter arrays")
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ParamsError(f"{path}: parameter name {key!r} is not a string")
        if not isinstance(value, np.ndarray):
            raise ParamsError(f"{path}: parameter {key!r} is a {type(value).__name__}, expected an array")
        if value.dtype.hasobject or not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            raise ParamsError(f"{path}: parameter {key!r} has dtype {value.dtype}, expected numbers")
        out[key] = value
    return out


# ---------------------------------------------------------------------- loading into modules
def _expected_shapes(module) -> dict[str, tuple]:
    return {name: tuple(int(s) for s in var.shape) for name, var in module.state_dict().items()}


def _check_arrays(file, arrays: dict, module, config: Config) -> None:
    expected = _expected_shapes(module)
    missing = [k for k in expected if k not in arrays]
    unexpected = [k for k in arrays if k not in expected]
    wrong = [(k, expected[k], tuple(arrays[k].shape)) for k in expected
             if k in arrays and tuple(arrays[k].shape) != expected[k]]
    if not (missing or unexpected or wrong):
        return

    def some(items, fmt):
        shown = [fmt(i) for i in items[:6]]
        return ", ".join(shown) + (f", … ({len(items)} in all)" if len(items) > 6 else "")

    problems = []
    if wrong:
        problems.append("shape mismatch: " + some(wrong, lambda w: f"tensor {w[0]!r} expected {list(w[1])}, found {list(w[2])}"))
    if missing:
        problems.append("missing tensors: " + some(missing, repr))
    if unexpected:
        problems.append("unexpected tensors: " + some(unexpected, repr))
    raise ParamsError(f"{file} does not fit config {config.name!r}: " + "; ".join(problems))


def _assign(module, arrays: dict) -> None:
    from ._jittor import jt

    # state_dict() holds the module's own Vars; update() replaces their data in place.
    for name, var in module.state_dict().items():
        var.update(jt.array(np.ascontiguousarray(arrays[name], dtype=str(var.dtype))))


# -------------------------------------------------------------------------------- released
def _is_released(folder: Path) -> bool:
    return (folder / "AE_whole").is_dir() and (folder / "Combine").is_dir()


def _is_kit(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "manifest.json").is_file()


def _read_bank_bin(path: Path, dim: int) -> np.ndarray:
    size = path.stat().st_size
    row = dim * 4
    if size == 0 or size % row:
        raise ParamsError(f"{path}: size {size} bytes is not a positive multiple of {row} "
                          f"(rows of {dim} float32 latents)")
    return np.fromfile(path, dtype="<f4").reshape(-1, dim).astype(np.float32)


def load_released(folder, config: Config | None = None):
    """Load the authors' released "Params" folder: (config, networks, banks, info).

    `config` defaults to `preset("published")`; another config is for tests and for models
    retrained at other widths but saved in the released layout. Banks are one `Bank` per part,
    male rows first, then female, labelled by `sex`.
    """
    from .manifold import Bank
    from .networks import build_networks

    folder = Path(folder)
    config = preset("published") if config is None else config
    nets = build_networks(config)
    needed = [released_filename(k) for k in nets]
    for part in PARTS:
        needed += released_bank_filenames(part)
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise MissingParamsError(f"released parameter folder {folder} lacks {len(missing)} file(s): "
                                 + ", ".join(missing))
    for key, module in nets.items():
        file = folder / released_filename(key)
        arrays = safe_load_pickle(file)
        _check_arrays(file, arrays, module, config)
        _assign(module, arrays)
        del arrays
    banks = {}
    for part in PARTS:
        male_file, female_file = (folder / n for n in released_bank_filenames(part))
        male, female = _read_bank_bin(male_file, config.latent), _read_bank_bin(female_file, config.latent)
        banks[part] = Bank.from_sex_split(male=male, female=female)
    info = {"layout": "released", "path": str(folder), "model_card": None, "config_name": config.name}
    return config, nets, banks, info


def save_released(folder, networks: dict, banks: dict) -> None:
    """Write networks and banks in the released layout (plain pickles of float32 numpy arrays,
    protocol 4, no trailer: the older-Jittor form, which Jittor's own `Module.load` also reads).

    Every bank row must be labelled "male" or "female" (the layout has no other file)."""
    folder = Path(folder)
    for key, module in networks.items():
        file = folder / released_filename(key)
        file.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: np.asarray(var.numpy(), dtype=np.float32) for name, var in module.state_dict().items()}
        with open(file, "wb") as f:
            pickle.dump(arrays, f, protocol=4)
    for part, bank in banks.items():
        sex = np.asarray(bank.labels["sex"]).astype(str)
        if not np.isin(sex, ("male", "female")).all():
            raise ParamsError(f"bank {part!r}: the released layout needs every row labelled 'male' or 'female'")
        for name, s in zip(released_bank_filenames(part), ("male", "female")):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            np.ascontiguousarray(bank.vectors[sex == s], dtype="<f4").tofile(folder / name)


# ------------------------------------------------------------------------------------- kit
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's format, deterministically: stored entries, fixed timestamps and attributes."""
    from numpy.lib import format as npformat

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, a in arrays.items():
            buf = io.BytesIO()
            npformat.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except Exception as e:
        raise ParamsError(f"{path} is not a readable npz of plain arrays: {type(e).__name__}: {e}") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cast(what: str, a: np.ndarray, dtype: str) -> np.ndarray:
    a = np.asarray(a)
    with np.errstate(over="ignore", invalid="ignore"):
        out = a.astype(dtype)
    if np.issubdtype(a.dtype, np.floating) and not np.array_equal(np.isfinite(out), np.isfinite(a)):
        raise ParamsError(f"{what}: values overflow {dtype} (largest magnitude {np.nanmax(np.abs(a)):g}); "
                          f"save with dtype='float32'")
    return out


def _label_array(part: str, name: str, values) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype.kind == "O":
        a = a.astype(str)
    if a.dtype.kind not in "biufUS" or a.dtype.hasobject:
        raise ParamsError(f"bank {part!r}: label {name!r} has dtype {a.dtype}; labels must be strings or numbers")
    return a


def _empty_kit_folder(folder: Path, overwrite: bool) -> None:
    """Make `folder` ready for a model: created, or (with `overwrite`) its kit files removed."""
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise ParamsError(f"save_model: {folder} is not empty (pass overwrite=True to replace a model there)")
        for old in [folder / "manifest.json", folder / "config.json", folder / "README.md",
                    *folder.glob("weights/*.npz"), *folder.glob("banks/*.npz"), *folder.glob("training/*.npz")]:
            if old.is_file():
                old.unlink()
    (folder / "weights").mkdir(parents=True, exist_ok=True)
    (folder / "banks").mkdir(parents=True, exist_ok=True)


def _write_banks(folder: Path, config: Config, banks: dict, dtype: str) -> list[str]:
    """Write each part's bank (vectors in `dtype`, labels as text); returns the files written."""
    written = []
    for part in PARTS:
        rel = _kit_bank_filename(part)
        bank = banks[part]
        if bank.vectors.shape[1] != config.latent:
            raise ParamsError(f"bank {part!r} has {bank.vectors.shape[1]}-d vectors, config {config.name!r} "
                              f"has latent {config.latent}")
        arrays = {"vectors": _cast(f"{rel}: vectors", bank.vectors, dtype)}
        for name in sorted(bank.labels):
            arrays[f"label.{name}"] = _label_array(part, name, bank.labels[name])
        _write_npz(folder / rel, arrays)
        written.append(rel)
    return written


def save_model(folder, config: Config, networks: dict, banks: dict, model_card: str | None = None,
               dtype: str = "float16", overwrite: bool = False, training: dict | None = None) -> Path:
    """Write a model in the kit layout (see the module docstring) and return the folder.

    dtype: "float16" (default; halves the size) or "float32", for weights (BatchNorm running
    statistics included) and bank vectors. Loading casts back to float32, so a float16 model
    loads as the float16-rounded originals and saving it again reproduces the same bytes.
    overwrite: replace the kit files of an existing folder (other files are left alone).
    training: {name: module} written to `training/<name>.npz` in `dtype` (e.g. the
    discriminator), for resuming or fine-tuning; inference never reads them.
    """
    from .networks import build_networks

    if dtype not in _SAVE_DTYPES:
        raise ValueError(f"dtype must be one of {_SAVE_DTYPES}, got {dtype!r}")
    folder = Path(folder)
    reference = build_networks(config)
    if set(networks) != set(reference):
        raise ParamsError(f"save_model: networks {sorted(set(reference) - set(networks))} missing, "
                          f"{sorted(set(networks) - set(reference))} unexpected for config {config.name!r}")
    if set(banks) != set(PARTS):
        raise ParamsError(f"save_model: need one bank per part {PARTS}, got {sorted(banks)}")

    _empty_kit_folder(folder, overwrite)
    written = ["config.json"]
    (folder / "config.json").write_bytes((config.to_json() + "\n").encode("utf-8"))
    for key in network_keys():
        rel = kit_filename(key)
        arrays = {name: var.numpy() for name, var in networks[key].state_dict().items()}
        _check_arrays(f"networks[{key!r}]", arrays, reference[key], config)
        _write_npz(folder / rel, {name: _cast(f"{rel}: tensor {name!r}", a, dtype) for name, a in arrays.items()})
        written.append(rel)
    written += _write_banks(folder, config, banks, dtype)
    for name, module in (training or {}).items():
        rel = f"training/{name}.npz"
        (folder / "training").mkdir(exist_ok=True)
        _write_npz(folder / rel, {n: _cast(f"{rel}: tensor {n!r}", v.numpy(), dtype) for n, v in module.state_dict().items()})
        written.append(rel)
    if model_card is not None:
        (folder / "README.md").write_bytes(model_card.encode("utf-8"))
        written.append("README.md")
    manifest = {"format": FORMAT, "version": FORMAT_VERSION,
                "files": {rel: _sha256(folder / rel) for rel in sorted(written)}}
    (folder / "manifest.json").write_bytes((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return folder


def write_model_card(folder, text: str) -> Path:
    """Replace the model card (README.md) of a kit folder and its line in manifest.json.

    The rest of the folder is verified against the manifest first, so a card is never written
    over weights that were changed or corrupted since they were saved."""
    folder = Path(folder)
    verify_manifest(folder)
    mpath = folder / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    (folder / "README.md").write_bytes(text.encode("utf-8"))
    manifest["files"]["README.md"] = _sha256(folder / "README.md")
    mpath.write_bytes((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return folder / "README.md"


def verify_manifest(folder) -> dict[str, str]:
    """Check a kit folder against its manifest.json and return {relative path: sha256}.

    Raises ParamsError for an unreadable or foreign manifest, a listed file that is missing
    or whose sha256 differs, and a kit file (config.json, README.md, weights/*, banks/*)
    that the manifest does not list."""
    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise MissingParamsError(f"{mpath} does not exist")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ParamsError(f"{mpath} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ParamsError(f"{mpath} is not a {FORMAT} manifest (expected keys 'format', 'version', 'files')")
    if manifest.get("version") != FORMAT_VERSION:
        raise ParamsError(f"{mpath}: format version {manifest.get('version')!r} is not supported "
                          f"(this kit reads version {FORMAT_VERSION})")
    files = manifest["files"]
    for rel in files:
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts or rel != p.as_posix() or rel == "manifest.json":
            raise ParamsError(f"{mpath} lists an invalid path {rel!r}")
    missing = [rel for rel in files if not (folder / rel).is_file()]
    if missing:
        raise MissingParamsError(f"{folder}: file(s) listed in manifest.json are missing: " + ", ".join(sorted(missing)))
    for rel, digest in sorted(files.items()):
        if _sha256(folder / rel) != digest:
            raise ParamsError(f"{folder / rel}: sha256 does not match manifest.json (the file was changed or is corrupt)")
    present = [p.relative_to(folder).as_posix() for sub in ("weights", "banks", "training") if (folder / sub).is_dir()
               for p in (folder / sub).rglob("*") if p.is_file()]
    present += [n for n in ("config.json", "README.md") if (folder / n).is_file()]
    extra = sorted(set(present) - set(files))
    if extra:
        raise ParamsError(f"{folder}: file(s) not listed in manifest.json: " + ", ".join(extra))
    return dict(files)


def _read_kit_config(folder: Path, files: dict, config: Config | None) -> Config:
    """The folder's config.json (listed in the verified manifest `files`), checked against `config`."""
    cpath = folder / "config.json"
    if "config.json" not in files:
        raise ParamsError(f"{folder}/manifest.json does not list config.json")
    try:
        saved = Config.from_dict(json.loads(cpath.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as e:
        raise ParamsError(f"{cpath}: not a valid config: {e}") from None
    if config is not None and config != saved:
        raise ParamsError(f"{cpath} holds config {saved.name!r}, which differs from the config passed in ({config.name!r})")
    return saved


def _read_kit_bank(file: Path, config: Config):
    """One part's bank file → `manifold.Bank` (vectors as float32, labels), checked against `config`."""
    from .manifold import Bank

    arrays = _read_npz(file)
    vectors = arrays.pop("vectors", None)
    if vectors is None:
        raise ParamsError(f"{file} has no 'vectors' array")
    if vectors.ndim != 2 or vectors.shape[1] != config.latent or vectors.dtype.kind != "f":
        raise ParamsError(f"{file}: vectors have shape {list(vectors.shape)} and dtype {vectors.dtype}, "
                          f"expected N×{config.latent} floating point")
    bad = [n for n in arrays if not n.startswith("label.")]
    if bad:
        raise ParamsError(f"{file}: unexpected arrays {bad} (only 'vectors' and 'label.<name>')")
    try:
        return Bank(vectors.astype(np.float32), {n[len("label."):]: a for n, a in arrays.items()})
    except ValueError as e:
        raise ParamsError(f"{file}: {e}") from None


def load_kit(folder, config: Config | None = None):
    """Load a kit-layout folder: (config, networks, banks, info). The manifest is verified first.
    A `config` argument, if given, must equal the folder's config.json."""
    from .networks import build_networks

    folder = Path(folder)
    files = verify_manifest(folder)
    config = _read_kit_config(folder, files, config)
    nets = build_networks(config)
    needed = [kit_filename(k) for k in nets] + [_kit_bank_filename(p) for p in PARTS]
    missing = [n for n in needed if n not in files]
    if missing:
        raise MissingParamsError(f"kit parameter folder {folder} lacks {len(missing)} file(s): " + ", ".join(missing))
    dtypes = set()
    for key, module in nets.items():
        file = folder / kit_filename(key)
        arrays = _read_npz(file)
        for name, a in arrays.items():
            if a.dtype.kind != "f":
                raise ParamsError(f"{file}: tensor {name!r} has dtype {a.dtype}, expected floating point")
            dtypes.add(str(a.dtype))
        _check_arrays(file, arrays, module, config)
        _assign(module, arrays)
    banks = {part: _read_kit_bank(folder / _kit_bank_filename(part), config) for part in PARTS}
    card = folder / "README.md"
    info = {"layout": "kit", "path": str(folder), "format_version": FORMAT_VERSION,
            "model_card": card.read_bytes().decode("utf-8") if "README.md" in files else None,
            "dtype": dtypes.pop() if len(dtypes) == 1 else sorted(dtypes), "config_name": config.name}
    return config, nets, banks, info


def load_training_extras(folder) -> dict[str, dict[str, np.ndarray]]:
    """{name: {tensor: float32 array}} of a kit folder's `training/<name>.npz` files (none for
    folders saved without them), verified against the manifest first."""
    folder = Path(folder)
    extras = {}
    for rel in sorted(verify_manifest(folder)):
        if rel.startswith("training/") and rel.endswith(".npz"):
            arrays = _read_npz(folder / rel)
            bad = [n for n, a in arrays.items() if a.dtype.kind != "f"]
            if bad:
                raise ParamsError(f"{folder / rel}: tensors {bad} are not floating point")
            extras[rel[len("training/"):-len(".npz")]] = {n: a.astype(np.float32) for n, a in arrays.items()}
    return extras


# ------------------------------------------------------------------------------ entry point
def load_model(path=None, config: Config | None = None):
    """Load a model: (config, networks, banks, info).

    path: None → the kit's shipped parameters (`DEFAULT_PARAMS`); a folder holding `AE_whole/`
    and `Combine/` → the authors' released layout; a folder holding `config.json` and
    `manifest.json` → the kit layout.
    config: for released folders, the architecture to build (default `preset("published")`);
    for kit folders, if given, it must equal config.json.
    networks: `build_networks(config)` with the weights loaded (BatchNorm modes from config).
    banks: part → `dsf.manifold.Bank`.
    info: {"layout": "released" | "kit", "path": ..., "model_card": str | None, ...}.
    """
    if path is None:
        folder = Path(DEFAULT_PARAMS)
        if not folder.is_dir():
            raise MissingParamsError(
                f"no shipped parameters are present at {folder}. Train the kit's model with "
                f"`python -m dsf.train` (it saves there), or pass a folder: the authors' released "
                f"'Params' folder (holding AE_whole/ and Combine/) or a kit model folder.")
    else:
        folder = Path(os.fspath(path)).expanduser()
    if not folder.exists():
        raise MissingParamsError(f"parameter folder {folder} does not exist")
    if not folder.is_dir():
        raise ParamsError(f"{folder} is a file; pass the parameter folder (released: holding AE_whole/ and "
                          f"Combine/; kit: holding config.json and manifest.json)")
    if _is_kit(folder):
        return load_kit(folder, config)
    if _is_released(folder):
        return load_released(folder, config)
    raise MissingParamsError(f"{folder} is not a parameter folder: expected AE_whole/ and Combine/ "
                             f"(the released layout) or config.json and manifest.json (the kit layout)")
