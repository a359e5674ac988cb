"""Training losses.

Stage 1 uses L1 between the decoded and the input sketch crop: sketches are nearly binary
(white paper, thin black strokes), and L1's constant-magnitude gradient keeps thin strokes
from being averaged away, where MSE rewards a blurry grey compromise. On a crop that is mostly
paper (the remainder: hair and outline strokes on a whitened face) even L1 is smallest for a
nearly blank decoding, so `ink_weighted_l1` can count the input's ink pixels more.

Stage 2 follows pix2pixHD: least-squares GAN (MSE of the patch logits to 1 for real and 0 for
fake), discriminator feature matching (L1 between the discriminator's intermediate features of
the real and the generated image) and a direct L1 to the photo. pix2pixHD also uses a VGG
perceptual loss; no pretrained perceptual network is available offline, so the kit replaces
it by the pixel L1 (weighted like the VGG term, λ = 10).

`outside_change` is the kit's locality loss (not in the paper, off by default): how much a
face changes outside a part's region when only that part's latent is swapped for another
face's. The paper gets local edits from pasting each part's features into its own window, but
a generator whose receptive field spans the face is free to spread a part's features anywhere.

`identity_contrast` is the kit's identity loss (not in the paper, off by default): a softmax
cross-entropy (InfoNCE) that asks each generated face to be more similar to its own photo than
to every other training photo, on the identity signatures of `dsf.evaluate.metrics` (grey
32×32 thumbnails, zero mean, unit norm). L1 to the photo is smallest for the conditional mean
face, which may look like every photo a little; this term pays for looking like the wrong one.
Because it trains on the very signature the evaluation's identity rank uses (on other faces),
an identity gain from it is checked against L1, SSIM and the pictures, not believed alone.
BT.601 grey weighs green 0.587, red 0.299 and blue 0.114, so the signature's own gradient
pushes green twice as hard as red and five times blue: at λ_id 100 the faces took a colour cast
(green hair, pink skin). `neutral=True` keeps the loss value and hands its gradient to the three
channels alike (straight-through: the value of BT.601 grey, the gradient of the channel mean),
so the push changes lightness, not colour. `kind="edges"` compares the evaluation's edge
signature instead (the gradient magnitude of 64×64 grey thumbnails: contours, what a sketch
draws) rather than the grey thumbnails' shading.

`ssim_loss` is the kit's structure loss (not in the paper, off by default): 1 − SSIM, computed
exactly as the evaluation's `dsf.evaluate.metrics.ssim` (per RGB channel, Gaussian window,
valid positions). Pixel L1 is smallest for the conditional median and leaves edges and local
contrast soft; SSIM compares local means, contrasts and correlations, the part of a perceptual
loss that needs no pretrained network (Zhao et al. 2017 mix it with L1 for image restoration).
Like the identity loss, it trains on an evaluation measure, so an SSIM gain from it is checked
against the edge identity, the effects and the pictures.
"""
from __future__ import annotations

import numpy as np

from .._jittor import jt


def l1(a: jt.Var, b: jt.Var) -> jt.Var:
    """Mean absolute difference."""
    return (a - b).abs().mean()


def ink_weighted_l1(decoded: jt.Var, sketch: jt.Var, ink_weight: float) -> jt.Var:
    """Weighted mean of |decoded − sketch| with weight 1 + ink_weight·ink, ink = (1 − sketch)/2
    (1 on black strokes, 0 on white paper, for sketches in [−1, 1]); ink_weight 0 is plain L1."""
    if not ink_weight:
        return l1(decoded, sketch)
    w = 1.0 + ink_weight * (1.0 - sketch) / 2.0
    return (w * (decoded - sketch).abs()).sum() / w.sum()


def lsgan(outputs: list, real: bool) -> jt.Var:
    """Least-squares GAN loss over a multi-scale discriminator's outputs (one feature list per
    scale, last entry = patch logits): mean over scales of MSE(logits, 1 if real else 0)."""
    target = 1.0 if real else 0.0
    total = 0.0
    for feats in outputs:
        total = total + ((feats[-1] - target) ** 2).mean()
    return total / len(outputs)


def feature_matching(fake_outputs: list, real_outputs: list) -> jt.Var:
    """pix2pixHD feature matching: Σ over scales and intermediate layers (logits excluded) of
    4/(n_layers+1) · 1/num_d · L1(D_fake, D_real); real features are constants (detached)."""
    num_d = len(fake_outputs)
    total = 0.0
    for fake_feats, real_feats in zip(fake_outputs, real_outputs):
        n_layers = len(fake_feats) - 2  # features = n_layers + 2 blocks; the last is the logits
        w = 4.0 / (n_layers + 1) / num_d
        for f, r in zip(fake_feats[:-1], real_feats[:-1]):
            total = total + w * (f - r.detach()).abs().mean()
    return total


FACE_REGION = ((3 / 16, 7 / 8), (3 / 16, 13 / 16))
"""The identity loss's `face` region as ((top, bottom), (left, right)) shares of the canvas:
rows 24–112 and columns 24–104 of 128, about brows to chin. The identity the loss bought sat
there; on the border (hair, background, shoulders) it bought little and cost SSIM most
(docs/campaign.md, thirty-eighth period)."""


def region_blocks(region: str, side: int) -> tuple[slice, slice]:
    """The (rows, columns) of a side×side signature grid that identity region `region` keeps:
    all of them for `full`, `FACE_REGION` for `face` (side a multiple of 16)."""
    if region == "full":
        return slice(None), slice(None)
    (top, bottom), (left, right) = FACE_REGION
    return slice(round(top * side), round(bottom * side)), slice(round(left * side), round(right * side))


def signature(images: jt.Var, side: int, neutral: bool = False, region: str = "full", kind: str = "grey") -> jt.Var:
    """B×3×H×W images → B×n identity signatures (differentiable): BT.601 grey, side×side block
    means, those of `region` kept (`region_blocks`); `kind` "edges": their gradient magnitude
    (forward differences, (rows − 1)×(columns − 1)); zero mean, unit norm. `full` region: n = side²
    as `dsf.evaluate.metrics.identity_signature`, or (side − 1)² as its `edge_signature`. The
    images' value range does not matter (offset and scale cancel). `neutral`: the same values,
    with the gradient of the channel mean (equal in R, G and B)."""
    b, _, h, w = images.shape
    grey = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    if neutral:
        mean = images.mean(1)
        grey = mean + (grey - mean).detach()
    rows, cols = region_blocks(region, side)
    small = grey.reshape(b, side, h // side, side, w // side).mean(4).mean(2)[:, rows, cols]
    if kind == "edges":  # the tiny constant keeps the gradient of sqrt finite where the image is flat
        dx, dy = small[:, :-1, 1:] - small[:, :-1, :-1], small[:, 1:, :-1] - small[:, :-1, :-1]
        small = (dx * dx + dy * dy + 1e-12).sqrt()
    small = small.reshape(b, -1)
    small = small - small.mean(1, keepdims=True)
    return small / ((small * small).sum(1, keepdims=True) + 1e-12).sqrt()


def identity_contrast(faces: jt.Var, gallery: jt.Var, own, temperature: float, side: int,
                      neutral: bool = False, region: str = "full", kind: str = "grey") -> jt.Var:
    """InfoNCE over a gallery of photo signatures (N×n, constants, of the same `region` and
    `kind`): mean over the faces of −log softmax(similarity / temperature)[own photo], `own[i]` =
    face i's row in `gallery`; `neutral`: the faces' signature gradient equal in R, G and B (see
    `signature`)."""
    logits = jt.matmul(signature(faces, side, neutral, region, kind), gallery.transpose(1, 0)) / temperature
    return jt.nn.cross_entropy_loss(logits, jt.array(np.asarray(own, np.int32)))


def ssim_loss(fake: jt.Var, real: jt.Var) -> jt.Var:
    """1 − mean SSIM of two B×C×H×W batches in [−1, 1] (`real` a constant), with the window,
    constants and data range of `dsf.evaluate.metrics.ssim` (mode "rgb")."""
    from ..evaluate.metrics import SSIM_K1, SSIM_K2, gaussian_window

    x, y = (fake + 1) / 2, (real.detach() + 1) / 2
    taps = jt.array(gaussian_window().astype(np.float32))
    k = taps.shape[0]

    def blur(v):  # separable 'valid' Gaussian filter of each channel alone
        b, c, h, w = v.shape
        v = jt.nn.conv2d(v.reshape(b * c, 1, h, w), taps.reshape(1, 1, k, 1))
        return jt.nn.conv2d(v, taps.reshape(1, 1, 1, k))

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return 1 - m.mean()


def outside_change(swapped: jt.Var, base: jt.Var, inside) -> jt.Var:
    """Mean |swapped − base| over the pixels where `inside` (canvas×canvas bool) is False, with
    `base` a constant (detached): only the swapped face is pulled back towards the original."""
    outside = jt.array((~np.asarray(inside, bool)).astype(np.float32)[None, None])
    per_pixel = (swapped - base.detach()).abs() * outside
    return per_pixel.sum() / (outside.sum() * swapped.shape[0] * swapped.shape[1])
