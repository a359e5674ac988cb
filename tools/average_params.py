"""Average parameter folders fine-tuned from the same model (a "model soup").

    python tools/average_params.py params/compact128 runs/export_X --out runs/export_soup --weight 0.3
    python tools/average_params.py A B C --out runs/export_soup3 --weight 0.35 0.15   # 0.5·A + 0.35·B + 0.15·C

`--weight` gives the second and later folders' weights; the first folder gets the rest. Every
network's tensors (BatchNorm statistics included, and the discriminator under `training/` when
every folder carries it) become that weighted mean; the config and the banks come from the
first. Interpolating a fine-tune with its starting point keeps part of what it gained and part
of what it lost — docs/campaign.md measures such soups.
"""
import argparse
import sys

import numpy as np


def mix(tensors: list, weights: list) -> dict:
    """Σ weights[i]·tensors[i], tensor by tensor; every dict must hold the same names and shapes."""
    first = tensors[0]
    for other in tensors[1:]:
        if set(other) != set(first) or any(other[n].shape != first[n].shape for n in first):
            raise SystemExit("the folders' networks differ in tensor names or shapes")
    return {n: sum(w * t[n] for w, t in zip(weights, tensors)).astype(np.float32) for n in first}


def average(first, others: list, out, weights: list):
    """Save Σ w_i·folder_i to `out`, with w_first = 1 − Σ weights (weights: one per folder of `others`)."""
    import dsf  # noqa: F401  (Jittor's environment defaults)
    from dsf.params import load_kit, load_training_extras, save_model
    from dsf.train.stage2 import build_stage2

    folders, weights = [first, *others], [1 - sum(weights), *weights]
    kits = [load_kit(f) for f in folders]
    config, nets, banks, _ = kits[0]
    for folder, (other_config, *_) in zip(folders[1:], kits[1:]):
        if other_config != config:
            raise SystemExit(f"{first} and {folder} hold different configs ({config.name!r}, {other_config.name!r})")
    for key, module in nets.items():
        module.load_state_dict(mix([_arrays(kit[1][key]) for kit in kits], weights))
    training, extras = {}, [load_training_extras(f) for f in folders]
    if all("discriminator" in e for e in extras):
        _, training["discriminator"] = build_stage2(config)
        training["discriminator"].load_state_dict(mix([e["discriminator"] for e in extras], weights))
    terms = " + ".join(f"{w:g}·`{f}`" for w, f in zip(weights, folders))
    card = (f"# Average of {len(folders)} parameter folders\n\n{terms}, tensor by tensor "
            f"(`tools/average_params.py`); config and banks from `{first}`.\n")
    return save_model(out, config, nets, banks, model_card=card, training=training or None)


def _arrays(module) -> dict:
    return {n: v.numpy() for n, v in module.state_dict().items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first")
    ap.add_argument("others", nargs="+", metavar="other")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weight", type=float, nargs="+",
                    help="weights of the second and later folders, each in [0, 1], summing to ≤ 1 "
                         "(default 0.5 for two folders)")
    args = ap.parse_args(argv)
    weights = args.weight or ([0.5] if len(args.others) == 1 else [])
    if len(weights) != len(args.others):
        ap.error(f"give one --weight per folder after the first ({len(args.others)}), got {len(weights)}")
    if any(not 0 <= w <= 1 for w in weights) or sum(weights) > 1 + 1e-9:
        ap.error(f"--weight values must be in [0, 1] and sum to at most 1, got {weights}")
    from dsf.params import ParamsError

    try:
        print(average(args.first, args.others, args.out, weights))
    except ParamsError as e:   # a missing folder, a bad manifest, an --out that holds a model
        raise SystemExit(f"average_params: {e}") from None


if __name__ == "__main__":
    sys.exit(main())
