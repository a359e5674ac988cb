"""A thread-safe `no_grad` for the kit's inference calls.

Jittor's `jt.no_grad()` saves and restores one process-wide flag. Two threads inside it at
once (the sketch pad's refresh thread and a notebook cell, or the evaluator's synthesis
threads) can each restore the other's saved value and leave gradients switched off for good:
a training step later in the same process would then silently learn nothing. This context
counts the threads inside it instead: the first one in switches gradients off, the last one
out restores the value the first one found. (While any thread is inside, the flag is off for
the whole process; that is Jittor's design, not something a wrapper can change.)
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from ._jittor import jt

_lock = threading.Lock()
_inside = 0
_saved = None


@contextmanager
def no_grad():
    """Gradients off inside, for every thread at once; restored when the last thread leaves."""
    global _inside, _saved
    with _lock:
        if _inside == 0:
            _saved = jt.flags.no_grad
            jt.flags.no_grad = 1
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                jt.flags.no_grad = _saved
