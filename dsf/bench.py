"""Speed and memory benchmark: `python -m dsf.bench [--preset NAME ...] [--params DIR] [--repeat N]`.

For each model it reports, as medians over `--repeat` runs after a warm-up: every stage,
the whole sketch → face run (shadows off), an update where only one part's refine changed,
a 5×5 refine grid through the batched call, the generator alone, the shadow, the sketch pad's
stroke → face latency (`dsf.pad_controller.benchmark_stroke_latency`, median over `--strokes`
strokes, debounce and shadow included), model load time, and peak resident memory. Each model is measured in its own subprocess so peak RSS is
its own. Random weights are fine for timing (`--preset`); `--params` times a real folder.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

RELEASED_ANCHOR = {  # the released code on this 2-core CPU, published parameters (issue 2)
    "end_to_end_s": 8.3, "load_s": 6.9, "peak_rss_gb": 4.8,
}
RELEASED_BANK_ROWS = 6247 + 11456


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up: Jittor compiles each new op shape once
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _random_pipeline(preset_name: str):
    from ._jittor import jt

    from .config import PARTS, preset
    from .manifold import Bank
    from .networks import build_networks
    from .pipeline import Pipeline

    cfg = preset(preset_name)
    jt.set_global_seed(0)
    rng = np.random.default_rng(0)
    rows = RELEASED_BANK_ROWS
    sex = np.where(np.arange(rows) < 6247, "male", "female")
    banks = {p: Bank(rng.standard_normal((rows, cfg.latent)).astype(np.float32), {"sex": sex}) for p in PARTS}
    return Pipeline(cfg, build_networks(cfg), banks)


def _test_sketch(canvas: int) -> np.ndarray:
    from .components import windows

    rng = np.random.default_rng(1)
    sketch = np.full((canvas, canvas), 255, np.uint8)
    for w in windows(canvas).values():  # a few strokes in every window
        for _ in range(6):
            y = rng.integers(w.y, w.y + w.size)
            x0 = rng.integers(w.x, w.x + w.size // 2)
            sketch[y, x0 : x0 + w.size // 3] = 0
    return sketch


def measure(preset_name: str | None, params: str | None, repeat: int, strokes: int = 10) -> dict:
    """Measure one model in this process; returns a dict of seconds (and GB for memory)."""
    from .pipeline import load_pipeline

    t = time.perf_counter()
    pipe = load_pipeline(params) if params else _random_pipeline(preset_name)
    load_s = time.perf_counter() - t
    sketch = _test_sketch(pipe.config.canvas)
    trace = pipe.run(sketch)
    row = {"model": pipe.config.name if preset_name is None else preset_name, "canvas": pipe.config.canvas,
           "load_s": load_s}

    stage_runs = []
    for i in range(repeat):
        pipe.clear_cache()
        stage_runs.append(pipe.run(sketch, refine=0.5).timings)
    for stage in stage_runs[0]:
        row[f"{stage}_s"] = statistics.median(r[stage] for r in stage_runs)

    def end_to_end():
        pipe.clear_cache()
        pipe.run(sketch, refine=0.5)

    row["end_to_end_s"] = _median_time(end_to_end, repeat)
    flip = iter(np.tile([0.3, 0.7], 100))
    row["one_part_update_s"] = _median_time(lambda: pipe.run(sketch, refine={"mouth": next(flip)}), repeat)
    fused = pipe.fuse({p: pipe.decode_features(p, trace.blended[p]) for p in trace.blended})
    row["generator_s"] = _median_time(lambda: pipe.synthesize(fused), repeat)
    grid = [{"eye1": a, "eye2": a, "nose": b, "mouth": b, "remainder": 0.5}
            for a in np.linspace(0, 1, 5) for b in np.linspace(0, 1, 5)]
    row["grid_5x5_s"] = _median_time(lambda: pipe.run_batch(sketch, grid), max(1, repeat // 3))
    projection = [_median_time(lambda p=p: pipe.project(p, trace.latents[p], 0.5), repeat) for p in trace.latents]
    row["projection_per_part_ms"] = 1000 * statistics.median(projection)

    def shadow_from_scratch():  # the pipeline caches shadows per part: time the decoding too
        pipe.clear_cache()
        pipe.shadow({p: pipe.project(p, trace.latents[p])[0] for p in trace.latents})

    row["shadow_s"] = _median_time(shadow_from_scratch, max(1, repeat // 3))
    row["e2e_over_generator"] = row["end_to_end_s"] / row["generator_s"]
    if strokes:
        from .pad_controller import benchmark_stroke_latency

        row["stroke_to_face_s"] = benchmark_stroke_latency(pipe, n=strokes)["median_s"]
    row["peak_rss_gb"] = peak_rss_gb()
    return row


def format_table(rows: list[dict]) -> str:
    """The benchmark rows as one markdown table: a row per measure, a column per model."""
    keys = ["load_s", "encode_s", "project_s", "decode_features_s", "fuse_s", "synthesize_s", "end_to_end_s",
            "generator_s", "e2e_over_generator", "one_part_update_s", "grid_5x5_s", "projection_per_part_ms",
            "shadow_s", "stroke_to_face_s", "peak_rss_gb"]
    head = "| measure | " + " | ".join(f"{r['model']} ({r['canvas']}²)" for r in rows) + " | released code (published) |"
    lines = [head, "|" + "---|" * (len(rows) + 2)]
    for k in keys:
        anchor = RELEASED_ANCHOR.get(k)
        cells = [f"{r[k]:.3f}" if k in r else "–" for r in rows]
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {anchor if anchor is not None else '–'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dsf.bench", description=__doc__.splitlines()[0])
    p.add_argument("--preset", action="append", help="preset(s) with random weights (default: published, compact128)")
    p.add_argument("--params", action="append", default=[], help="parameter folder(s) to time as well")
    p.add_argument("--repeat", type=int, default=5, help="runs per measure (median; default 5)")
    p.add_argument("--strokes", type=int, default=10, help="sketch-pad strokes to time (0 skips; default 10)")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one model in this process
    args = p.parse_args(argv)
    if args.one:
        kind, _, value = args.one.partition(":")
        row = measure(value if kind == "preset" else None, value if kind == "params" else None, args.repeat, args.strokes)
        print(json.dumps(row))
        return 0
    targets = [f"preset:{n}" for n in (args.preset or ([] if args.params else ["published", "compact128"]))]
    targets += [f"params:{d}" for d in args.params]
    rows = []
    for target in targets:
        print(f"measuring {target} ...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, "-m", "dsf.bench", "--one", target, "--repeat", str(args.repeat),
                              "--strokes", str(args.strokes)],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"{target} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if not rows:
        return 1
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
