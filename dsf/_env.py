"""Jittor environment defaults, applied before Jittor is first imported.

Jittor probes for CUDA at import when a toolkit is installed, and crashes where there is a
toolkit but no GPU; it also logs every compilation. The kit turns both off unless the user
has set these variables already.
"""
import glob
import os


def apply_jittor_defaults() -> None:
    """Jittor settings for a CPU-only machine (no nvcc search, quiet logs), unless the user set them."""
    if "nvcc_path" not in os.environ and not glob.glob("/dev/nvidia[0-9]*"):
        os.environ["nvcc_path"] = ""
    os.environ.setdefault("log_silent", "1")


apply_jittor_defaults()
