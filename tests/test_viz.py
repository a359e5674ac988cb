"""dsf.viz: every helper returns a titled Figure with labelled axes, and the PCA colouring is right."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import drawn_face  # noqa: E402

from dsf import viz  # noqa: E402
from dsf.config import PARTS  # noqa: E402


@pytest.fixture(scope="module")
def trace(tiny_pipeline):
    return tiny_pipeline.run(drawn_face(), refine=0.5, shadow=True)


def assert_titled_and_labelled(fig):
    """The figure has a title (suptitle or per-axes titles), and every axes that shows tick
    labels on an axis (a scale) names that axis. Image panels hide their ticks."""
    fig.canvas.draw()
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text()
    assert has_suptitle or any(ax.get_title() for ax in fig.axes), "figure has no title"
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        if any(t.get_text() and t.get_visible() for t in ax.get_xticklabels()):
            assert ax.get_xlabel(), f"axes {ax.get_title()!r} has x tick labels but no x label"
        if any(t.get_text() and t.get_visible() for t in ax.get_yticklabels()):
            assert ax.get_ylabel(), f"axes {ax.get_title()!r} has y tick labels but no y label"
    plt.close(fig)


def test_feature_pca_rgb_shape_range_and_structure():
    rng = np.random.default_rng(0)
    c, h, w = 8, 16, 20
    fmap = rng.normal(0, 0.01, (c, h, w))
    direction = rng.normal(size=c)
    fmap[:, :, : w // 2] += direction[:, None, None]  # left half differs along one direction
    rgb = viz.feature_pca_rgb(fmap)
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0 and rgb.max() <= 1
    # the first principal component separates the halves
    left, right = rgb[:, : w // 2, 0].mean(), rgb[:, w // 2:, 0].mean()
    assert abs(left - right) > 0.8
    with pytest.raises(ValueError):
        viz.feature_pca_rgb(np.zeros((4, 4)))


def test_feature_pca_rgb_with_fewer_than_three_channels_and_a_shared_basis():
    fmap = np.random.default_rng(1).normal(size=(2, 6, 6))
    assert viz.feature_pca_rgb(fmap).shape == (6, 6, 3)
    x = fmap.reshape(2, -1).T
    basis = viz.pca_basis(x, 3)
    assert np.allclose(viz.feature_pca_rgb(fmap, basis), viz.feature_pca_rgb(fmap))


def test_feature_pca_rgb_smooth_finds_layout_under_pixel_noise():
    # a trained fused map: a large-scale layout (left vs right half) under strong per-pixel noise
    rng = np.random.default_rng(0)
    c, h, w = 16, 32, 32
    fmap = rng.normal(0, 1.0, (c, h, w))
    fmap[:, :, : w // 2] += 0.2 * rng.normal(size=c)[:, None, None]

    def halves_apart(rgb):
        return abs(rgb[:, : w // 2, 0].mean() - rgb[:, w // 2:, 0].mean())

    assert halves_apart(viz.feature_pca_rgb(fmap)) < 0.2
    assert halves_apart(viz.feature_pca_rgb(fmap, smooth=2.0)) > 0.4


def test_low_pass_keeps_constants_and_removes_pixel_noise():
    const = np.full((2, 5, 7), 3.0)
    np.testing.assert_allclose(viz.low_pass(const, 1.5), const)
    noise = np.random.default_rng(0).normal(size=(1, 64, 64))
    assert viz.low_pass(noise, 1.5).std() < 0.3 * noise.std()


def test_pca_basis_finds_the_main_direction():
    rng = np.random.default_rng(0)
    d = np.array([3.0, 4.0, 0.0]) / 5
    x = rng.normal(size=(500, 1)) * 10 * d + rng.normal(0, 0.1, (500, 3))
    mean, comp, ratio = viz.pca_basis(x, 2)
    assert comp.shape == (2, 3) and abs(abs(comp[0] @ d) - 1) < 1e-3 and ratio[0] > 0.95


def test_stage_figures_are_titled_and_labelled(tiny_pipeline, trace):
    figs = [viz.show_windows(trace.sketch), viz.show_parts(trace), viz.show_latents(trace),
            viz.show_neighbours(tiny_pipeline, trace, "mouth"), viz.show_feature_maps(trace),
            viz.stage_strip(trace), viz.timings_bar(trace), viz.bank_pca(tiny_pipeline, "nose", trace),
            viz.bank_pca(tiny_pipeline, "eye1"),
            viz.image_row([trace.image, trace.image], ["a", "b"], title="two faces"),
            viz.refine_grid([[trace.image] * 3] * 2, ["r1", "r2"], [0, 0.5, 1]),
            viz.loss_curves({"stage 1": {"l1": [3, 2, 1]}, "stage 2": {"G": [1, 1], "D": [2, 1]}})]
    for fig in figs:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert_titled_and_labelled(fig)


def test_stage_strip_panels_follow_the_trace(tiny_pipeline, trace):
    fig = viz.stage_strip(trace)
    assert len(fig.axes) == 4  # sketch, shadow, fused, face
    np.testing.assert_array_equal(fig.axes[-1].images[0].get_array(), trace.image)
    plt.close(fig)
    no_shadow = tiny_pipeline.run(drawn_face(), refine=0.5)
    fig = viz.stage_strip(no_shadow)
    assert len(fig.axes) == 3
    plt.close(fig)


def test_show_neighbours_shows_k_weights(tiny_pipeline, trace):
    fig = viz.show_neighbours(tiny_pipeline, trace, "eye1")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    k = len(trace.neighbours["eye1"])
    assert sum("w=" in t for t in titles) == k
    for i, w in zip(trace.neighbours["eye1"], trace.weights["eye1"]):
        assert any(t.startswith(f"#{i}") and f"w={w:+.2f}" in t for t in titles)
    plt.close(fig)


def test_bank_pca_marks_the_latent_neighbours_and_projection(tiny_pipeline, trace):
    fig = viz.bank_pca(tiny_pipeline, "mouth", trace)
    ax = fig.axes[0]
    labels = [c.get_label() for c in ax.collections]
    assert "sketch latent v" in labels and "projection p" in labels and any("neighbours" in l for l in labels)
    n = len(tiny_pipeline.banks["mouth"])
    shown = sum(len(c.get_offsets()) for c in ax.collections if c.get_label().startswith("bank"))
    assert shown == n
    nb = next(c for c in ax.collections if "neighbours" in c.get_label())
    assert len(nb.get_offsets()) == len(trace.neighbours["mouth"])
    plt.close(fig)


def test_refine_grid_and_timings(trace):
    with pytest.raises(ValueError):
        viz.refine_grid([[trace.image] * 2], ["one"], ["a", "b", "c"])
    fig = viz.timings_bar(trace)
    assert len(fig.axes[0].patches) == len(trace.timings)
    plt.close(fig)


def test_save_figure_writes_a_png(tmp_path, trace):
    fig = viz.show_windows(trace.sketch)
    path = viz.save_figure(fig, tmp_path / "sub" / "w.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_part_colours_cover_every_part():
    assert set(viz.PART_COLOURS) == set(PARTS)


def test_feature_maps_share_one_colouring(trace):
    """Unblurred, a part's map pasted into the fused map gets the same colours in both panels."""
    basis, stretch = viz._shared_colouring(trace.fused, 0)
    w = __import__("dsf.components", fromlist=["windows"]).windows(trace.fused.shape[-1])["eye2"]
    fused_rgb = viz.feature_pca_rgb(trace.fused, basis, stretch)
    eye_rgb = viz.feature_pca_rgb(trace.feature_maps["eye2"], basis, stretch)
    np.testing.assert_allclose(fused_rgb[w.rows, w.cols], eye_rgb, atol=1e-5)


def test_image_grid_leaves_none_panels_empty_and_titles_the_rest():
    grey, rgb = np.full((8, 8), 128, np.uint8), np.zeros((8, 8, 3), np.uint8)
    fig = viz.image_grid([[grey, rgb], [None, rgb]], "a grid", titles=[["sketch", "face"], [None, "face 2"]],
                         row_labels=["first", "second"])
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == 3 and [ax.get_title() for ax in shown] == ["sketch", "face", "face 2"]
    assert shown[0].get_ylabel() == "first"
    assert_titled_and_labelled(fig)


def test_tile_images_puts_samples_in_rows_and_columns_side_by_side():
    sketches = np.stack([np.full((4, 5), v, np.uint8) for v in (10, 20)])
    faces = np.stack([np.full((4, 6, 3), v, np.uint8) for v in (30, 40)])
    grid = viz.tile_images([sketches, faces])
    assert grid.shape == (8, 11, 3)
    assert (grid[:4, :5] == 10).all() and (grid[4:, :5] == 20).all() and (grid[4:, 5:] == 40).all()


def test_loss_log_figure_smooths_each_key_and_names_its_range():
    records = [{"step": s, "loss": 1.0 / s, "other": float("nan")} for s in range(1, 101)]
    fig = viz.loss_log_figure(records, ["loss", "other", "absent"], smooth=10)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("loss: last 0.0") and titles[1:] == ["other: not logged", "absent: not logged"]
    steps, values = fig.axes[0].lines[0].get_data()
    assert steps[0] == 10 and values[0] == pytest.approx(np.mean(1 / np.arange(1, 11)))
    assert_titled_and_labelled(fig)


def test_save_figure_closes_and_shrinks_on_request(tmp_path):
    fig = viz.image_grid([[np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)]], "noise")
    path = viz.save_figure(fig, tmp_path / "noise.png", close=True, max_bytes=1000)
    assert not plt.fignum_exists(fig.number)
    from PIL import Image

    assert Image.open(path).mode == "P"  # re-saved with a palette


def test_loss_log_plot_and_save_grid_draw_through_viz(tmp_path):
    from PIL import Image

    from dsf.train.checkpoint import LossLog, save_grid

    log = LossLog(tmp_path / "losses.jsonl")
    log.plot(tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()  # fewer than two records: nothing to draw
    for step in range(1, 30):
        log.write({"step": step, "epoch": 0, "loss": 1 / step})
    log.plot(tmp_path / "curves.png")
    assert Image.open(tmp_path / "curves.png").size[0] > 300
    save_grid(tmp_path / "g" / "grid.png", [np.zeros((2, 4, 4), np.uint8), np.full((2, 4, 4, 3), 255, np.uint8)])
    assert np.asarray(Image.open(tmp_path / "g" / "grid.png")).shape == (8, 8, 3)


def test_show_source_reads_the_running_code_without_docstrings():
    from dsf import fusion
    from dsf.pipeline import Pipeline

    code = viz.show_source(fusion.fuse, Pipeline.shadow).data
    assert code.startswith("# dsf/fusion.py, lines ") and "# dsf/pipeline.py, lines " in code
    assert "def fuse(feature_maps" in code and "for part in FUSION_ORDER:" in code
    assert "Fuse per-part feature maps" not in code          # the docstring is left out
    assert "def shadow(self, projections" in code            # methods are dedented
    assert "Fuse per-part feature maps" in viz.show_source(fusion.fuse, docstring=True).data


def test_change_maps_measures_each_edit_in_its_region():
    """An edit painted inside the mouth window shows only there: its heat map reads the mean
    change inside (the painted value) and 0 outside; an unchanged column reads 0 and 0."""
    from dsf.components import windows
    canvas = 128
    before = np.full((2, canvas, canvas, 3), 100, np.uint8)
    after = before.copy()
    w = windows(canvas)["mouth"]
    after[0, w.rows, w.cols] = 130
    fig = viz.change_maps(before, after, [["mouth"], ["eye1", "eye2"]], ["mouth edited", "no edit"], "two edits")
    assert [ax.get_xlabel() for ax in fig.axes[4:]] == ["in 30.0 · out 0.0", "in 0.0 · out 0.0"]
    assert fig.axes[4].images[0].get_cmap().name == "magma"
    assert len(fig.axes[5].patches) == 2  # both eye windows outlined
    assert_titled_and_labelled(fig)
    plt.close(fig)
    with pytest.raises(ValueError, match="as many"):
        viz.change_maps(before, after[:1], [["mouth"]], ["a"], "mismatch")
