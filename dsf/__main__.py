"""Command line: `python -m dsf generate|bench|prepare|train|evaluate …`.

    python -m dsf generate sample_sketches/*.png --out out/          # faces from sketches
    python -m dsf generate my.png --refine 0.7 --part eye1=1 --sex female --k 10 --shadow --strip
    python -m dsf generate scan.jpg --align                          # find the face, warp it onto the template

`prepare`, `train`, `evaluate` and `bench` hand their arguments to `dsf.data`, `dsf.train`,
`dsf.evaluate` and `dsf.bench`.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

DELEGATES = {"prepare": "dsf.data", "train": "dsf.train", "evaluate": "dsf.evaluate", "bench": "dsf.bench"}


def _part_weight(text: str) -> tuple[str, float]:
    from .config import PARTS

    part, sep, value = text.partition("=")
    if not sep or part not in PARTS:
        raise argparse.ArgumentTypeError(f"expected PART=WEIGHT with PART in {', '.join(PARTS)}, got {text!r}")
    try:
        return part, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"weight for {part} must be a number, got {value!r}") from None


def generate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dsf generate", description="Generate faces from sketches.")
    p.add_argument("sketches", nargs="+", help="sketch images (any size; black strokes on white)")
    p.add_argument("--params", default=None, help="parameter folder (default: the kit's shipped params/); "
                   "the authors' released folder (AE_whole/, Combine/) works unchanged")
    p.add_argument("--refine", type=float, default=0.5, help="refine weight r for every part: 1 = fully "
                   "projected onto the face manifold, 0 = the raw sketch (paper: w_bc = 1 - r); default 0.5")
    p.add_argument("--part", type=_part_weight, action="append", default=[], metavar="PART=R",
                   help="override r for one part (eye1, eye2, nose, mouth, remainder); repeatable")
    p.add_argument("--sex", choices=["male", "female"], default=None, help="bank pool (default: all)")
    p.add_argument("--k", type=int, default=None, help="neighbours in manifold projection (default: the config's)")
    p.add_argument("--out", default="out", help="output folder (default: out/)")
    p.add_argument("--shadow", action="store_true", help="also write the drawing-guidance shadow")
    p.add_argument("--strip", action="store_true", help="also write a stage strip (sketch, shadow, fused map, face)")
    p.add_argument("--align", action="store_true", help="find the face (MediaPipe's face mesh: pip install -r "
                   "requirements-train.txt) and warp it onto the template first, for scans, photos of drawings "
                   "and sketches from elsewhere; also writes NAME_aligned.png")
    return p


def _sketch_for(path: str, canvas: int, align: bool, out: Path) -> tuple[np.ndarray, list[str]]:
    """The input the pipeline gets and what to tell the user about it: with `align` the aligned
    sketch (also saved as NAME_aligned.png), otherwise the loaded canvas, landmark-checked when
    MediaPipe is installed and the cheap ink check (in load_sketch) found nothing."""
    from PIL import Image

    from .images import load_sketch, template_problem
    from .sketch_align import align_sketch, check_template, landmarker_available

    if not align:
        sketch = load_sketch(path, canvas)
        problem = check_template(sketch) if template_problem(sketch) is None and landmarker_available() else None
        return sketch, [problem] if problem else []
    aligned = align_sketch(path, canvas)
    Image.fromarray(aligned.sketch).save(out / f"{Path(path).stem}_aligned.png")
    how = f"{aligned.method}, {aligned.attempt} copy" if aligned.attempt else aligned.method
    news = (f"aligned ({how}): the face was {aligned.offset_frac:.0%} of the canvas off the template" if aligned.moved
            else f"already on the template ({how}); left as it is")
    return aligned.sketch, [news] + ([aligned.warning] if aligned.warning else [])


def generate(argv: list[str]) -> int:
    args = generate_parser().parse_args(argv)
    from tqdm import tqdm
    from PIL import Image

    from . import load_pipeline
    from .images import SketchError, SketchWarning
    from .params import ParamsError
    from .sketch_align import INSTALL_HINT, AlignmentError, landmarker_available

    refine = dict.fromkeys(("eye1", "eye2", "nose", "mouth", "remainder"), args.refine)
    refine.update(dict(args.part))
    if args.align and not landmarker_available():
        print(f"error: --align: {INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        pipe = load_pipeline(args.params)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in tqdm(args.sketches, desc="generating", unit="sketch", disable=len(args.sketches) < 2):
        stem = Path(path).stem
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SketchWarning)  # every one; other filters stay (flush-to-zero)
                sketch, notes = _sketch_for(path, pipe.config.canvas, args.align, out)
                trace = pipe.run(sketch, refine=refine, sex=args.sex, k=args.k, shadow=args.shadow or args.strip)
            for note in dict.fromkeys(notes + [str(w.message) for w in caught]):  # once each, in order
                tqdm.write(f"{path}: {note}")
        except (SketchError, AlignmentError) as e:
            failures += 1
            tqdm.write(f"skipped {path}: {e}")
            continue
        Image.fromarray(trace.image).save(out / f"{stem}_face.png")
        if args.shadow:
            Image.fromarray(trace.shadow).save(out / f"{stem}_shadow.png")
        if args.strip:
            from .viz import stage_strip

            import matplotlib.pyplot as plt

            fig = stage_strip(trace)
            fig.savefig(out / f"{stem}_strip.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
    done = len(args.sketches) - failures
    print(f"wrote {done} face(s) to {out}/ with {pipe.config.name} parameters"
          + (f"; {failures} input(s) skipped" if failures else ""))
    return 1 if failures and not done else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = ["generate", *DELEGATES]
    if not argv or argv[0] not in commands:
        print(f"usage: python -m dsf {{{','.join(commands)}}} ...\n\n{__doc__}", file=sys.stderr)
        return 2
    if argv[0] == "generate":
        return generate(argv[1:])
    import importlib
    import runpy

    module = DELEGATES[argv[0]]
    try:
        importlib.import_module(module)
    except ImportError as e:
        print(f"`{argv[0]}` needs {e.name}: pip install -r requirements-train.txt", file=sys.stderr)
        return 2
    # dsf.data has subcommands of its own (`prepare`): it gets the command name too.
    sys.argv = [f"python -m {module}", *(argv if module == "dsf.data" else argv[1:])]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
