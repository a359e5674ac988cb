"""Print the issue-11 figures of several `python -m dsf evaluate` reports side by side.

    python tools/compare_reports.py docs/eval/report.json runs/eval_X/report.json ...
"""
import json
import sys

PARTS = ("eye1", "eye2", "nose", "mouth", "remainder")


def row(report: dict, method: str = "model r=0.5") -> dict:
    return next(r for r in report["rows"] if r["method"] == method and r["setting"] == "intact")


def figures(report: dict) -> dict:
    model = row(report)
    checks = report["checks"]
    diff = checks["removed_r=1_minus_r=0_l1"]
    return {
        "L1": f"{model['l1']['mean']:.4f}",
        "SSIM": f"{model['ssim']['mean']:.4f}",
        "identity top-1 / top-5": " / ".join(f"{100 * model['identity'][k]:.1f} %" for k in ("top1", "top5")),
        "locality": ", ".join(f"{report['locality'][p]['ratio']:.2f}" for p in PARTS),
        "refine inside /255": ", ".join(f"{report['refine_response'][p]['inside']['mean']:.1f}" for p in PARTS),
        "ink removed: L1 r1 - r0": f"{diff['mean']:+.4f} ± {diff['sem']:.4f}",
        "wins vs mean face on SSIM": f"{100 * checks['win_rate_vs_mean_face_ssim']:.0f} %",
    }


if __name__ == "__main__":
    reports = [(path, figures(json.load(open(path)))) for path in sys.argv[1:]]
    for key in reports[0][1]:
        print(f"{key:28s}" + "".join(f" | {f[key]:>32s}" for _, f in reports))
    print(" " * 28 + "".join(f" | {p[-32:]:>32s}" for p, _ in reports))
