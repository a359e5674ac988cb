"""Command line: `python -m dsf.evaluate` (or `python -m dsf evaluate`)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    from . import __doc__ as doc

    ap = argparse.ArgumentParser(prog="python -m dsf.evaluate", description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=None, help="model folder (default: the kit's shipped parameters)")
    ap.add_argument("--data", default="data/prepared_128",
                    help="prepared data root with pack_<split>.npz (default: data/prepared_128)")
    ap.add_argument("--split", default="test", help="split to evaluate (default: test)")
    ap.add_argument("--out", default=None, help="output folder (default: runs/eval_<params folder name>)")
    ap.add_argument("--limit", type=int, default=None, help="evaluate N sketches spread over the split")
    ap.add_argument("--batch", type=int, default=64, help="sketches per encoding / synthesis batch")
    ap.add_argument("--seed", type=int, default=0, help="stroke-removal and pair seed")
    ap.add_argument("--drop", type=float, default=0.3,
                    help="share removed (default 0.3): of the ink (--removal ink, default) or of the strokes")
    ap.add_argument("--removal", choices=["ink", "strokes"], default="ink",
                    help="ink: whole strokes until at most --drop of the ink is gone (default); "
                         "strokes: --drop of the strokes whatever their size (the earlier test)")
    ap.add_argument("--robust-limit", type=int, default=None,
                    help="run the stroke-removal part on N of the evaluated sketches, spread evenly (default: all)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="time budget: the intact part starts no new batch after 80 %% of it, the stroke-removal "
                         "part none after all of it")
    ap.add_argument("--threads", type=int, default=2, help="synthesis threads (default 2)")
    ap.add_argument("--no-faces", action="store_true", help="skip the face detector (face rate not measured)")
    ap.add_argument("--effect-pairs", type=int, default=200,
                    help="sketch pairs for locality and sketches for refine response (default 200)")
    ap.add_argument("--no-effects", action="store_true",
                    help="skip locality, refine response and stage-1 reconstruction")
    ap.add_argument("--curves", nargs="*", default=(), help="training-curve images to link in the report")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    from ..data.dataset import load_pack
    from ..params import DEFAULT_PARAMS
    from ..pipeline import load_pipeline
    from .evaluation import evaluate

    t = time.perf_counter()
    params = Path(a.params) if a.params else DEFAULT_PARAMS
    out = Path(a.out) if a.out else Path("runs") / f"eval_{params.name}"
    pipe = load_pipeline(params)
    test, train = load_pack(a.data, a.split), load_pack(a.data, "train")
    evaluate(pipe, test, train, out, drop_fraction=a.drop, removal=a.removal, seed=a.seed, batch=a.batch,
             limit=a.limit, robust_limit=a.robust_limit, max_minutes=a.max_minutes, threads=a.threads,
             detector=None if a.no_faces else "auto", effects=not a.no_effects, effect_pairs=a.effect_pairs,
             params=a.params or str(DEFAULT_PARAMS), data=a.data, split=a.split, curves=a.curves,
             progress=not a.quiet)
    print((out / "report.md").read_text())
    print(f"wrote {out}/report.md, report.json, per_image.npz and the figures ({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
