"""Every figure the kit draws: one per stage of the paper's Fig. 2, and the grids and curves
that notebooks, training and evaluation share (the kit's one plotting path).

The stage figures read a `dsf.pipeline.Trace` (or call the pipeline's stage methods); every
helper returns a `matplotlib.figure.Figure`, with a title, and labelled axes wherever the axes carry a
scale (image panels have their ticks hidden instead). Nothing here holds model logic.

    trace = pipe.run("sample_sketches/01_female_smiling.png", shadow=True)
    dsf.viz.stage_strip(trace).savefig("strip.png")

Stage figures: `show_windows`, `show_parts`, `show_latents`, `show_neighbours`, `bank_pca`,
`show_feature_maps`, `stage_strip`, `timings_bar`. General figures, also used by training and
evaluation (the kit's one plotting path): `image_grid`, `refine_grid`, `image_row`, `change_maps`
(|Δ| heat maps of an edit, with `change_map` and `as_heat_map`),
`loss_curves`, `loss_log_figure`, `tile_images` (pixel-exact sample grids), `save_figure`.
Helpers: `feature_pca_rgb` (with `low_pass`), `pca_basis`, and `show_source` (a stage function's
code, beside its figure).
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from PIL import Image

from .components import part_regions, windows
from .config import PARTS, WINDOW_PARTS

PART_COLOURS = {"eye1": "tab:blue", "eye2": "tab:cyan", "nose": "tab:green", "mouth": "tab:red",
                "remainder": "tab:grey"}
"""One colour per component, used by every figure here."""

__all__ = ["PART_COLOURS", "FEATURE_SMOOTH", "show_windows", "show_parts", "show_latents", "show_neighbours",
           "feature_pca_rgb", "low_pass", "show_feature_maps", "stage_strip", "image_grid", "refine_grid",
           "tile_images", "image_row",
           "change_map", "as_heat_map", "change_maps", "timings_bar", "bank_pca", "pca_basis", "loss_curves",
           "loss_log_figure", "save_figure", "show_source"]


# --------------------------------------------------------------------------------- basics
def _image_axis(ax, image, title=None, cmap=None, fontsize=9, **kw):
    """Draw an image panel: no ticks (pixels carry no scale worth reading), optional title."""
    image = np.asarray(image)
    if cmap is None and image.ndim == 2:
        cmap = "gray"
        kw.setdefault("vmin", 0)
        kw.setdefault("vmax", 255 if image.dtype == np.uint8 else max(1.0, float(image.max(initial=0))))
    ax.imshow(image, cmap=cmap, interpolation="nearest", **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)
    return ax


def _draw_windows(ax, canvas: int, labels: bool = True, parts=WINDOW_PARTS, lw: float = 1.5):
    for part in parts:
        w = windows(canvas)[part]
        ax.add_patch(Rectangle((w.x - 0.5, w.y - 0.5), w.size, w.size, fill=False, lw=lw,
                               edgecolor=PART_COLOURS[part]))
        if labels:
            ax.text(w.x + 1, w.y + 1, part, color=PART_COLOURS[part], fontsize=7, va="top", ha="left",
                    bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.7))


def save_figure(fig, path, dpi: int = 100, close: bool = False, max_bytes: int | None = None) -> Path:
    """Save a figure as PNG (parent folders created) and return the path. close: also close
    the figure (scripts that draw many); max_bytes: re-save a larger file with a 256-colour
    palette (keeps the PNGs committed to docs small)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    if max_bytes is not None and path.stat().st_size > max_bytes:
        with Image.open(path) as im:
            palette = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        palette.save(path, optimize=True)
    return path


def show_source(*functions, docstring: bool = False):
    """The code of kit functions or methods as highlighted Python for a notebook, read from
    the package itself (never a copy), each headed by its file and line numbers.
    docstring=False leaves the docstrings out, so the cell shows just the lines that compute."""
    from IPython.display import Code

    return Code("\n".join(_source_with_origin(f, docstring) for f in functions), language="python")


def _source_with_origin(function, docstring: bool) -> str:
    lines, first = inspect.getsourcelines(function)
    source = textwrap.dedent("".join(lines))
    if not docstring:
        source = _without_docstring(source)
    path = Path(inspect.getsourcefile(function)).resolve()
    package_root = Path(__file__).resolve().parent.parent
    where = path.relative_to(package_root) if path.is_relative_to(package_root) else path.name
    return f"# {where}, lines {first}–{first + len(lines) - 1}\n{source}"


def _without_docstring(source: str) -> str:
    definition = ast.parse(source).body[0]
    first = definition.body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
        return source
    lines = source.splitlines(keepends=True)
    return "".join(lines[:first.lineno - 1] + lines[first.end_lineno:])


# ---------------------------------------------------------------- component embedding
def show_windows(sketch, title: str = "Input sketch and the five component windows", ax=None):
    """The sketch (H×W uint8) with the four window rectangles of the paper's component
    embedding; the remainder is everything outside them (painted white before encoding)."""
    sketch = np.asarray(sketch)
    fig, ax = (plt.subplots(figsize=(4, 4)) if ax is None else (ax.figure, ax))
    _image_axis(ax, sketch, title)
    _draw_windows(ax, sketch.shape[0])
    return fig


def show_parts(trace, title: str = "Component embedding: the five crops each auto-encoder sees"):
    """The five component crops of a trace (`trace.parts`), each titled with its size."""
    fig, axes = plt.subplots(1, len(PARTS), figsize=(2.2 * len(PARTS), 2.6))
    for ax, part in zip(axes, PARTS):
        crop = trace.parts[part]
        _image_axis(ax, crop, f"{part} ({crop.shape[0]}×{crop.shape[1]})")
        for side in ax.spines.values():
            side.set_edgecolor(PART_COLOURS[part])
            side.set_linewidth(2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_latents(trace, title: str = "Latents per component: sketch, projection, blend"):
    """Heat strips of each component's latent vector: the sketch's own latent v, its
    manifold projection p and the blend refine·p + (1 − refine)·v that goes on to feature
    mapping. x: latent dimension; shared colour scale per part."""
    fig, axes = plt.subplots(len(PARTS), 1, figsize=(9, 1.2 * len(PARTS) + 0.6), squeeze=False)
    for ax, part in zip(axes[:, 0], PARTS):
        rows = np.stack([trace.latents[part], trace.projected[part], trace.blended[part]]).astype(np.float32)
        lim = float(np.abs(rows).max()) or 1.0
        im = ax.imshow(rows, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_yticks(range(3), ["v (sketch)", "p (projected)", f"blend r={trace.refine[part]:.2f}"], fontsize=7)
        ax.set_ylabel(part, color=PART_COLOURS[part], rotation=0, ha="right", va="center", labelpad=60)
        ax.set_xlabel("latent dimension", fontsize=8)
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03, label="value")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- manifold projection
def show_neighbours(pipe, trace, part: str, n: int | None = None,
                    title: str | None = None):
    """The input crop, its reconstruction through the component's sketch decoder, its
    projection, and its K nearest bank latents decoded to sketches, each titled with its
    locally-linear weight (nearest first). Calls the pipeline's sketch decoder only."""
    idx = np.asarray(trace.neighbours[part])
    w = np.asarray(trace.weights[part])
    n = len(idx) if n is None else min(n, len(idx))
    vectors = np.vstack([trace.latents[part][None], trace.projected[part][None], pipe.banks[part].vectors[idx[:n]]])
    decoded = pipe.decode_sketch(part, vectors)
    panels = [(trace.parts[part], "input crop", None)]
    panels.append((decoded[0], "D(v): sketch latent", None))
    panels.append((decoded[1], "D(p): projection", None))
    sexes = pipe.banks[part].labels.get("sex")
    for i in range(n):
        sx = f" {sexes[idx[i]][:1]}" if sexes is not None and sexes[idx[i]] else ""
        panels.append((decoded[2 + i], f"#{idx[i]}{sx}  w={w[i]:+.2f}", w[i]))
    cols = min(len(panels), 6)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 2.0 * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (img, label, weight) in zip(axes.ravel(), panels):
        ax.axis("on")
        img = np.asarray(img, np.float32)
        if img.max() > 2:  # uint8 crop → the decoder's −1…1 range
            img = img / 127.5 - 1
        _image_axis(ax, img, label, cmap="gray", vmin=-1, vmax=1)
        if weight is not None:
            for side in ax.spines.values():
                side.set_edgecolor(plt.cm.viridis(float(np.clip(abs(weight), 0, 1))))
                side.set_linewidth(2)
    fig.suptitle(title or f"Manifold projection of {part}: K={len(idx)} nearest bank sketches "
                 f"(decoded) and their weights (Σw = {w.sum():.2f})")
    fig.tight_layout()
    return fig


def pca_basis(vectors, n: int = 2):
    """(mean, components n×D, explained variance ratio) of the rows of `vectors` (SVD)."""
    x = np.asarray(vectors, np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2
    return mean, vt[:n], var[:n] / max(var.sum(), 1e-12)


def bank_pca(pipe, part: str, trace=None, ax=None, title: str | None = None, max_points: int = 4000):
    """A component's bank in 2-D (the first two principal components of the bank latents),
    coloured by sex, with (if a trace is given) the sketch's latent v, its K neighbours,
    the projection p and the blend v′ marked, and an arrow v → v′."""
    bank = pipe.banks[part]
    mean, comp, ratio = pca_basis(bank.vectors)
    to2d = lambda x: (np.atleast_2d(np.asarray(x, np.float64)) - mean) @ comp.T  # noqa: E731
    xy = to2d(bank.vectors)
    fig, ax = (plt.subplots(figsize=(5.5, 4.5)) if ax is None else (ax.figure, ax))
    rng = np.random.default_rng(0)
    show = np.arange(len(xy)) if len(xy) <= max_points else rng.choice(len(xy), max_points, replace=False)
    sex = np.asarray(bank.labels["sex"])
    for s, colour in (("male", "tab:blue"), ("female", "tab:orange"), ("", "tab:grey")):
        sel = show[sex[show] == s]
        if len(sel):
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.35, color=colour, label=f"bank: {s or 'unlabelled'}")
    if trace is not None:
        v, p, b = to2d(trace.latents[part])[0], to2d(trace.projected[part])[0], to2d(trace.blended[part])[0]
        nb = xy[np.asarray(trace.neighbours[part])]
        ax.scatter(nb[:, 0], nb[:, 1], s=40, facecolors="none", edgecolors="black", lw=1.2,
                   label=f"K={len(nb)} neighbours")
        ax.scatter(*v, marker="X", s=110, color="crimson", edgecolor="white", label="sketch latent v", zorder=5)
        ax.scatter(*p, marker="*", s=160, color="green", edgecolor="white", label="projection p", zorder=5)
        ax.scatter(*b, marker="o", s=70, color="purple", edgecolor="white",
                   label=f"blend v′ (refine {trace.refine[part]:.2f})", zorder=5)
        ax.annotate("", xy=b, xytext=v, arrowprops=dict(arrowstyle="->", color="purple", lw=1.2), zorder=4)
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)" if len(ratio) > 1 else "PC 2")
    ax.set_title(title or f"{part} bank ({len(bank)} latents) in 2-D PCA")
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    return fig


# -------------------------------------------------------------------- feature mapping
FEATURE_SMOOTH = 2.0
"""σ (feature pixels) of the low-pass the feature figures apply before their PCA: the trained
fused map is mostly a fine-grained code (neighbouring pixels correlate ~0.1), which the
generator's first 7×7 convolution integrates; blurred, the face's layout shows."""


def feature_pca_rgb(fmap, basis=None, stretch=None, smooth: float = 0.0) -> np.ndarray:
    """C×H×W feature map → H×W×3 float image in [0, 1] from its first three principal
    components (pixels as samples, channels as variables), each stretched to its 1st–99th
    percentile. smooth > 0: each channel is first blurred by a Gaussian of that σ (pixels).
    To colour several maps alike, pass `basis` = (mean, components, ...) from `pca_basis`
    and `stretch` = (lo, hi) per component (see `show_feature_maps`)."""
    f = np.asarray(fmap, np.float64)
    if f.ndim != 3:
        raise ValueError(f"expected a C×H×W feature map, got shape {f.shape}")
    f = low_pass(f, smooth) if smooth > 0 else f
    y = _first_three_components(f, basis)
    lo, hi = stretch if stretch is not None else _percentile_range(y)
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    rgb = (y - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)
    return np.clip(rgb, 0, 1).reshape(*f.shape[1:], 3).astype(np.float32)


def _first_three_components(fmap, basis=None) -> np.ndarray:
    """C×H×W map → (H·W)×3 coordinates of its pixels on `basis` (mean, components, ...) or
    on the map's own first principal components; zeros where it has fewer than three."""
    x = np.asarray(fmap, np.float64).reshape(fmap.shape[0], -1).T
    mean, comp = basis[:2] if basis is not None else pca_basis(x, 3)[:2]
    y = (x - mean) @ np.asarray(comp).T
    return np.hstack([y, np.zeros((len(y), 3 - y.shape[1]))]) if y.shape[1] < 3 else y


def low_pass(fmap, sigma: float) -> np.ndarray:
    """Each channel of a C×H×W map blurred by a Gaussian of σ pixels (separable; edges
    repeated, so the mean of a constant map is kept)."""
    from .evaluate.metrics import gaussian_window  # here: dsf.evaluate imports viz

    r = max(1, int(round(3 * sigma)))
    g = gaussian_window(2 * r + 1, sigma)
    h, w = fmap.shape[1:]
    p = np.pad(np.asarray(fmap, np.float64), ((0, 0), (r, r), (r, r)), mode="edge")
    rows = sum(gi * p[:, i:i + h, :] for i, gi in enumerate(g))
    return sum(gi * rows[:, :, i:i + w] for i, gi in enumerate(g))


def _percentile_range(y) -> tuple:
    return np.percentile(y, 1, axis=0), np.percentile(y, 99, axis=0)


def _shared_colouring(fused, smooth: float):
    """PCA basis and percentile stretch of the (low-passed) fused map, to colour every map alike."""
    f = np.asarray(fused, np.float64)
    f = low_pass(f, smooth) if smooth > 0 else f
    mean, comp, _ = pca_basis(f.reshape(f.shape[0], -1).T, 3)
    return (mean, comp), _percentile_range(_first_three_components(f, (mean, comp)))


def show_feature_maps(trace, channels=(0, 1, 2), title: str = "Feature mapping: per-part maps and the fused map",
                      smooth: float = FEATURE_SMOOTH):
    """Top row: each component's feature map and the fused map, low-passed (Gaussian σ =
    `smooth` pixels; 0: raw) and shown as their first three principal components in RGB —
    one PCA of the fused map colours all six, so equal colours mean similar features
    (`feature_pca_rgb`). Bottom row: a few raw channels of the fused map (colour bar:
    feature value), fine-grained as the generator reads them."""
    basis, stretch = _shared_colouring(trace.fused, smooth)
    cols = max(len(PARTS) + 1, len(channels))
    fig, axes = plt.subplots(2, cols, figsize=(2.2 * cols, 5.0), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, part in zip(axes[0], PARTS):
        ax.axis("on")
        m = trace.feature_maps[part]
        _image_axis(ax, feature_pca_rgb(m, basis, stretch, smooth), f"{part} {m.shape[0]}×{m.shape[1]}×{m.shape[2]}")
    ax = axes[0, len(PARTS)]
    ax.axis("on")
    _image_axis(ax, feature_pca_rgb(trace.fused, basis, stretch, smooth), f"fused {'×'.join(map(str, trace.fused.shape))}")
    _draw_windows(ax, trace.fused.shape[-1], labels=False, lw=0.8)
    for ax, ch in zip(axes[1], channels):
        ax.axis("on")
        im = ax.imshow(trace.fused[ch], cmap="magma", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"fused channel {ch}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="value")
    blur = f", blurred σ {smooth:g} px" if smooth > 0 else ""
    fig.suptitle(title + f" (top: first 3 principal components of the fused map as RGB{blur})")
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------- whole pipeline
def stage_strip(trace, title: str | None = None, smooth: float = FEATURE_SMOOTH):
    """One row through the pipeline: sketch with windows, the shadow (if the trace has one),
    the fused feature map (blurred by a Gaussian of σ = `smooth` pixels, 0: raw; first three
    principal components as RGB), and the face."""
    panels = [("sketch + windows", "windows")]
    if trace.shadow is not None:
        panels.append(("shadow (drawing guidance)", "shadow"))
    fused = f"fused features (σ {smooth:g} blur, PCA → RGB)" if smooth > 0 else "fused features (PCA → RGB)"
    panels += [(fused, "fused"), ("synthesised face", "image")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4))
    for ax, (label, kind) in zip(np.atleast_1d(axes), panels):
        if kind == "windows":
            _image_axis(ax, trace.sketch, label)
            _draw_windows(ax, trace.sketch.shape[0], labels=False)
        elif kind == "shadow":
            _image_axis(ax, trace.shadow, label)
        elif kind == "fused":
            _image_axis(ax, feature_pca_rgb(trace.fused, smooth=smooth), label)
        else:
            _image_axis(ax, trace.image, label)
    r = trace.refine
    refine = f"{r[PARTS[0]]:.2f}" if len(set(r.values())) == 1 else ", ".join(f"{p} {v:.2f}" for p, v in r.items())
    fig.suptitle(title or f"DeepFaceDrawing stages (refine {refine}; pool {trace.sex or 'all'}; K={trace.k})", fontsize=10)
    fig.tight_layout()
    return fig


def image_grid(images, title: str, titles=None, row_labels=None, xlabel: str | None = None,
               ylabel: str | None = None, figsize=None, fontsize: int = 9):
    """A grid of image panels: `images` is a list of rows (an array R×C×H×W(×3) works too; a
    None panel is left empty), `titles` the same shape (str or None per panel), `row_labels`
    name the rows on the left, `xlabel` / `ylabel` title the column / row axes. Greyscale
    panels (H×W) are drawn as 0–255 grey. figsize: default 1.7 inches a panel."""
    rows, cols = len(images), max(len(row) for row in images)
    fig, axes = plt.subplots(rows, cols, figsize=figsize or (1.7 * cols + 0.8, 1.7 * rows + 0.8), squeeze=False)
    for (i, j), ax in np.ndenumerate(axes):
        image = images[i][j] if j < len(images[i]) else None
        if image is None:
            ax.axis("off")
            continue
        _image_axis(ax, image, titles[i][j] if titles is not None else None, fontsize=fontsize)
        if j == 0 and row_labels is not None:
            ax.set_ylabel(str(row_labels[i]), fontsize=fontsize)
    if xlabel:
        fig.supxlabel(xlabel, fontsize=9)
    if ylabel:
        fig.supylabel(ylabel, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def refine_grid(images, row_labels, col_labels, title: str = "Faces over refine values",
                xlabel: str = "refine (1 = projection only, 0 = raw sketch)", ylabel: str = ""):
    """A rows×cols grid of faces: `images` R×C×H×W×3 (or a list of lists), labelled by row
    and column; the column axis title is `xlabel`, the row axis title `ylabel`."""
    rows, cols = len(images), len(images[0])
    if len(row_labels) != rows or len(col_labels) != cols:
        raise ValueError(f"got {rows}×{cols} images but {len(row_labels)} row and {len(col_labels)} column labels")
    titles = [[str(c) for c in col_labels]] + [[None] * cols] * (rows - 1)
    return image_grid(images, title, titles, row_labels, xlabel, ylabel)


def tile_images(columns) -> np.ndarray:
    """Image columns side by side, pixel for pixel (training sample grids): each column is
    B×H×W×3 or B×H×W (grey) uint8, and row i shows sample i of every column."""
    columns = [np.asarray(c) for c in columns]
    rgb = [np.repeat(c[..., None], 3, axis=3) if c.ndim == 3 else c for c in columns]
    return np.concatenate([np.concatenate([c[i] for c in rgb], axis=1) for i in range(len(rgb[0]))], axis=0)


def image_row(images, labels, title: str, xlabel: str | None = None):
    """Images side by side with a label each (interpolations, part swaps, comparisons)."""
    fig, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images), 2.8), squeeze=False)
    for ax, img, label in zip(axes[0], images, labels):
        _image_axis(ax, img, str(label))
    if xlabel:
        fig.supxlabel(xlabel, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def change_map(after, before) -> np.ndarray:
    """|after − before| averaged over RGB, in /255 units (H×W float32; batches keep their axis)."""
    return np.abs(np.asarray(after, np.float32) - np.asarray(before, np.float32)).mean(axis=-1)


def as_heat_map(ax, vmax: float, canvas: int, parts) -> None:
    """Recolour a |Δ| panel drawn by `image_grid` (black 0 … yellow ≥ vmax) and outline the
    windows of `parts` (for the remainder, whose region lies outside them: all four windows)."""
    ax.images[0].set_cmap("magma")
    ax.images[0].set_clim(0, vmax)
    windowed = [p for p in parts if p in WINDOW_PARTS]
    _draw_windows(ax, canvas, labels=False, parts=windowed or WINDOW_PARTS, lw=1.2)


def change_maps(before, after, edited, labels, title: str):
    """What each edit changed, one column per edit: the face before, the face after, and
    |after − before| as a heat map (one colour scale for all), the edited parts' windows
    outlined. Under each heat map: the mean change inside the edited region and outside
    it, in /255 — the measures `python -m dsf evaluate` averages over the test set (locality,
    refine response). A small edit that is invisible side by side shows here.

    before, after: C faces each (H×W×3 uint8); edited: per column, the names of the edited
    parts (their region is the union of their `dsf.components.part_regions`); labels: C strings."""
    from .evaluate.metrics import region_change  # imported here: dsf.evaluate draws with this module

    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape or len(before) != len(edited) or len(before) != len(labels):
        raise ValueError(f"need as many 'before' as 'after' faces, edited parts and labels; got "
                         f"{before.shape}, {after.shape}, {len(edited)} and {len(labels)}")
    canvas, regions = before.shape[1], part_regions(before.shape[1])
    heats = change_map(after, before)
    # one scale for all columns, set by the typical column: one large edit saturates (≥ vmax) instead of hiding the rest
    vmax = max(1.0, float(np.median([np.percentile(h, 99.5) for h in heats])))
    fig = image_grid([list(before), list(after), list(heats)], f"{title}\n|Δ| colour scale: black 0 … yellow ≥ {vmax:.0f}/255",
                     [list(labels), [None] * len(labels), [None] * len(labels)], ["before", "after", "|Δ|"])
    for j, (ax, parts) in enumerate(zip(fig.axes[2 * len(labels):], edited)):
        region = np.any([regions[p] for p in parts], axis=0)
        inside, outside = region_change(after[j:j + 1], before[j:j + 1], region)
        as_heat_map(ax, vmax, canvas, parts)
        ax.set_xlabel(f"in {inside[0]:.1f} · out {outside[0]:.1f}", fontsize=8)
    return fig


def timings_bar(trace, title: str = "Stage timings of this run"):
    """Horizontal bars of `trace.timings` (seconds per stage; cached stages are absent)."""
    names = list(trace.timings)
    secs = [trace.timings[n] for n in names]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(names) + 1.2))
    ax.barh(names, secs, color="tab:purple")
    for y, s in enumerate(secs):
        ax.text(s, y, f" {s * 1000:.0f} ms", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (CPU)")
    ax.set_ylabel("stage")
    ax.set_xlim(0, max(secs + [1e-3]) * 1.25)
    ax.set_title(f"{title} (total {sum(secs):.2f} s)")
    fig.tight_layout()
    return fig


def loss_curves(histories: dict, title: str = "Training losses", xlabel: str = "step", log: bool = False):
    """One panel per history: `histories` = {panel title: {loss name: list of values}}."""
    fig, axes = plt.subplots(1, len(histories), figsize=(4.5 * len(histories), 3.4), squeeze=False)
    for ax, (name, curves) in zip(axes[0], histories.items()):
        for label, values in curves.items():
            ax.plot(np.arange(1, len(values) + 1), values, label=label, marker="." if len(values) < 40 else None)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("loss")
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_log_figure(records: list, keys, smooth: int = 50, title: str = "Training losses"):
    """One panel per key of a training loss log (`records`: dicts with "step" and loss values,
    as `dsf.train.checkpoint.LossLog.read` returns them): the moving average over `smooth`
    steps (at most a fifth of the points), titled with its last, smallest and largest value."""
    fig, axes = plt.subplots(len(keys), 1, figsize=(6.4, 1.9 * len(keys) + 0.6), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        logged = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and np.isfinite(r[key])]
        steps, values = np.asarray(logged, np.float64).reshape(-1, 2).T
        ax.set_title(f"{key}: not logged", fontsize=9)
        if len(values):
            n = max(1, min(smooth, len(values) // 5))
            smoothed = np.convolve(values, np.ones(n) / n, mode="valid")
            ax.plot(steps[n - 1:], smoothed, color="tab:blue", lw=1)
            ax.set_title(f"{key}: last {smoothed[-1]:.4f}, min {smoothed.min():.4f}, max {smoothed.max():.4f}",
                         fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title} (moving average over up to {smooth} steps)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # keep 0.4 in for the suptitle
    return fig
