"""Print the issue-11 figures of several `python -m dsf evaluate` reports side by side.

    python tools/compare_reports.py docs/eval/report.json runs/eval_X/report.json ...

Where each report's `per_image.npz` lies beside it, L1, SSIM and the identity ranks are also
compared sketch by sketch with the first report's (same sketches): the mean difference (of
log ranks: log(rank / first's rank)) ± its standard error, so a change can be told from noise —
identity by the grey signature and, where both reports have it, by the edge signature no model
trains on.
"""
import json
import sys
from pathlib import Path

import numpy as np

PARTS = ("eye1", "eye2", "nose", "mouth", "remainder")
MODEL = "model r=0.5"


def row(report: dict, method: str = MODEL) -> dict:
    return next(r for r in report["rows"] if r["method"] == method and r["setting"] == "intact")


def figures(report: dict) -> dict:
    model = row(report)
    checks = report["checks"]
    diff = checks["removed_r=1_minus_r=0_l1"]
    identity, edges = model["identity"], model.get("identity_edges")
    return {
        "L1": f"{model['l1']['mean']:.4f}",
        "SSIM": f"{model['ssim']['mean']:.4f}",
        "L1 at the photo's mean colour (oracle)": f"{model['l1_photo_colour']['mean']:.4f}"
                                                  if "l1_photo_colour" in model else "not measured",
        "chroma L1 (colour cast)": f"{model['l1_chroma']['mean']:.4f}" if "l1_chroma" in model else "not measured",
        "identity top-1 / top-5": " / ".join(f"{100 * identity[k]:.1f} %" for k in ("top1", "top5")),
        "identity median rank": f"{identity['median_rank']:.1f} of {identity['gallery']}",
        "identity (edges) top-5, median": f"{100 * edges['top5']:.1f} %, {edges['median_rank']:.1f}" if edges
                                          else "not measured",
        "locality": per_part(report, "locality", lambda m: f"{m['ratio']:.2f}"),
        "refine inside /255": per_part(report, "refine_response", lambda m: f"{m['inside']['mean']:.1f}"),
        "ink removed: L1 r1 - r0": f"{diff['mean']:+.4f} ± {diff['sem']:.4f}",
        "wins vs mean face on SSIM": f"{100 * checks['win_rate_vs_mean_face_ssim']:.0f} %",
    }


def per_part(report: dict, section: str, fmt) -> str:
    """One figure per part, or "not measured" (an evaluation run with --no-effects)."""
    if section not in report:
        return "not measured"
    return ", ".join(fmt(report[section][p]) for p in PARTS)


PAIRED = (("l1", False, "L1 − first's, per sketch"), ("ssim", False, "SSIM − first's, per sketch"),
          ("l1_chroma", False, "chroma L1 − first's, per sketch"),
          ("rank", True, "identity log(rank/first's)"), ("rank_edges", True, "identity (edges) log(rank/first's)"))
"""(per-image metric, compared as logs?, row name) of the sketch-by-sketch rows."""


def paired_difference(first: dict, other: dict, metric: str, log: bool) -> str:
    """mean (other − first) over the same sketches ± SE, of log values where `log` (ranks:
    negative means the true photo ranks higher in `other`), and the mean in SEs (the campaign's
    rule reads changes beyond 2 SE as real)."""
    if not np.array_equal(first["ids"], other["ids"]):
        return "other sketches"
    key = f"{metric}/{MODEL}/intact"
    if key not in first or key not in other:
        return "not measured"
    f = np.log if log else np.asarray
    d = f(other[key]) - f(first[key])
    digits, se = 3 if log else 4, d.std(ddof=1) / np.sqrt(len(d))
    in_se = f" ({d.mean() / se:+.1f} SE)" if se > 1e-9 else ""  # not for rounding noise
    return f"{d.mean():+.{digits}f} ± {se:.{digits}f}{in_se}"


def per_image(report_path: str):
    """The report's per-image values, each intact row put in sketch order: a report keeps them in
    processing order ("positions/intact"), which differs between evaluations run with other
    options (the robustness subset goes first), so rows are matched by sketch, not by place."""
    path = Path(report_path).with_name("per_image.npz")
    if not path.is_file():
        return None
    arrays = dict(np.load(path))
    if "positions/intact" in arrays:
        order = np.argsort(arrays["positions/intact"], kind="stable")
        arrays = {k: v[order] if k.endswith("/intact") else v for k, v in arrays.items()}
    return arrays


if __name__ == "__main__":
    reports = [(path, figures(json.load(open(path)))) for path in sys.argv[1:]]
    images = [per_image(path) for path, _ in reports]
    if images[0] is not None:
        for (_, f), other in zip(reports, images):
            for metric, log, name in PAIRED:
                f[name] = paired_difference(images[0], other, metric, log) if other is not None else "no per_image.npz"
    width = max(map(len, reports[0][1]))
    for key in reports[0][1]:
        print(f"{key:{width}s}" + "".join(f" | {f[key]:>32s}" for _, f in reports))
    print(" " * width + "".join(f" | {p[-32:]:>32s}" for p, _ in reports))
