#!/usr/bin/env bash
# Re-render the figures in README.md and docs/ with the shipped parameters (params/compact128):
# the notebooks' main figures, the stage strip and the sketch-pad screenshot. About 10 minutes on
# 2 CPU cores; the screenshot needs tools/install_browser.sh and requirements-browser.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
for nb in notebooks/0[1-5]_*.ipynb; do
    echo "executing $nb"
    DSF_OUT="$out/figures" jupyter nbconvert --to notebook --execute "$nb" --output-dir "$out/executed" \
        --ExecutePreprocessor.timeout=1200 --log-level=WARN
done
for name in 01_pipeline_walkthrough 03_interactive_blending 04_component_manifolds 05_training_losses; do
    cp "$out/figures/$name.png" docs/figures/notebooks/
done
cp "$out/figures/01_pipeline_walkthrough.png" docs/figures/stage_strip.png
for name in 02_refinement_grid 02_refine_changes 04_part_swap_changes; do   # photo-like grids: JPEG keeps them small
    python -c "from PIL import Image; import sys; Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2], quality=90)" \
        "$out/figures/$name.png" "docs/figures/notebooks/$name.jpg"
done
DSF_PARAMS="$PWD/params/compact128" DSF_SCREENSHOT=docs/figures/sketch_pad.png \
    python -m pytest -q -s tests/test_browser_sketch_pad.py
echo "figures written; executed notebooks in $out/executed"
