"""Jittor environment defaults, applied before Jittor is first imported.

Jittor probes for CUDA at import when a toolkit is installed, and crashes where there is a
toolkit but no GPU; it also logs every compilation. The kit turns both off unless the user
has set these variables already.

It also compiles operators one at a time (`use_parallel_op_compiler=0`). Jittor's parallel
operator compiler (a thread per 3 GB of memory, up to 16: `C0`, `C1`, …) crashed a CLI run
with a segfault in thread `C4` while it compiled a cold cache (a CI run, 2026-12-06). One at
a time removes that race; a cold first face took 145 s against 136 s in parallel on this
2-core box (measured beside a training process), and the cache makes it once per machine.
"""
import glob
import os


def apply_jittor_defaults() -> None:
    """Jittor settings for a CPU-only machine (no nvcc search, quiet logs, serial operator
    compiles), unless the user set them."""
    if "nvcc_path" not in os.environ and not glob.glob("/dev/nvidia[0-9]*"):
        os.environ["nvcc_path"] = ""
    os.environ.setdefault("log_silent", "1")
    os.environ.setdefault("use_parallel_op_compiler", "0")


apply_jittor_defaults()
