"""The report's figures, drawn with `dsf.viz` (the kit's one plotting path).

grid_test: 12 test sketches and their faces at the main refine; grid_robustness: intact vs
incomplete sketches, faces at every refine; grid_baselines: sketch, real photo, mean face,
NN retrieval, model; locality: a face, the face with one part swapped in from another sketch,
and |Δ| with the part's window outlined; refine_response: one part at refine 0 and 1, and |Δ|.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..viz import as_heat_map, change_map, image_grid, save_figure
from .effects import EXAMPLES
from .scoring import model_key

MAX_PNG_BYTES = 550_000
"""Figures above this size are re-saved with a 256-colour palette (the docs keep PNGs small)."""
FIGURE_PARTS = ("mouth", "eye1")
"""Parts shown in the locality and refine-response figures."""


def save(fig, path: Path) -> str:
    """Save (a palette PNG when large), close, and return the file name."""
    return save_figure(fig, path, dpi=110, close=True, max_bytes=MAX_PNG_BYTES).name


def grid(images, row_labels, col_labels, title):
    """Rows of images with column titles on the first row and row labels on the left."""
    titles = [list(col_labels)] + [[None] * len(col_labels)] * (len(images) - 1)
    return image_grid(images, title, titles, row_labels)


def grid_test(ev, plan, shown, key):
    """4 rows of 3 (sketch, face) pairs, each sketch titled with its id."""
    pos = [int(p) for p in plan.grid]
    face = key.replace("model ", "face, ")
    images = [[None] * 6 for _ in range(4)]
    titles = [[None] * 6 for _ in range(4)]
    for k, p in enumerate(pos[:12]):
        r, c = divmod(2 * k, 6)
        images[r][c:c + 2] = [ev.sketches[p], shown[(key, "intact")][p]]
        titles[r][c:c + 2] = [ev.ids[p][-22:], face]
    return image_grid(images, f"Held-out test sketches and their faces ({key.replace('model ', '')})", titles,
                      fontsize=7)


def grid_robustness(ev, plan, shown, refines, titles):
    """Grid: each sketch intact and with ink removed, and the faces at each refine."""
    rob = [int(p) for p in plan.robust_grid if int(p) in shown.get((model_key(refines[0]), "strokes_removed"), {})]
    removed = dict(zip(ev.sets["strokes_removed"].positions.tolist(), ev.sets["strokes_removed"].sketches))
    keys = [model_key(r) for r in refines]
    images = [[ev.sketches[p]] + [shown[(k, "intact")][p] for k in keys]
              + [removed[p]] + [shown[(k, "strokes_removed")][p] for k in keys] for p in rob]
    cols = ["sketch, intact"] + [k.replace("model ", "") for k in keys] \
        + [f"sketch, {titles['strokes_removed']}"] + [k.replace("model ", "") for k in keys]
    return grid(images, [ev.ids[p][-16:] for p in rob], cols,
                f"Robustness: intact sketch vs {titles['strokes_removed']}; faces at each refine")


def grid_baselines(ev, plan, shown, mean_u8, key):
    """Grid: sketch, real photo, mean face, NN retrieval and the model, for six test sketches."""
    base = [int(p) for p in plan.grid[:: max(1, len(plan.grid) // 6)][:6]]
    has_nn = ("NN retrieval", "intact") in shown
    cols = ["sketch", "real photo", "mean face"] + (["NN retrieval"] if has_nn else []) \
        + [key.replace("model", "model,")]
    images = [[ev.sketches[p], ev.photos[p], mean_u8] + ([shown[("NN retrieval", "intact")][p]] if has_nn else [])
              + [shown[(key, "intact")][p]] for p in base]
    return grid(images, [ev.ids[p][-16:] for p in base], cols, "Baselines vs the model")


def heat_figure(rows, row_labels, cols, heat_columns, canvas, title):
    """A grid whose |Δ| columns share one colour scale (its top shown in the title)."""
    heats = [rows[r][c] for r in range(len(rows)) for c in heat_columns]
    vmax = max(1.0, float(np.percentile(np.stack(heats), 99.5)))
    fig = grid(rows, row_labels, cols, f"{title}\n|Δ| colour scale: black 0 … yellow ≥ {vmax:.0f}/255")
    for i, ax in enumerate(fig.axes):
        if i % len(cols) in heat_columns:
            as_heat_map(ax, vmax, canvas, [heat_columns[i % len(cols)]])
    return fig


def locality_figure(ev, effects, canvas):
    """Figure: a face, and for each part the face with that part swapped in and the |Δ| heat map."""
    ex, pairs = effects["locality"]["examples"], effects["pairs"]
    rows, cols, heat = [], ["face (sketch a)"], {}
    for part in FIGURE_PARTS:
        heat[len(cols) + 1] = part
        cols += [f"{part} from sketch b", f"|Δ| ({part} window)"]
    for i in range(min(EXAMPLES, len(ex["face"]))):
        row = [ex["face"][i]]
        for part in FIGURE_PARTS:
            row += [ex["swapped"][part][i], change_map(ex["swapped"][part][i], ex["face"][i])]
        rows.append(row)
    labels = [f"a {ev.ids[a][-16:]}\nb {ev.ids[b][-16:]}" for a, b in zip(pairs["a"], pairs["b"])][:len(rows)]
    return heat_figure(rows, labels, cols, heat, canvas, "Locality: one part's latent swapped in from another sketch")


def refine_figure(ev, effects, canvas):
    """Figure: for each part, the face at refine 0 and 1 of that part only and the |Δ| heat map."""
    ex, a = effects["refine_response"]["examples"], effects["pairs"]["a"]
    rows, cols, heat = [], ["sketch"], {}
    for part in FIGURE_PARTS:
        heat[len(cols) + 2] = part
        cols += [f"{part} r=0", f"{part} r=1", f"|Δ| ({part} window)"]
    for i in range(min(EXAMPLES, len(ex[FIGURE_PARTS[0]][0]))):
        row = [ev.sketches[a[i]]]
        for part in FIGURE_PARTS:
            r0, r1 = ex[part][0][i], ex[part][1][i]
            row += [r0, r1, change_map(r1, r0)]
        rows.append(row)
    return heat_figure(rows, [ev.ids[p][-16:] for p in a[:len(rows)]], cols, heat, canvas,
                       "Refine response: one part from refine 0 to 1, the others at 0.5")


def write_figures(out: Path, ev, plan, scorer, mean_u8, refines, key, titles) -> dict:
    """Every figure into `out`; returns figure name → file name. titles: setting → label."""
    shown = scorer.shown
    files = {"grid_test": save(grid_test(ev, plan, shown, key), out / "grid_test.png"),
             "grid_robustness": save(grid_robustness(ev, plan, shown, refines, titles), out / "grid_robustness.png"),
             "grid_baselines": save(grid_baselines(ev, plan, shown, mean_u8, key), out / "grid_baselines.png")}
    if ev.effects is not None:
        canvas = ev.photos.shape[1]
        files["locality"] = save(locality_figure(ev, ev.effects, canvas), out / "locality.png")
        files["refine_response"] = save(refine_figure(ev, ev.effects, canvas), out / "refine_response.png")
    return files
