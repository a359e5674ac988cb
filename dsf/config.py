"""One `Config` for every network shape in the kit, and its named presets.

The `published` preset is the architecture of the SIGGRAPH 2020 release (512² canvas, full
widths); its module trees load the authors' parameter files unchanged. Compact presets shrink
the canvas and multiply every channel count by `width`, so the kit can train on a CPU.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

PARTS = ("eye1", "eye2", "nose", "mouth", "remainder")
"""Component names. The released files call the remainder "" (empty string)."""

WINDOW_PARTS = PARTS[:-1]
"""The four parts cut from their own window; the remainder is the rest of the sketch."""

RELEASED_PART_KEY = {"eye1": "eye1", "eye2": "eye2", "nose": "nose", "mouth": "mouth", "remainder": ""}


@dataclass(frozen=True)
class Config:
    """Shapes and inference options of one DeepFaceDrawing model.

    canvas:   side of the square sketch/photo canvas (published: 512). Windows scale with it.
    width:    multiplier on every channel count of encoders, decoders and generator
              (published: 1.0). Latent size and feature channels are set separately.
    latent:   component latent size (published: 512).
    feature_channels: channels of each feature map and of the fused map (published: 32).
    ngf:      generator base width before `width` is applied (published: 56).
    generator_down: stride-2 steps of the generator before its residual blocks (published: 4,
              a 32×32 bottleneck at 512²). At a smaller canvas, 4 steps shrink the bottleneck
              too (8×8 at 128², one cell ≈ half an eye window) and every output pixel then
              depends on the whole face; fewer steps keep the published bottleneck size. Each
              skipped step also halves the bottleneck channels, so the cost stays about equal.
    generator_blocks: residual blocks at the generator's bottleneck (published: 9).
    generator_upsample: "transpose" (published: ConvTranspose k3 s2 with output_padding 1) or
              "resize" (nearest-neighbour ×2, then a 3×3 conv). A transposed conv's last row and
              column receive fewer kernel taps than the others; stacked, that leaves a fixed
              speckle in the image's bottom-right corner, and uneven tap overlap elsewhere
              favours checkerboards. Resize-then-convolve treats every pixel alike.
    k:        neighbours in manifold projection (released code: 15; the paper settles on 10).
    solver:   "exact" (the paper: minimum-norm locally-linear weights with Σw = 1) or
              "released" (the released code's solve: Σw = 1 kept by writing w₀ = 1 − Σ others,
              plus an extra least-squares row of 10s that penalises 100·(1 − w₀)², so the
              first neighbour in its unsorted k-NN order gets most of the weight).
    bn_mode:  BatchNorm mode per stage at inference: "eval" (running statistics) or "sample"
              (each sample normalised by its own statistics). The released code never puts
              its feature decoders in eval mode, so `published` uses "sample" there (it
              changes their output by up to ~5).
    bn_momentum: Jittor BatchNorm momentum (new = (1-m)·old + m·batch). The release was
              written with 0.9; compact presets train with 0.1 for steadier running statistics.
    """

    name: str = "published"
    canvas: int = 512
    width: float = 1.0
    latent: int = 512
    feature_channels: int = 32
    ngf: int = 56
    generator_down: int = 4
    generator_blocks: int = 9
    generator_upsample: str = "transpose"
    k: int = 15
    solver: str = "released"
    bn_mode: dict = field(default_factory=lambda: {"encoder": "eval", "sketch_decoder": "eval", "feature_decoder": "sample"})
    bn_momentum: float = 0.9

    def __post_init__(self):
        if self.canvas % 32 or self.canvas < 128:
            raise ValueError(f"canvas must be a multiple of 32 and at least 128, got {self.canvas}")
        if self.solver not in ("exact", "released"):
            raise ValueError(f"solver must be 'exact' or 'released', got {self.solver!r}")
        if not 1 <= self.generator_down <= 5 or self.canvas >> self.generator_down < 4:
            raise ValueError(f"generator_down must be 1..5 and leave a bottleneck of at least 4×4, got {self.generator_down}")
        if self.generator_upsample not in ("transpose", "resize"):
            raise ValueError(f"generator_upsample must be 'transpose' or 'resize', got {self.generator_upsample!r}")
        if self.generator_blocks < 0:
            raise ValueError(f"generator_blocks must be >= 0, got {self.generator_blocks}")
        for stage, mode in self.bn_mode.items():
            if stage not in ("encoder", "sketch_decoder", "feature_decoder") or mode not in ("eval", "sample"):
                raise ValueError(f"bn_mode: unknown stage/mode {stage!r}: {mode!r}")

    def channels(self, c: int) -> int:
        """A published channel count scaled by `width` (at least 4)."""
        return max(4, int(round(c * self.width)))

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)


PRESETS = {
    "published": Config(),
    # The kit's own CPU-trainable model: canvas 128, quarter widths, paper-exact projection, and
    # the published generator's 32×32 bottleneck (2 downsamplings at 128² instead of 4).
    "compact128": Config(
        name="compact128", canvas=128, width=0.25, latent=256, feature_channels=32, ngf=56,
        generator_down=2, k=10, solver="exact", bn_mode={"encoder": "eval", "sketch_decoder": "eval", "feature_decoder": "eval"},
        bn_momentum=0.1,
    ),
    "compact256": Config(
        name="compact256", canvas=256, width=0.25, latent=256, feature_channels=32, ngf=56,
        generator_down=3, k=10, solver="exact", bn_mode={"encoder": "eval", "sketch_decoder": "eval", "feature_decoder": "eval"},
        bn_momentum=0.1,
    ),
}


def preset(name: str) -> Config:
    """Return a named preset (see `PRESETS`)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
