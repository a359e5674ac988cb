"""Every notebook runs top to bottom on CPU (nbclient, kernel python3), as CI does.

Parameters: the notebooks load `$DSF_PARAMS`, or the shipped `params/compact128` when it is
unset. These tests use the shipped folder when it is present; on a clone without it (before
the kit's model is trained) they write a tiny random-weight model with `save_model` into a
temporary folder and point `DSF_PARAMS` at it, so the same code paths run either way.
`DSF_FAST=1` asks the heavy notebooks for fewer grid columns / training steps (same code path).
`DSF_OUT` sends the figures the notebooks save into the test's temporary folder.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SHIPPED = ROOT / "params" / "compact128"

# The main figure each lesson notebook saves (checked after execution; other notebooks in
# notebooks/ are executed too, without this check).
MAIN_FIGURES = {
    "01_pipeline_walkthrough": "01_pipeline_walkthrough.png",
    "02_refinement_grids": "02_refinement_grid.png",
    "03_interactive_blending": "03_interactive_blending.png",
    "04_component_manifolds": "04_component_manifolds.png",
    "05_training_in_miniature": "05_training_losses.png",
    "06_sketch_pad": "06_sketch_pad.png",
    "07_aligning_a_scan": "07_aligning_a_scan.png",
}


def tiny_params(folder: Path) -> Path:
    """A tiny random-weight model in the kit layout (canvas 128, narrow, 60-row banks)."""
    from dsf._jittor import jt
    from dsf.config import PARTS, preset
    from dsf.manifold import Bank
    from dsf.networks import build_networks
    from dsf.params import save_model

    config = preset("compact128").replace(name="tiny-random", width=0.125, latent=32, feature_channels=8, k=4)
    jt.set_global_seed(0)
    rng = np.random.default_rng(0)
    sex = np.array(["male", "female", ""] * 20)
    banks = {p: Bank(rng.standard_normal((60, config.latent)).astype(np.float32), {"sex": sex}) for p in PARTS}
    return save_model(folder, config, build_networks(config), banks,
                      model_card="Random weights: for testing the notebooks only.")


@pytest.fixture(scope="module")
def params_dir(tmp_path_factory):
    if (SHIPPED / "manifest.json").is_file():
        return SHIPPED
    return tiny_params(tmp_path_factory.mktemp("params") / "tiny")


def test_the_lessons_exist_and_every_notebook_is_paired_with_a_py_percent_source():
    names = [p.stem for p in NOTEBOOKS]
    assert set(MAIN_FIGURES) <= set(names), names
    for nb_path in NOTEBOOKS:
        assert nb_path.with_suffix(".py").is_file(), f"{nb_path.name} has no paired .py source"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_matches_its_source(nb_path):
    import jupytext

    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{nb_path.name}: a code cell has outputs; strip them before committing"
            assert cell.execution_count is None
    source = jupytext.read(nb_path.with_suffix(".py"))
    ours = [(c.cell_type, c.source.strip()) for c in nb.cells]
    theirs = [(c.cell_type, c.source.strip()) for c in source.cells]
    assert ours == theirs, f"{nb_path.name} and its .py differ: run `jupytext --sync {nb_path.with_suffix('.py')}`"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_top_to_bottom(nb_path, params_dir, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("DSF_PARAMS", str(params_dir))
    monkeypatch.setenv("DSF_FAST", "1")
    monkeypatch.setenv("DSF_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DSF_WORK", str(tmp_path / "work"))
    monkeypatch.delenv("DSF_RELEASED_PARAMS", raising=False)
    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(nb_path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, json.dumps(errors, indent=1)[:2000]
    if nb_path.stem not in MAIN_FIGURES:
        return
    main = tmp_path / "out" / MAIN_FIGURES[nb_path.stem]
    assert main.is_file() and main.stat().st_size > 1000, f"{nb_path.name} did not save {main.name}"
