"""Stage 2's recipe: the loss weights, learning rates and schedule that `train stage2`'s options set.

A resumed run keeps its recipe unless options change it (`resumed_recipe`); the checkpoint
keeps every recipe it trained with, from the step it started, in `meta["loss_phases"]` (the
model card lists them). The defaults of a new run are
pix2pixHD's losses with the kit's pixel L1 in place of the VGG loss (see `stage2`); every
other term is one of the kit's named departures and off by default.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .. import PARTS

LR = 2e-4
LAMBDA_FM, LAMBDA_L1, LAMBDA_LOCAL, LAMBDA_ID, LAMBDA_SSIM = 10.0, 100.0, 0.0, 0.0, 0.0
ID_TEMPERATURE = 0.1
"""The identity loss's softmax temperature by default: training photos' signatures have cosine
similarities from about −0.4 to 0.8 (1st–99th percentile), so 0.1 spreads them over ~12 logits."""
ID_GRADIENTS = ("bt601", "neutral")
"""How the identity loss's gradient reaches R, G and B: BT.601 grey's own (0.299, 0.587, 0.114),
or the channel mean's, equal in all three (`losses.signature`)."""
ID_REGIONS = ("full", "face")
"""Where the identity loss compares each face with the photos: the whole canvas, or its centre,
about brows to chin (`losses.FACE_REGION`), leaving out the border a sketch says little about."""
ID_SIGNATURES = ("grey", "edges")
"""What the identity loss compares: the evaluation's grey thumbnails (shading, 32×32) or its edge
signature (their gradient magnitude at 64×64: contours, what a sketch draws; `losses.signature`)."""


@dataclass(frozen=True)
class Recipe:
    """Stage 2's loss weights (λ), the locality loss's parts and per-part multipliers, the
    discriminator's instance noise σ, the share of training latents blended toward their
    projection (`refine_share`, see `stage2.with_refined`), the noise added to the training
    latents (`latent_noise`, see `stage2.with_noise`), the share of training faces encoded
    afresh from an augmented sketch (`augment_share`, see `stage2.with_augmented`), the share
    mirrored about the faces' axis (`mirror_share`, see `stage2.with_mirrored`), the share
    drawn afresh from the photo by the pencil filter (`pencil_share`, see `stage2.with_pencilled`), the
    learning rates (`lr_d` None: `lr`), how the identity loss's gradient reaches the colour
    channels (`id_gradient`, one of `ID_GRADIENTS`), its softmax temperature (`id_temperature`:
    lower weighs the photos most like each face harder) and region (`id_region`, one of
    `ID_REGIONS`) and signature (`id_signature`, one of `ID_SIGNATURES`), the linear decay to 0 over `lr_decay_steps` (0: none) and the decay of the
    weight average (`ema_decay`, see `average`; 0: none). Parts, weights, the shares, the
    identity gradient, temperature, region and signature and the average's decay are checked on creation."""
    lambda_fm: float = LAMBDA_FM
    lambda_l1: float = LAMBDA_L1
    lambda_local: float = LAMBDA_LOCAL
    local_parts: tuple = PARTS
    local_weights: dict = field(default_factory=dict)
    lambda_id: float = LAMBDA_ID
    lambda_ssim: float = LAMBDA_SSIM
    id_gradient: str = ID_GRADIENTS[0]
    id_temperature: float = ID_TEMPERATURE
    id_region: str = ID_REGIONS[0]
    id_signature: str = ID_SIGNATURES[0]
    d_noise: float = 0.0
    refine_share: float = 0.0
    latent_noise: float = 0.0
    augment_share: float = 0.0
    mirror_share: float = 0.0
    pencil_share: float = 0.0
    lr: float = LR
    lr_d: float | None = None
    lr_decay_steps: int = 0
    ema_decay: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "local_parts", check_parts(self.local_parts))
        object.__setattr__(self, "local_weights", check_weights(self.local_weights))
        object.__setattr__(self, "refine_share", check_share(self.refine_share, "refine share"))
        object.__setattr__(self, "augment_share", check_share(self.augment_share, "augment share"))
        object.__setattr__(self, "mirror_share", check_share(self.mirror_share, "mirror share"))
        object.__setattr__(self, "pencil_share", check_share(self.pencil_share, "pencil share"))
        object.__setattr__(self, "latent_noise", check_latent_noise(self.latent_noise))
        object.__setattr__(self, "ema_decay", check_ema_decay(self.ema_decay))
        object.__setattr__(self, "id_gradient", check_choice(self.id_gradient, ID_GRADIENTS, "identity gradient"))
        object.__setattr__(self, "id_temperature", check_id_temperature(self.id_temperature))
        object.__setattr__(self, "id_region", check_choice(self.id_region, ID_REGIONS, "identity region"))
        object.__setattr__(self, "id_signature", check_choice(self.id_signature, ID_SIGNATURES, "identity signature"))
        if self.lr_d is None:
            object.__setattr__(self, "lr_d", self.lr)

    def local_swap(self, step: int) -> tuple[str, float]:
        """(the part the locality loss swaps at `step`, its weight λ_local · `local_weights[part]`):
        the local parts take turns, one per step."""
        part = self.local_parts[step % len(self.local_parts)]
        return part, self.lambda_local * self.local_weights.get(part, 1.0)

    def as_phase(self) -> dict:
        """The recipe as a `meta["loss_phases"]` entry (JSON types), without its `from_step`."""
        phase = {k: v if isinstance(v, str) else float(v) for k, v in asdict(self).items()
                 if k not in ("local_parts", "local_weights", "lr_decay_steps")}
        return {**phase, "lr_decay_steps": int(self.lr_decay_steps), "local_parts": list(self.local_parts),
                "local_weights": dict(self.local_weights)}


def check_parts(parts) -> tuple:
    """`parts` as a tuple of part names in the paper's order; a clear error for an unknown or empty list."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ValueError(f"local parts must be a non-empty subset of {', '.join(PARTS)}; got {', '.join(parts) or 'none'}")
    return tuple(p for p in PARTS if p in parts)


def check_weights(weights: dict) -> dict:
    """Per-part multipliers of λ_local as {part: float > 0} in the paper's order; a clear error
    for an unknown part or a weight ≤ 0 (to drop a part, leave it out of the local parts)."""
    unknown = sorted(set(weights) - set(PARTS))
    if unknown or any(not w > 0 for w in weights.values()):
        raise ValueError(f"local weights must be PART=W > 0 with PART one of {', '.join(PARTS)}; "
                         f"got {', '.join(f'{p}={w:g}' for p, w in weights.items())}")
    return {p: float(weights[p]) for p in PARTS if p in weights}


def check_share(share: float, name: str = "share") -> float:
    """A share (the refine, augment or mirror share, `name` in the error) as a float in [0, 1]; a clear
    error otherwise (NaN included)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {share!r}")
    return float(share)


def check_latent_noise(sigma: float) -> float:
    """The latent noise σ (a share of each latent dimension's spread) as a float ≥ 0; a clear error otherwise."""
    if not sigma >= 0.0:
        raise ValueError(f"latent noise must be ≥ 0 (a share of each latent dimension's spread), got {sigma!r}")
    return float(sigma)


def check_ema_decay(decay: float) -> float:
    """The weight average's decay per step as a float in [0, 1) (0: no average); a clear error otherwise."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"the weight average's decay must lie in [0, 1), got {decay!r}")
    return float(decay)


def check_choice(name: str, choices: tuple, what: str) -> str:
    """`name` if it is one of `choices` (the identity loss's gradient, region or signature: `what`);
    a clear error otherwise."""
    if name not in choices:
        raise ValueError(f"the {what} must be one of {', '.join(choices)}; got {name!r}")
    return name


def check_id_temperature(temperature: float) -> float:
    """The identity loss's softmax temperature as a float > 0; a clear error otherwise (NaN and
    infinity included)."""
    if not 0.0 < temperature < float("inf"):
        raise ValueError(f"the identity temperature must be a number > 0 (default {ID_TEMPERATURE:g}), got {temperature!r}")
    return float(temperature)


def resumed_recipe(given: dict, meta: dict | None) -> Recipe:
    """The recipe a stage-2 run trains with: the options `given` (None: not given) over the run's
    current recipe, the last of its checkpoint `meta`'s loss phases, so that resuming a run
    without restating its recipe keeps it (it once fell back to the defaults unannounced). A
    new run starts from the defaults. A finished run trained on (`--extend`) drops the decay it
    finished with unless it is given again; `lr` given alone sets both learning rates."""
    meta = meta or {}
    phases = meta.get("loss_phases") or ([meta["losses"]] if "losses" in meta else [])
    current = {k: v for k, v in (phases[-1] if phases else {}).items() if k in Recipe.__dataclass_fields__}
    if meta.get("done"):
        current.pop("lr_decay_steps", None)
    if given.get("lr") is not None and given.get("lr_d") is None:
        current.pop("lr_d", None)  # `--lr` alone sets both rates, as on a new run
    return Recipe(**{**current, **{k: v for k, v in given.items() if v is not None}})


def record_phase(meta: dict, recipe: Recipe) -> int | None:
    """Start a new entry of `meta["loss_phases"]` when `recipe` differs from the current one;
    returns the step where the learning-rate decay ends (None: no decay)."""
    # Checkpoints written before loss phases existed kept one "losses" entry.
    phases = meta.setdefault("loss_phases", [{"from_step": 0, **meta.pop("losses")}] if "losses" in meta else [])
    phase = recipe.as_phase()
    # Phases recorded before an option existed lack its key: they trained with its default.
    last = {**Recipe().as_phase(), **(phases[-1] if phases else {})}
    if phases and "lr_d" not in phases[-1]:
        last["lr_d"] = last["lr"]  # one rate for both before `lr_d` existed
    if not phases or {k: last.get(k) for k in phase} != phase:
        phases.append({"from_step": meta["step"], **phase})
    steps = phase["lr_decay_steps"]
    return phases[-1]["from_step"] + steps if steps else None
