import jittor as jt
import numpy as np
import pytest

from conftest import TINY
from dsf.components import network_size, windows
from dsf.config import PARTS, preset
from dsf.networks import (BatchNorm, MultiscaleDiscriminator, build_networks, count_parameters,
                          set_batchnorm_mode)


@pytest.fixture(scope="module")
def published():
    return build_networks(preset("published"))


def test_published_parameter_count_matches_the_paper(published):
    total = sum(count_parameters(n) for n in published.values())
    assert 555e6 < total < 565e6  # "about 560 million"
    assert count_parameters(published["generator"]) == 139_804_507  # "139.8 M"


def test_published_bn_modes_follow_the_release(published):
    modes = {k.split("/")[0]: {m.mode if m.is_train else "eval" for m in n.modules() if isinstance(m, BatchNorm)}
             for k, n in published.items() if k != "generator"}
    assert modes == {"encoder": {"eval"}, "sketch_decoder": {"eval"}, "feature_decoder": {"sample"}}


def test_published_eye_stage_shapes(published):
    jt.set_global_seed(0)
    with jt.no_grad():
        z = published["encoder/eye1"](jt.randn(2, 1, 128, 128))
        assert z.shape == [2, 512]
        assert published["sketch_decoder/eye1"](z).shape == [2, 1, 128, 128]
        assert published["feature_decoder/eye1"](z).shape == [2, 32, 128, 128]


@pytest.mark.parametrize("part", PARTS)
def test_tiny_stage_shapes(part):
    nets = build_networks(TINY)
    n = network_size(windows(TINY.canvas)[part].size)
    with jt.no_grad():
        z = nets[f"encoder/{part}"](jt.randn(3, 1, n, n))
        assert z.shape == [3, TINY.latent]
        assert nets[f"sketch_decoder/{part}"](z).shape == [3, 1, n, n]
        assert nets[f"feature_decoder/{part}"](z).shape == [3, TINY.feature_channels, n, n]


def test_generator_maps_features_to_rgb_in_tanh_range():
    nets = build_networks(TINY)
    with jt.no_grad():
        y = nets["generator"](jt.randn(1, TINY.feature_channels, 128, 128)).numpy()
    assert y.shape == (1, 3, 128, 128) and np.abs(y).max() <= 1


def test_sample_mode_is_per_sample_and_leaves_running_stats_alone():
    bn = BatchNorm(4)
    set_batchnorm_mode(bn, "sample")
    x = jt.randn(3, 4, 5, 5) * 3 + 1
    before = bn.running_mean.numpy().copy()
    together = bn(x).numpy()
    alone = np.concatenate([bn(x[i:i + 1]).numpy() for i in range(3)])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(together.mean(axis=(2, 3)), 0, atol=1e-4)  # each sample normalised on its own
    released = jt.nn.BatchNorm(4)  # the release: training-mode BatchNorm on one sketch at a time
    released.load_state_dict(bn.state_dict())
    released.train()
    assert np.array_equal(together, np.concatenate([released(x[i:i + 1]).numpy() for i in range(3)]))
    assert np.array_equal(bn.running_mean.numpy(), before)
    set_batchnorm_mode(bn, "train")
    bn(x).sync()
    assert not np.array_equal(bn.running_mean.numpy(), before)
    with pytest.raises(ValueError, match="BatchNorm mode"):
        set_batchnorm_mode(bn, "batch")


def test_encoder_activation_is_the_identity_as_published():
    enc = build_networks(TINY)["encoder/eye1"]
    x = jt.array(np.array([-3.0, -0.5, 2.0], np.float32))
    assert np.array_equal(enc.conv[0].relu(x).numpy(), x.numpy())


def test_multiscale_discriminator_returns_features_per_scale():
    d = MultiscaleDiscriminator(4, ndf=8, n_layers=3, num_d=2)
    out = d(jt.randn(1, 4, 64, 64))
    assert len(out) == 2 and len(out[0]) == 5 and out[0][-1].shape[1] == 1
    assert out[1][0].shape[2] < out[0][0].shape[2]
