"""tools/compare_reports.py: issue 11's figures side by side, identity compared sketch by sketch."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("eye1", "eye2", "nose", "mouth", "remainder")


def _write_report(folder: Path, ranks, effects: bool = True, edge_ranks=None, l1s=None, positions=None) -> Path:
    """A minimal report; `positions`: the processing order its per-image rows are kept in (rows
    given in sketch order are stored in that order)."""
    folder.mkdir()
    stat = {"mean": 0.2, "sem": 0.001}
    model = {"method": "model r=0.5", "setting": "intact", "l1": stat, "ssim": stat,
             "identity": {"top1": 0.1, "top5": 0.2, "median_rank": float(np.median(ranks)), "gallery": len(ranks)}}
    report = {"rows": [model], "checks": {"removed_r=1_minus_r=0_l1": {"mean": -0.003, "sem": 0.001},
                                          "win_rate_vs_mean_face_ssim": 0.4}}
    if edge_ranks is not None:
        model["identity_edges"] = {"top1": 0.1, "top5": 0.3, "median_rank": float(np.median(edge_ranks)),
                                   "gallery": len(edge_ranks)}
    if effects:
        report["locality"] = {p: {"ratio": 3.0} for p in PARTS}
        report["refine_response"] = {p: {"inside": {"mean": 8.0}} for p in PARTS}
    (folder / "report.json").write_text(json.dumps(report))
    rows = np.arange(len(ranks)) if positions is None else np.asarray(positions)
    np.savez(folder / "per_image.npz", ids=np.arange(len(ranks)).astype(str), **{"positions/intact": rows},
             **{"rank/model r=0.5/intact": np.asarray(ranks, float)[rows]},
             **({} if edge_ranks is None else {"rank_edges/model r=0.5/intact": np.asarray(edge_ranks, float)[rows]}),
             **({} if l1s is None else {"l1/model r=0.5/intact": np.asarray(l1s, float)[rows]}))
    return folder / "report.json"


def _compare(*reports) -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "compare_reports.py"), *map(str, reports)],
                         capture_output=True, text=True, check=True).stdout
    return {line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]] for line in out.splitlines()}


def test_identity_ranks_are_compared_sketch_by_sketch(tmp_path):
    ranks = np.array([1, 3, 7, 20, 100])
    first = _write_report(tmp_path / "a", ranks)
    worse = _write_report(tmp_path / "b", ranks * np.e, effects=False)
    table = _compare(first, worse)
    assert table["identity log(rank/first's)"] == ["+0.000 ± 0.000", "+1.000 ± 0.000"]
    assert table["identity median rank"][0] == "7.0 of 5"
    assert table["locality"] == ["3.00, 3.00, 3.00, 3.00, 3.00", "not measured"]
    assert table["identity (edges) log(rank/first's)"] == ["not measured", "not measured"]  # older reports


def test_edge_identity_is_compared_where_both_reports_have_it(tmp_path):
    ranks = np.array([1, 3, 7, 20, 100])
    first = _write_report(tmp_path / "a", ranks, edge_ranks=ranks)
    better = _write_report(tmp_path / "b", ranks, edge_ranks=ranks / np.e)
    table = _compare(first, better, _write_report(tmp_path / "c", ranks))
    assert table["identity (edges) log(rank/first's)"] == ["+0.000 ± 0.000", "-1.000 ± 0.000", "not measured"]
    assert table["identity (edges) top-5, median"] == ["30.0 %, 7.0", "30.0 %, 2.6", "not measured"]


def test_l1_is_compared_sketch_by_sketch(tmp_path):
    ranks, l1s = np.array([1, 3, 7, 20, 100]), np.array([0.10, 0.20, 0.15, 0.30, 0.25])
    first = _write_report(tmp_path / "a", ranks, l1s=l1s)
    shifted = _write_report(tmp_path / "b", ranks, l1s=l1s + np.array([0.01, 0.02, 0.01, 0.02, 0.01]))
    table = _compare(first, shifted, _write_report(tmp_path / "c", ranks))
    assert table["L1 − first's, per sketch"] == ["+0.0000 ± 0.0000", "+0.0140 ± 0.0024 (+5.7 SE)", "not measured"]
    assert table["SSIM − first's, per sketch"] == ["not measured"] * 3


def test_rows_are_matched_by_sketch_not_by_processing_order(tmp_path):
    ranks, l1s = np.array([1, 3, 7, 20, 100]), np.array([0.10, 0.20, 0.15, 0.30, 0.25])
    first = _write_report(tmp_path / "a", ranks, l1s=l1s)
    reordered = _write_report(tmp_path / "b", ranks, l1s=l1s, positions=[3, 0, 4, 1, 2])  # same faces
    table = _compare(first, reordered)
    assert table["L1 − first's, per sketch"] == ["+0.0000 ± 0.0000"] * 2
    assert table["identity log(rank/first's)"] == ["+0.000 ± 0.000"] * 2


def _judged_report(folder: Path, l1s, edge_ranks, locality: float | None = 3.6, ssim: float = 0.47,
                   grey_ranks=None, top5: float = 0.2, refine: float = 9.0) -> Path:
    """A report with what the shipping rule reads: per-sketch L1, SSIM, chroma L1, both identity
    ranks (grey by default 10 ± 5) and the robustness rows, the locality ratios (None: not
    measured), the refine response and the checks."""
    folder.mkdir()
    n, stat = len(l1s), {"mean": float(np.mean(l1s)), "sem": 0.001}
    model = {"method": "model r=0.5", "setting": "intact", "l1": stat, "ssim": {"mean": ssim, "sem": 0.001},
             "identity": {"top1": 0.1, "top5": top5, "median_rank": 5.0, "gallery": n},
             "identity_edges": {"top1": 0.1, "top5": 0.3, "median_rank": 5.0, "gallery": n}}
    report = {"rows": [model], "checks": {"removed_r=1_minus_r=0_l1": {"mean": -0.005, "sem": 0.001},
                                          "win_rate_vs_mean_face_ssim": 0.9}, "n_robust": n}
    if locality is not None:
        report["locality"] = {p: {"ratio": locality} for p in PARTS}
        report["refine_response"] = {p: {"inside": {"mean": refine}} for p in PARTS}
    else:  # a light evaluation: no effects, one sketch with strokes removed
        report["n_robust"] = 1
    (folder / "report.json").write_text(json.dumps(report))
    wobble = np.linspace(-1, 1, n)  # per-sketch spread, so each paired difference has an SE
    arrays = {"l1": np.asarray(l1s, float), "ssim": ssim + 0.01 * wobble, "l1_chroma": 0.04 + 0.001 * wobble,
              "rank": 10 + 5 * wobble if grey_ranks is None else np.asarray(grey_ranks, float),
              "rank_edges": np.asarray(edge_ranks, float)}
    np.savez(folder / "per_image.npz", ids=np.arange(n).astype(str), **{"positions/intact": np.arange(n)},
             **{f"{k}/model r=0.5/intact": v for k, v in arrays.items()},
             **{f"l1/model r={r}/strokes_removed": np.asarray(l1s, float) - 0.005 * r for r in (0, 1)},
             **{"positions/strokes_removed": np.arange(n)})
    return folder / "report.json"


def _rule(*reports, options=()) -> list[str]:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "compare_reports.py"), "--rule", *options, *map(str, reports)],
                         capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.split("\nrule: ")[1].splitlines()[1:]]


def _has(lines: list[str], start: str) -> bool:
    """Whether a gate line starts with `start` (threshold gates end with what they measured)."""
    return any(line.startswith(start) for line in lines)


def test_rule_ships_a_small_cost_inside_the_margins_for_a_real_gain(tmp_path):
    rng = np.random.default_rng(0)
    l1s, ranks = 0.17 + 0.02 * rng.random(200), rng.integers(1, 100, 200).astype(float)
    shipped = _judged_report(tmp_path / "a", l1s, ranks)
    candidate = _judged_report(tmp_path / "b", l1s + 0.0005 + 0.0002 * rng.standard_normal(200), ranks * 0.8,
                               locality=3.5)
    lines = _rule(shipped, candidate)
    assert lines[-1] == "verdict: passes"
    assert "gains: edge identity" in lines[-2]


def test_rule_fails_a_cost_beyond_the_margin_however_large_the_gain(tmp_path):
    rng = np.random.default_rng(0)
    l1s, ranks = 0.17 + 0.02 * rng.random(200), rng.integers(1, 100, 200).astype(float)
    shipped = _judged_report(tmp_path / "a", l1s, ranks)
    candidate = _judged_report(tmp_path / "b", l1s + 0.003, ranks * 0.5)
    lines = _rule(shipped, candidate)
    assert _has(lines, "FAILS: L1 within +0.0018") and lines[-1] == "verdict: fails"


def test_rule_will_not_judge_a_light_evaluation(tmp_path):
    rng = np.random.default_rng(0)
    l1s, ranks = 0.17 + 0.02 * rng.random(200), rng.integers(1, 100, 200).astype(float)
    lines = _rule(_judged_report(tmp_path / "a", l1s, ranks), _judged_report(tmp_path / "b", l1s, ranks * 0.8, locality=None))
    assert "not measured: every part's locality ≥ 3.0" in lines
    assert "not measured: robustness: refine 1 beats 0 by ≥ 2 SE" in lines
    assert lines[-1] == "verdict: cannot be judged (a gate is not measured)"


def test_rule_counts_the_margins_from_an_earlier_model_when_asked(tmp_path):
    """Two ships each inside the margin must not add up past it: counted from the earlier model,
    the second's cost is the sum of both."""
    rng = np.random.default_rng(0)
    l1s, ranks = 0.17 + 0.02 * rng.random(200), rng.integers(1, 100, 200).astype(float)
    earlier = _judged_report(tmp_path / "a", l1s, ranks)
    shipped = _judged_report(tmp_path / "b", l1s + 0.0012, ranks * 0.8)
    candidate = _judged_report(tmp_path / "c", l1s + 0.0024, ranks * 0.6)
    assert _rule(shipped, candidate)[-1] == "verdict: passes"
    lines = _rule(shipped, candidate, options=["--margins-from", earlier])
    assert _has(lines, "FAILS: L1 within +0.0018") and lines[-1] == "verdict: fails"


def test_identity_trade_ships_an_ssim_cost_past_the_margin_only_for_the_issues_identity(tmp_path):
    """--identity-trade: SSIM may fall past the 1 % margin (not below 0.46) and L1 rise by up to
    0.005, when grey top-5 reaches 28.8 % and the grey rank improves beyond 2 SE."""
    rng = np.random.default_rng(0)
    l1s, ranks = 0.17 + 0.02 * rng.random(200), rng.integers(1, 100, 200).astype(float)
    shipped = _judged_report(tmp_path / "a", l1s, ranks, grey_ranks=ranks)
    edges = np.maximum(1, ranks + rng.integers(-2, 3, 200))  # about the same, with a spread
    costly = dict(l1s=l1s + 0.003 + 0.0002 * rng.standard_normal(200), edge_ranks=edges, ssim=0.465,
                  grey_ranks=ranks * 0.7)
    candidate = _judged_report(tmp_path / "b", **costly, top5=0.30)
    assert _rule(shipped, candidate)[-1] == "verdict: fails"
    lines = _rule(shipped, candidate, options=["--identity-trade"])
    assert _has(lines, "ok: grey top-5 ≥ 28.8 % and grey identity better beyond 2 SE (measured: 30.00 %") and lines[-1] == "verdict: passes"
    short = _judged_report(tmp_path / "c", **costly, top5=0.28)
    assert _rule(shipped, short, options=["--identity-trade"])[-1] == "verdict: fails"


def test_identity_trade_still_bounds_l1_ssim_and_refine(tmp_path):
    rng = np.random.default_rng(0)
    l1s, ranks = 0.17 + 0.02 * rng.random(200), rng.integers(1, 100, 200).astype(float)
    shipped = _judged_report(tmp_path / "a", l1s, ranks, grey_ranks=ranks)
    gain = dict(edge_ranks=np.maximum(1, ranks + rng.integers(-2, 3, 200)), grey_ranks=ranks * 0.7, top5=0.30)
    for name, bad, failed in (("l1", dict(l1s=l1s + 0.006), "FAILS: L1 within +0.0050"),
                              ("ssim", dict(l1s=l1s, ssim=0.455), "FAILS: SSIM ≥ 0.46"),
                              ("refine", dict(l1s=l1s, refine=7.5), "FAILS: refine's mean window change ≥ 8/255")):
        lines = _rule(shipped, _judged_report(tmp_path / name, **gain, **bad), options=["--identity-trade"])
        assert _has(lines, failed) and lines[-1] == "verdict: fails"


def test_a_missing_or_broken_report_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    for bad in (tmp_path / "nowhere.json", tmp_path / "broken.json"):
        res = subprocess.run([sys.executable, str(ROOT / "tools" / "compare_reports.py"), str(bad)],
                             capture_output=True, text=True)
        assert res.returncode == 1 and str(bad) in res.stderr and "Traceback" not in res.stderr
