"""How much does stage 2 memorise? The identity figures on training sketches beside held-out ones.

    python tools/memorisation.py --params params/compact128 --data data/prepared_128 [--source fs2k]

Faces at refine 0 (the sketch's own latents; for a training sketch that is its bank row) for
the training sketches of one data source and for the held-out test split, each ranked within
its own gallery (its own photos, the same size for both: the smaller of the two), by the
evaluation's grey and edge signatures (`dsf.evaluate.metrics`). A model that finds the true
photo for its training sketches far more often than for held-out ones has memorised its
training faces: that gap is generalisation, not capacity (`docs/campaign.md`, twenty-third
period).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dsf.evaluate.batches import encode_all, synthesize_all  # noqa: E402


def identity_figures(pipe, sketches, photos, batch: int = 64, threads: int = 1) -> dict:
    """{"grey": (top-1, top-5, median rank), "edges": (...)} of the faces at refine 0 for
    `sketches`, each ranked among `photos` (row i is sketch i's photo)."""
    from dsf.evaluate.metrics import edge_signature, identity_ranks, identity_signature, top_k_rate

    faces = synthesize_all(pipe, encode_all(pipe, sketches, batch), batch, threads)
    truth = np.arange(len(faces))
    out = {}
    for kind, signature in (("grey", identity_signature), ("edges", edge_signature)):
        ranks = identity_ranks(signature(faces), signature(photos), truth)
        out[kind] = (top_k_rate(ranks, 1), top_k_rate(ranks, 5), float(np.median(ranks)))
    return out


def rows_of(pack: dict, source: str | None, n: int, seed: int = 0) -> np.ndarray:
    """n rows of `pack` (of `source` only when given), drawn without replacement, in order."""
    rows = np.arange(len(pack["sketches"])) if source is None else np.flatnonzero(pack["source"] == source)
    if not len(rows):
        raise SystemExit(f"memorisation: no training faces of source {source!r} "
                         f"(sources: {', '.join(sorted(set(pack['source'])))})")
    return np.sort(np.random.default_rng(seed).choice(rows, min(n, len(rows)), replace=False))


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text}")
    return int(text)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", help="parameter folder (default: the shipped params/compact128)")
    ap.add_argument("--data", required=True, help="prepared data folder (pack_train.npz, pack_test.npz)")
    ap.add_argument("--source", default="fs2k", help="training faces of this source (default fs2k, the test "
                    "split's source); 'all': any")
    ap.add_argument("--limit", type=positive_int, help="at most this many sketches per set")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    from dsf.data.dataset import load_pack
    from dsf.pipeline import load_pipeline

    try:
        train, test = load_pack(args.data, "train"), load_pack(args.data, "test")
    except FileNotFoundError as e:
        raise SystemExit(f"memorisation: {e}") from None
    train["source"] = np.asarray(train["source"]).astype(str)
    source = None if args.source == "all" else args.source
    available = len(train["sketches"]) if source is None else int((train["source"] == source).sum())
    n = min(available, len(test["sketches"]), args.limit or available)
    sets = {f"train ({args.source})": (train, rows_of(train, source, n)), "test (held out)": (test, rows_of(test, None, n))}
    pipe = load_pipeline(args.params)
    print(f"identity at refine 0, each set within its own gallery of {n} photos "
          f"({args.params or 'params/compact128'})")
    print("| sketches | grey top-1 / top-5, median rank | edges top-1 / top-5, median rank |\n|---|---|---|")
    for name, (pack, rows) in sets.items():
        fig = identity_figures(pipe, pack["sketches"][rows], pack["photos"][rows], threads=args.threads)
        print(f"| {name} | " + " | ".join(f"{100 * fig[k][0]:.1f} / {100 * fig[k][1]:.1f} %, {fig[k][2]:g}"
                                           for k in ("grey", "edges")) + " |", flush=True)


if __name__ == "__main__":
    main()
