"""The kit's Jittor setup: one spelling of the interpreter, so compiled kernels are shared
between notebook kernels (`…/python3.11`) and shells (`…/python`)."""
import os

from dsf._jittor import canonical_interpreter, jt


def _bin_folder(tmp_path):
    real = tmp_path / "bin" / "python3.11"
    real.parent.mkdir()
    real.write_text("")
    os.symlink("python3.11", tmp_path / "bin" / "python3")
    os.symlink("python3", tmp_path / "bin" / "python")
    return real


def test_symlinks_in_one_folder_name_one_file(tmp_path):
    real = _bin_folder(tmp_path)
    for name in ("python", "python3", "python3.11"):
        assert canonical_interpreter(str(tmp_path / "bin" / name)) == str(real)


def test_a_virtual_environments_interpreter_stays_in_the_environment(tmp_path):
    real = _bin_folder(tmp_path)
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    os.symlink(real, venv / "python")          # venv/bin/python -> the base interpreter
    os.symlink("python", venv / "python3.11")
    assert canonical_interpreter(str(venv / "python3.11")) == str(venv / "python")
    assert canonical_interpreter(str(venv / "python")) == str(venv / "python")


def test_jittor_compiles_with_the_canonical_interpreter():
    assert jt.flags.python_path == canonical_interpreter()
