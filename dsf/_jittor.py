"""The kit's one way in to Jittor: `from ._jittor import jt`.

Jittor keys every compiled kernel on the command that built it, which starts with the path
of the Python interpreter as this process spells it. A notebook kernel spells it
`…/bin/python3.11`, a shell `…/bin/python`, so the two kept recompiling each other's
kernels (about 30 s on the sketch pad's first face, every time one followed the other).
Naming the interpreter one way makes the cache shared.
"""
import os
import sys
import warnings

from . import _env  # noqa: F401  (environment defaults must precede the import)

import jittor as jt  # noqa: E402


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


jt.flags.python_path = canonical_interpreter()
# Jittor's kernels are built with -Ofast, which turns on flush-to-zero for the whole process;
# numpy then warns, on its first float64 `finfo`, that the smallest subnormal is zero.
warnings.filterwarnings("ignore", message="The value of the smallest subnormal", category=UserWarning)
