"""The kit's one way in to Jittor: `from ._jittor import jt`.

Importing Jittor through here does five things beyond `import jittor`:

- **Says when Jittor compiles for the first time.** The first `import jittor` on a machine
  builds Jittor's core into its cache (`~/.cache/jittor/…`), 2–4 minutes of silence; the kit
  says so on stderr before, and how long it took after. It also says when the operator cache
  is empty, since the first face then compiles its operators (2–3 minutes, one at a time: no
  progress line from Jittor).
- **Keeps Jittor's C++ output out of Python in notebook kernels.** In a Jupyter kernel Jittor
  routes C++ `std::cout`/`std::cerr` into `sys.stdout`/`sys.stderr` through Python calls made
  without the GIL. Its operator compiler writes from its own threads, so while operators
  compile (a cold cache) a write that lands while the main thread has released the GIL
  dereferences no thread state and the kernel dies of SIGSEGV, silently (Jittor's crash handler
  writes through the same path and faults again). That was notebook 05 on a fresh machine. The
  kit keeps the streams on the process's file descriptors, which ipykernel captures and shows
  in the notebook from its own thread.
- **Keeps a child's death from killing this process.** Jittor installs a SIGCHLD handler that
  ends the whole process at once (`quick_exit(1)`: no traceback, no atexit, and its one log
  line lost wherever stderr is captured) when any child process dies by a signal other than
  SIGTERM. Meant for its own data-loader workers, which the kit does not use, it turned that
  kernel's death into pytest exiting with status 1 and no summary. The kit puts the previous
  handler back, so a dead child is reported by whoever started it (nbclient: DeadKernelError).
- **Does not end a command silently.** When Jittor finds its helper library (jit_utils) out of
  date it rebuilds it and calls `sys.exit(0)` with "please rerun your command" logged, a line
  the kit's quiet log setting hides: `python -m dsf generate` ended with status 0 and no face.
  The kit turns that into a one-line error that says to run the command again.
- **Names the interpreter one way.** Jittor keys every compiled kernel on the command that
  built it, which starts with the path of the Python interpreter as this process spells it. A
  notebook kernel spells it `…/bin/python3.11`, a shell `…/bin/python`, so the two kept
  recompiling each other's kernels (about 30 s on the sketch pad's first face, every time one
  followed the other). Naming the interpreter one way makes the cache shared.

The stream fix needs the kit to be first to import Jittor in a kernel: one that ran
`import jittor` before `import dsf` keeps Jittor's redirection.
"""
import glob
import os
import signal
import sys
import threading
import time
import warnings

from . import _env  # noqa: F401  (environment defaults must precede the import)

import jittor_utils  # noqa: E402  (cheap: finds Jittor's cache folder; `import jittor` fills it)


def core_is_compiled(cache_path: str) -> bool:
    """Whether Jittor's core library is already built in `cache_path` (the folder Jittor keys
    on its version, the compiler, Python and the CPU)."""
    return bool(glob.glob(os.path.join(cache_path, "jittor_core*")))


def operators_are_compiled(cache_path: str) -> bool:
    """Whether Jittor's operator cache (`cache_path/jit`) holds any compiled operator."""
    return bool(glob.glob(os.path.join(cache_path, "jit", "*.so")))


def import_jittor():
    """`import jittor`, with a note on stderr when it compiles Jittor's core first, its C++
    streams left on the file descriptors, and the SIGCHLD handler from before it put back."""
    jittor_utils.is_in_ipynb = False  # read when Jittor loads its C++ core: no redirection
    cold = not core_is_compiled(jittor_utils.cache_path)
    if cold:
        print("dsf: first use of Jittor here: compiling its core into "
              f"{jittor_utils.cache_path} (once; 2-4 minutes on a 2-core CPU), and the first face then "
              "compiles its operators (another 2-3 minutes) ...", file=sys.stderr, flush=True)
    elif not operators_are_compiled(jittor_utils.cache_path):  # e.g. a user who emptied `jit/`
        print(f"dsf: Jittor's operator cache ({jittor_utils.cache_path}/jit) is empty: the first face "
              "compiles its operators (once; 2-3 minutes on a 2-core CPU) ...", file=sys.stderr, flush=True)
    start = time.monotonic()
    previous = signal.getsignal(signal.SIGCHLD)
    try:
        import jittor
    except SystemExit as e:  # Jittor rebuilt jit_utils and exits 0, its one log line silenced by log_silent
        if e.code not in (0, None):
            raise
        raise SystemExit("dsf: Jittor rebuilt its helper library (jit_utils) during this import and stopped; "
                         "run the same command again.") from None

    if threading.current_thread() is threading.main_thread():  # signal.signal works only there
        signal.signal(signal.SIGCHLD, signal.SIG_DFL if previous is None else previous)
    if cold:
        print(f"dsf: Jittor's core compiled in {time.monotonic() - start:.0f} s; "
              "later imports take a second or two.", file=sys.stderr, flush=True)
    return jittor


def canonical_interpreter(path: str | None = None) -> str:
    """`path` (default: this interpreter) with symlinks followed while they stay in the
    same folder, so `python`, `python3` and `python3.11` name one file, yet a virtual
    environment's interpreter stays inside the environment (its packages are needed by
    Jittor's compiler helpers)."""
    path = os.path.abspath(path or sys.executable)
    for _ in range(8):
        if not os.path.islink(path):
            break
        target = os.path.join(os.path.dirname(path), os.readlink(path))
        if os.path.dirname(os.path.abspath(target)) != os.path.dirname(path):
            break
        path = os.path.abspath(target)
    return path


jt = import_jittor()
jt.flags.python_path = canonical_interpreter()
# Jittor's kernels are built with -Ofast, which turns on flush-to-zero for the whole process;
# numpy then warns, on its first float64 `finfo`, that the smallest subnormal is zero.
warnings.filterwarnings("ignore", message="The value of the smallest subnormal", category=UserWarning)
