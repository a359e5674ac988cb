"""`report.md`: the report dict as markdown tables, one function per section."""
from __future__ import annotations

from ..config import PARTS
from .strokes import TILES

FIGURES = ("grid_test", "grid_robustness", "grid_baselines", "locality", "refine_response")


def setting_titles(rep: dict) -> dict:
    """Row labels of the two sketch settings."""
    pct = round(100 * rep["drop_fraction"])
    removed = f"≤{pct}% ink removed" if rep.get("removal", "ink") == "ink" else f"{pct}% strokes removed"
    return {"intact": "intact", "strokes_removed": removed}


def _fmt(stat: dict, digits: int = 4) -> str:
    return f"{stat['mean']:.{digits}f} ± {stat['sem']:.{digits}f}"


def _rate(x) -> str:
    return "not measured" if x is None else f"{100 * x:.1f} %"


def _coverage(rep: dict) -> tuple[str, str]:
    """How many sketches each part covered, when a limit or the time budget cut it."""
    limit = "" if rep["limit"] is None else f", --limit {rep['limit']}"
    if rep["n"] < rep["n_planned"]:
        limit += (f"; time budget of {rep['max_minutes']} min reached after {rep['n']} of {rep['n_planned']} "
                  f"planned, taken in a fixed shuffled order")
    budget = "" if rep["n_robust"] == rep["n_robust_planned"] else \
        (f" (time budget of {rep['max_minutes']} min reached; {rep['n_robust_planned']} planned, "
         f"taken in a fixed shuffled order)")
    return limit, budget


def removal_line(rep: dict, budget: str) -> str:
    """How the incomplete sketches were made, and how much ink they lost."""
    ink, pct = rep["ink_removed"], round(100 * rep["drop_fraction"])
    how = (f"8-connected strokes, cut into one piece per tile of a grid of {TILES}×{TILES} tiles, removed in a random order while "
           f"at most {pct} % of the sketch's ink pixels are gone (a piece that would overshoot is skipped)"
           if rep.get("removal", "ink") == "ink" else
           f"{pct} % of each sketch's 8-connected strokes (strokes are connected components: one dark hair mass "
           f"can be one \"stroke\")")
    return (f"- incomplete sketches: {how}; seed {rep['seed']} (per-sketch generator), on {rep['n_robust']} of "
            f"the {rep['n']} sketches{budget}; ink pixels removed per sketch: mean {100 * ink['mean']:.0f} %, "
            f"median {100 * ink['median']:.0f} %, 10–90 % range {100 * ink['p10']:.0f}–{100 * ink['p90']:.0f} %, "
            f"over half the ink in {100 * ink['over_half']:.0f} % of sketches")


def header(rep: dict) -> list:
    """Report lines: title, what was evaluated and how each metric is defined."""
    limit, budget = _coverage(rep)
    ssim = rep["metrics"]["ssim"]
    return [
        f"# Evaluation: {rep['model']} on the {rep['split']} split", "",
        f"- parameters: `{rep['params']}`; data: `{rep['data']}`; split: `{rep['split']}` "
        f"({rep['n']} of {rep['n_available']} sketches{limit})",
        f"- date: {rep['date']}; canvas {rep['canvas']}²; projection k = {rep['k']}, solver `{rep['solver']}`, "
        f"bank of {rep['bank_size']} training faces; mean face over {rep['n_train_photos']} training photos",
        f"- L1: {rep['metrics']['l1']} (lower is better). SSIM: Gaussian window {ssim['window']}×{ssim['window']}, "
        f"σ = {ssim['sigma']}, K1 = {ssim['k1']}, K2 = {ssim['k2']}, per RGB channel and averaged, valid positions "
        f"(higher is better). Values: mean ± standard error over images."
        + (f" L1 at the photo's mean colour: {rep['metrics']['l1_photo_colour']}."
           if "l1_photo_colour" in rep["metrics"] else "")
        + (f" Chroma L1: {rep['metrics']['l1_chroma']}." if "l1_chroma" in rep["metrics"] else ""),
        f"- face rate: {rep['metrics']['face_rate']['detector']}, images upscaled to "
        f"{rep['metrics']['face_rate']['input_size']}²; on the real test photos: "
        f"{_rate(rep['face_rate_real_photos'])}",
        f"- NN retrieval: {rep['nn_retrieval']}",
        removal_line(rep, budget), "",
    ]


def score_table(rep: dict) -> list:
    """Report lines: L1 / SSIM / face rate per method and sketch setting."""
    titles = setting_titles(rep)
    lines = ["| method | sketch | L1 ↓ | SSIM ↑ | face rate ↑ | n | L1 at the photo's mean colour (oracle) ↓ "
             "| chroma L1 ↓ |", "|---|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        oracle = _fmt(r["l1_photo_colour"]) if "l1_photo_colour" in r else "—"
        chroma = _fmt(r["l1_chroma"]) if "l1_chroma" in r else "—"
        lines.append(f"| {r['method']} | {titles[r['setting']]} | {_fmt(r['l1'])} | {_fmt(r['ssim'])} | "
                     f"{_rate(r['face_rate'])} | {r['n']} | {oracle} | {chroma} |")
    return lines


def checks(rep: dict) -> list:
    """Report lines: the pass/fail checks against the baselines and for robustness."""
    lines = ["", "## Checks (intact sketches, model at r = 0.5; incomplete sketches for the robustness lines)", ""]
    for k, v in rep["checks"].items():
        if isinstance(v, dict):
            v = _fmt(v)
        lines.append(f"- {k}: {v if not isinstance(v, float) else f'{v:.3f}'}")
    return lines


def robustness(rep: dict) -> list:
    """Report lines: the robustness section (the same sketches intact and with ink removed)."""
    lines = ["", f"## Robustness: the same {rep['n_robust']} sketches intact and "
             f"{setting_titles(rep)['strokes_removed']}", "",
             "| method | L1 intact | L1 removed | Δ L1 (+ = worse) | SSIM intact | SSIM removed | "
             "Δ SSIM (− = worse) | Δ face rate |", "|---|---|---|---|---|---|---|---|"]
    for k, v in rep["robustness"].items():
        dface = "—" if v["face_rate_change"] is None else f"{100 * v['face_rate_change']:+.1f} pts"
        lines.append(f"| {k} | {v['l1_intact']:.4f} | {v['l1_removed']:.4f} | {v['l1_change']:+.4f} ± "
                     f"{v['l1_change_sem']:.4f} | {v['ssim_intact']:.4f} | {v['ssim_removed']:.4f} | "
                     f"{v['ssim_change']:+.4f} ± {v['ssim_change_sem']:.4f} | {dface} |")
    return lines + paired_refine_lines(rep)


def paired_refine_lines(rep: dict) -> list:
    """Highest minus lowest refine on the incomplete sketches, paired per sketch."""
    checks = rep["checks"]
    keys = [k for k in checks if k.startswith("removed_") and isinstance(checks[k], dict)]
    lines = [""] if keys else []
    for k in keys:
        pair, metric = k.rsplit("_", 1)
        hi, lo = pair[len("removed_"):].split("_minus_")
        verdict = checks[k.replace("_minus_", "_beats_") + "_by_2se"]
        lines.append(f"- {setting_titles(rep)['strokes_removed']}, {hi} − {lo}, {metric.upper()}: "
                     f"{_fmt(checks[k])} (paired; {hi} beats {lo} by ≥ 2 standard errors: "
                     f"{'yes' if verdict else 'no'})")
    return lines


def identity(rep: dict) -> list:
    """Report lines: the identity section (rank of the true photo among the test photos)."""
    chance, titles = rep["identity_chance"], setting_titles(rep)
    gallery = rep["rows"][0]["identity"]["gallery"]
    lines = ["", f"## Identity: is the true photo the most similar of the {gallery} test photos?", "",
             f"Similarity: {rep['metrics']['identity']}.", "",
             f"Edges: {rep['metrics']['identity_edges']}.", "",
             "| method | sketch | top-1 ↑ | top-5 ↑ | median rank ↓ | edges: top-1 ↑ | top-5 ↑ | median rank ↓ | n |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| chance | — | {_ranks(chance, gallery)} | {_ranks(chance, gallery)} | — |"]
    for r in rep["rows"]:
        lines.append(f"| {r['method']} | {titles[r['setting']]} | {_ranks(r['identity'])} | "
                     f"{_ranks(r['identity_edges'])} | {r['n']} |")
    return lines


def _ranks(ident: dict, gallery: int | None = None) -> str:
    """'top-1 | top-5 | median rank' cells; chance (given its gallery) has the middle rank."""
    median = (gallery + 1) / 2 if gallery else ident["median_rank"]
    return f"{100 * ident['top1']:.2f} % | {100 * ident['top5']:.2f} % | {median:.0f}"


def region_table(title: str, definition: str, parts: dict) -> list:
    """Locality or refine response: inside / outside / ratio per part."""
    lines = ["", f"## {title}", "", definition + ".", "",
             "| part | inside (/255) | outside (/255) | inside / outside | n |", "|---|---|---|---|---|"]
    for p in PARTS:
        v = parts[p]
        lines.append(f"| {p} | {_fmt(v['inside'], 2)} | {_fmt(v['outside'], 2)} | {v['ratio']:.2f} | {v['n']} |")
    return lines


def effects(rep: dict) -> list:
    """Report lines: the locality, refine-response and stage-1 sections (none when not measured)."""
    if "locality" not in rep:
        return []
    m = rep["metrics"]
    lines = region_table(f"Locality ({rep['effect_pairs']} pairs of test sketches, refine 0.5)", m["locality"],
                         rep["locality"])
    lines += region_table(f"Refine response ({rep['effect_pairs']} test sketches)", m["refine_response"],
                          rep["refine_response"])
    lines += ["", f"Regions: {m['regions']}.", "", "## Stage-1 reconstruction (held-out sketches)", "",
              f"{m['reconstruction']}.", "", "| part | L1 ↓ | ink Dice ↑ | n |", "|---|---|---|---|"]
    for p in PARTS:
        v = rep["reconstruction"][p]
        lines.append(f"| {p} | {_fmt(v['l1'])} | {_fmt(v['ink_dice'], 3)} | {v['n']} |")
    return lines


def figures(rep: dict) -> list:
    """Report lines: the figures written beside the report."""
    lines = ["", "## Figures", ""] if rep["files"] else []
    for name in FIGURES:
        if name in rep["files"]:
            lines += [f"![{name}]({rep['files'][name]})", ""]
    for c in rep["files"].get("curves", []):
        lines += [f"![training curves]({c})", ""]
    return lines


def markdown(rep: dict) -> str:
    """The whole report as markdown."""
    lines = header(rep) + score_table(rep) + checks(rep) + robustness(rep) + identity(rep) + effects(rep) \
        + figures(rep)
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v}" for k, v in rep["timings_s"].items()),
              "", f"Peak resident memory: {rep['peak_rss_gb']} GiB (synthesis threads: {rep['threads']}, "
                  f"batch: {rep['batch']}).", ""]
    return "\n".join(lines)
