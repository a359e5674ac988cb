"""Average two parameter folders fine-tuned from the same model (a "model soup").

    python tools/average_params.py runs/export_X params/compact128 --out runs/export_soup --weight 0.5

Every network's tensors (BatchNorm statistics included, and the discriminator under
`training/` when both folders carry it) become (1 − w)·A + w·B; the config and the banks come
from A. Interpolating a fine-tune with its starting point keeps part of what it gained and part
of what it lost — docs/campaign.md measures one such soup.
"""
import argparse
import sys

import numpy as np


def mix(a: dict, b: dict, weight: float) -> dict:
    """(1 − weight)·a + weight·b, tensor by tensor; both must hold the same names and shapes."""
    if set(a) != set(b) or any(a[n].shape != b[n].shape for n in a):
        raise SystemExit("the two folders' networks differ in tensor names or shapes")
    return {n: ((1 - weight) * a[n] + weight * b[n]).astype(np.float32) for n in a}


def average(first, second, out, weight: float):
    import dsf  # noqa: F401  (Jittor's environment defaults)
    from dsf.params import load_kit, load_training_extras, save_model
    from dsf.train.stage2 import build_stage2

    config, nets, banks, _ = load_kit(first)
    other_config, other_nets, _, _ = load_kit(second)
    if other_config != config:
        raise SystemExit(f"{first} and {second} hold different configs ({config.name!r}, {other_config.name!r})")
    for key, module in nets.items():
        module.load_state_dict(mix(_arrays(module), _arrays(other_nets[key]), weight))
    training, extras, other_extras = {}, load_training_extras(first), load_training_extras(second)
    if "discriminator" in extras and "discriminator" in other_extras:
        _, training["discriminator"] = build_stage2(config)
        training["discriminator"].load_state_dict(mix(extras["discriminator"], other_extras["discriminator"], weight))
    card = (f"# Average of two parameter folders\n\n(1 − {weight})·`{first}` + {weight}·`{second}`, tensor by tensor "
            f"(`tools/average_params.py`); config and banks from `{first}`.\n")
    return save_model(out, config, nets, banks, model_card=card, training=training or None)


def _arrays(module) -> dict:
    return {n: v.numpy() for n, v in module.state_dict().items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weight", type=float, default=0.5, help="weight of the second folder, 0..1 (default 0.5)")
    args = ap.parse_args(argv)
    if not 0 <= args.weight <= 1:
        ap.error(f"--weight must be in [0, 1], got {args.weight}")
    print(average(args.first, args.second, args.out, args.weight))


if __name__ == "__main__":
    sys.exit(main())
