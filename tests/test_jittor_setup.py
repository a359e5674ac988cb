"""The kit's Jittor setup (dsf._jittor): one spelling of the interpreter, so compiled kernels
are shared between notebook kernels (`…/python3.11`) and shells (`…/python`); in a notebook
kernel Jittor's C++ output stays out of Python; a child process dying by a signal does not end
the process; the first compile is announced."""
import os
import subprocess
import sys
import textwrap

import jittor_utils
import nbformat

from dsf import _jittor
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


def _python(script: str, **env) -> subprocess.CompletedProcess:
    """Runs `script` in a fresh interpreter; `env` adds variables, or removes them where None."""
    env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=300, env=env)


def test_a_child_killed_by_a_signal_does_not_end_the_process():
    # Jittor's own SIGCHLD handler would quick_exit(1) here: that is how a notebook kernel dying
    # under nbclient ended pytest with no summary. Run apart, so a regression cannot end pytest.
    res = _python("""
        import os, signal, subprocess, sys
        from dsf._jittor import jt
        jt.nn.conv2d(jt.ones((1, 3, 8, 8)), jt.ones((2, 3, 3, 3))).sync()  # loads the op libraries too
        child = subprocess.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
        print("alive after the child died by signal", -child.returncode)
    """)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "alive after the child died by signal 11" in res.stdout


def test_the_first_compile_is_announced_with_its_duration(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jittor_utils, "cache_path", str(tmp_path))       # an empty cache: cold
    assert _jittor.import_jittor() is jt
    err = capsys.readouterr().err
    assert "compiling its core into " + str(tmp_path) in err and "2-4 minutes" in err
    assert "core compiled in " in err


def test_a_warm_cache_imports_silently(tmp_path, monkeypatch, capsys):
    (tmp_path / "jittor_core.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (tmp_path / "jit").mkdir()
    (tmp_path / "jit" / "code__op_add.so").write_bytes(b"")
    monkeypatch.setattr(jittor_utils, "cache_path", str(tmp_path))
    assert _jittor.import_jittor() is jt
    assert capsys.readouterr().err == ""


def test_an_empty_operator_cache_is_announced(tmp_path, monkeypatch, capsys):
    (tmp_path / "jittor_core.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")   # the core is warm
    monkeypatch.setattr(jittor_utils, "cache_path", str(tmp_path))
    assert _jittor.import_jittor() is jt
    err = capsys.readouterr().err
    assert "operator cache" in err and "is empty" in err and "2-3 minutes" in err


def test_in_a_notebook_kernel_jittors_cpp_output_does_not_call_into_python():
    # Jittor would route C++ output into sys.stderr by calling Python without the GIL, from its
    # compiler threads too: on a cold cache the kernel running notebook 05 died of SIGSEGV.
    from nbclient import NotebookClient

    cell = textwrap.dedent("""
        import os, sys
        os.environ["log_silent"] = "0"             # let Jittor's C++ log speak

        class Recorder:
            text = ""
            def write(self, s): self.text += s; return len(s)
            def flush(self): pass

        kernel_stderr, sys.stderr = sys.stderr, Recorder()   # where Jittor would redirect to
        recorder = sys.stderr
        from dsf._jittor import jt
        import jittor_utils
        sys.stderr = kernel_stderr
        jittor_utils.LOG.w("hello from C++")
        print("C++ output reached Python:", "hello from C++" in recorder.text)
    """)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    assert "C++ output reached Python: False" in printed, printed[-2000:]


def test_operators_compile_one_at_a_time_unless_the_user_says_otherwise():
    # Jittor's parallel operator compiler segfaulted a CLI run (thread C4) on a cold cache.
    script = "from dsf._jittor import jt; print('threads', jt.flags.use_parallel_op_compiler)"
    kit = _python(script, use_parallel_op_compiler=None)
    assert "threads 0" in kit.stdout, kit.stderr[-2000:]
    assert "threads 4" in _python(script, use_parallel_op_compiler="4").stdout


def test_jittors_silent_exit_after_a_rebuild_becomes_a_clear_error(tmp_path):
    # Jittor rebuilds an out-of-date jit_utils, then sys.exit(0) with its message logged silently.
    fake = tmp_path / "jittor"
    fake.mkdir()
    (fake / "__init__.py").write_text("import sys\nsys.exit(0)\n")
    res = _python("import dsf._jittor", PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    assert res.returncode == 1
    assert "rebuilt its helper library" in res.stderr and "run the same command again" in res.stderr
