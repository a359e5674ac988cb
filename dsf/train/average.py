"""A running average of stage 2's generator-side weights (the kit's departure `--ema-decay`).

A GAN generator trained with Adam keeps circling its solution; the exponential moving average
of its weights (Yazıcı et al. 2019, "The unusual effectiveness of averaging in GAN training";
ProGAN and StyleGAN export it) usually renders better than the weights of the last step. After
every step, for every weight and BatchNorm statistic of the feature decoders and the
generator: average ← d · average + (1 − d) · weight. The average rides in the checkpoint as
the modules `average/<name>` and is what `train export` exports (`--live-weights`: the last
step's). A run that switches it on starts the average from its current weights; one resumed
with it switched off (`--ema-decay 0`) drops it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

PREFIX = "average/"


class WeightAverage:
    """The moving average (decay `decay` per step) of the modules `live`, held in `copies`
    (modules of the same shapes)."""

    def __init__(self, live: dict, copies: dict, decay: float):
        self.live, self.copies, self.decay = live, copies, decay

    @classmethod
    def resume(cls, live: dict, copies: dict, decay: float, checkpoint) -> "WeightAverage":
        """The average saved in `checkpoint`, or (none there) one that starts at `live`'s weights."""
        from .checkpoint import load_checkpoint

        average = cls(live, copies, decay)
        if has_average(checkpoint, live):
            load_checkpoint(checkpoint, average.modules(), {})
        else:
            for k, m in copies.items():
                m.load_state_dict({n: v.numpy() for n, v in live[k].state_dict().items()})
        return average

    def modules(self) -> dict:
        """The average as checkpoint modules, {"average/<name>": module}."""
        return {PREFIX + k: m for k, m in self.copies.items()}

    def update(self) -> None:
        """average ← d · average + (1 − d) · live, for every variable (BatchNorm statistics too)."""
        from .._jittor import jt
        from .._nograd import no_grad

        d, updated = self.decay, []
        with no_grad():
            for k, m in self.copies.items():
                for a, w in zip(m.parameters(), self.live[k].parameters()):
                    a.update((a * d + w.detach() * (1.0 - d)).stop_grad())
                    updated.append(a)
        jt.sync(updated)


def has_average(checkpoint, modules: dict) -> bool:
    """Whether `checkpoint` holds a weight average of every one of `modules`' names."""
    if not Path(checkpoint).exists():
        return False
    with np.load(checkpoint, allow_pickle=False) as z:
        saved = {f.split("/", 1)[1] for f in z.files if f.startswith(f"module/{PREFIX}")}
    return all(any(s.startswith(f"{PREFIX}{k}/") for s in saved) for k in modules)
