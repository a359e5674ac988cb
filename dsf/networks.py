"""Every network of DeepFaceDrawing, built from a handful of small blocks and one `Config`.

Module and attribute names follow the released parameter files exactly (`conv`, `fc_mu`,
`fc`, `conv_block`, `model`, with Sequential indices), so that under the `published` preset
`state_dict()` matches the authors' files name for name and shape for shape.
"""
from __future__ import annotations

from jittor import nn

from ._jittor import jt
from .config import Config


class BatchNorm(nn.BatchNorm):
    """Jittor's BatchNorm with a third mode, "sample": normalise each sample by its own
    spatial statistics and leave the running statistics untouched. The released code runs
    its feature decoders in training mode on one sketch at a time, which is exactly this;
    computing it per sample keeps batched calls equal to one-at-a-time calls."""

    mode = "train"

    def execute(self, x):
        if self.mode != "sample":
            return super().execute(x)
        # The same arithmetic as Jittor's training-mode BatchNorm on a batch of one.
        dims = list(range(2, x.ndim))
        mean = jt.mean(x, dims=dims)
        var = (jt.mean(x * x, dims=dims) - mean * mean).maximum(0.0)
        w = self.weight / jt.sqrt(var + self.eps)
        b = self.bias - mean * w
        return x * w.broadcast(x, dims) + b.broadcast(x, dims)


BATCHNORM_MODES = ("eval", "sample", "train")


def set_batchnorm_mode(module: nn.Module, mode: str) -> None:
    """Put every BatchNorm in `module` into "eval" (running statistics), "sample" (per-sample
    statistics, running statistics untouched: the released code's feature decoders) or
    "train" (batch statistics, running statistics updated)."""
    if mode not in BATCHNORM_MODES:
        raise ValueError(f"BatchNorm mode must be one of {BATCHNORM_MODES}, got {mode!r}")
    for m in module.modules():
        if isinstance(m, BatchNorm):
            m.is_train = mode != "eval"
            m.mode = mode


class ResnetBlock(nn.Module):
    """x + [pad, conv3, norm, ReLU, pad, conv3, norm](x); norm is BatchNorm or affine InstanceNorm."""

    def __init__(self, channels: int, norm: str = "batch", momentum: float = 0.1):
        def make_norm():
            if norm == "batch":
                return BatchNorm(channels, momentum=momentum)
            return nn.InstanceNorm(channels, affine=True)

        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv(channels, channels, 3), make_norm(), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv(channels, channels, 3), make_norm(),
        )

    def execute(self, x):
        return x + self.conv_block(x)


class EncoderBlock(nn.Module):
    """Conv(k4, s2, p1), BatchNorm, LeakyReLU(1.0). Slope 1.0 (the identity) is the published
    choice and is kept for parameter compatibility."""

    def __init__(self, cin: int, cout: int, momentum: float):
        self.conv = nn.Conv(cin, cout, 4, stride=2, padding=1)
        self.bn = BatchNorm(cout, momentum=momentum)
        self.relu = nn.LeakyReLU(1.0)

    def execute(self, x):
        return self.relu(self.bn(self.conv(x)))


class DecoderBlock(nn.Module):
    """ConvTranspose(k4, s2, p1), BatchNorm, LeakyReLU(1.0)."""

    def __init__(self, cin: int, cout: int, momentum: float):
        self.conv = nn.Sequential(
            nn.ConvTranspose(cin, cout, 4, stride=2, padding=1), BatchNorm(cout, momentum=momentum), nn.LeakyReLU(1.0)
        )

    def execute(self, x):
        return self.conv(x)


def _bottleneck(cfg: Config, size: int) -> tuple[int, int]:
    """(channels, side) of the 5-times-downsampled map of a `size`² crop."""
    if size % 32:
        raise ValueError(f"component size {size} is not a multiple of 32")
    return cfg.channels(512), size // 32


class ComponentEncoder(nn.Module):
    """Sketch crop 1×S×S → latent (paper: Component Embedding encoder)."""

    def __init__(self, cfg: Config, size: int):
        c, m = cfg.channels, cfg.bn_momentum
        layers = [EncoderBlock(1, c(32), m)]
        for ch in (32, 64, 128, 256):
            layers += [ResnetBlock(c(ch), "batch", m), EncoderBlock(c(ch), c(2 * ch), m)]
        layers.append(ResnetBlock(c(512), "batch", m))
        self.conv = nn.Sequential(*layers)
        ch, side = _bottleneck(cfg, size)
        self.fc_mu = nn.Sequential(nn.Linear(ch * side * side, cfg.latent))

    def execute(self, x):
        x = self.conv(x)
        return self.fc_mu(x.reshape((x.shape[0], -1)))


class ComponentDecoder(nn.Module):
    """Latent → map of `out_channels`×S×S. With the sketch widths and one output channel it is
    the sketch decoder of Component Embedding; with the feature widths and `feature_channels`
    outputs it is the feature decoder of Feature Mapping."""

    SKETCH_WIDTHS = (512, 256, 128, 64, 32, 32)
    FEATURE_WIDTHS = (512, 256, 256, 128, 64, 64)

    def __init__(self, cfg: Config, size: int, widths: tuple[int, ...], out_channels: int):
        c, m = cfg.channels, cfg.bn_momentum
        ch, side = _bottleneck(cfg, size)
        self.shape = (ch, side, side)
        self.fc = nn.Sequential(nn.Linear(cfg.latent, ch * side * side))
        layers = [ResnetBlock(c(widths[0]), "batch", m)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [DecoderBlock(c(cin), c(cout), m), ResnetBlock(c(cout), "batch", m)]
        layers += [nn.ReflectionPad2d(2), nn.Conv(c(widths[-1]), out_channels, 5)]
        self.conv = nn.Sequential(*layers)

    def execute(self, z):
        return self.conv(self.fc(z).reshape((z.shape[0],) + self.shape))


def sketch_decoder(cfg: Config, size: int) -> ComponentDecoder:
    """Stage 1's decoder: a part's latent → its one-channel sketch crop."""
    return ComponentDecoder(cfg, size, ComponentDecoder.SKETCH_WIDTHS, 1)


def feature_decoder(cfg: Config, size: int) -> ComponentDecoder:
    """Stage 2's feature-mapping decoder: a part's latent → its multi-channel feature map."""
    return ComponentDecoder(cfg, size, ComponentDecoder.FEATURE_WIDTHS, cfg.feature_channels)


def upsample(cin: int, cout: int, kind: str) -> list:
    """×2 upsampling layers: the published ConvTranspose, or nearest resize + 3×3 conv
    (`Config.generator_upsample` says why)."""
    if kind == "transpose":
        return [nn.ConvTranspose(cin, cout, 3, stride=2, padding=1, output_padding=1)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv(cin, cout, 3)]


class Generator(nn.Module):
    """pix2pixHD global generator: fused feature map → RGB in [-1, 1] (paper: Image Synthesis).
    `cfg.generator_down` stride-2 steps, `cfg.generator_blocks` residual blocks between them."""

    def __init__(self, cfg: Config):
        ngf, n_down, n_blocks = cfg.channels(cfg.ngf), cfg.generator_down, cfg.generator_blocks
        layers = [nn.ReflectionPad2d(3), nn.Conv(cfg.feature_channels, ngf, 7), nn.InstanceNorm(ngf, affine=True), nn.ReLU()]
        for i in range(n_down):
            a = ngf * 2**i
            layers += [nn.Conv(a, 2 * a, 3, stride=2, padding=1), nn.InstanceNorm(2 * a, affine=True), nn.ReLU()]
        layers += [ResnetBlock(ngf * 2**n_down, "instance") for _ in range(n_blocks)]
        for i in range(n_down, 0, -1):
            a = ngf * 2**i
            layers += [*upsample(a, a // 2, cfg.generator_upsample), nn.InstanceNorm(a // 2, affine=True), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def execute(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """pix2pixHD PatchGAN discriminator that also returns its intermediate features
    (for the feature-matching loss). Used only in training."""

    def __init__(self, in_channels: int, ndf: int, n_layers: int = 3):
        blocks = [nn.Sequential(nn.Conv(in_channels, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2))]
        nf = ndf
        for i in range(1, n_layers + 1):
            prev, nf = nf, min(nf * 2, ndf * 8)
            stride = 2 if i < n_layers else 1
            blocks.append(nn.Sequential(nn.Conv(prev, nf, 4, stride=stride, padding=2), nn.InstanceNorm(nf, affine=False), nn.LeakyReLU(0.2)))
        blocks.append(nn.Sequential(nn.Conv(nf, 1, 4, stride=1, padding=2)))
        self.blocks = nn.ModuleList(blocks)

    def execute(self, x):
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD multi-scale discriminator: `num_d` PatchGANs on 1×, ½×, ¼× … downsampled input.
    Returns one feature list per scale, the last entry of each being the patch logits."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, num_d: int = 2):
        self.scales = nn.ModuleList([NLayerDiscriminator(in_channels, ndf, n_layers) for _ in range(num_d)])
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def execute(self, x):
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.down(x)
            out.append(d(x))
        return out


def count_parameters(module: nn.Module) -> int:
    """Number of learned scalars (BatchNorm running statistics excluded)."""
    return sum(int(v.numel()) for k, v in module.state_dict().items() if not k.endswith(("running_mean", "running_var")))


def build_networks(cfg: Config) -> dict[str, nn.Module]:
    """Every inference network of one model, keyed "encoder/<part>", "sketch_decoder/<part>",
    "feature_decoder/<part>" and "generator", with each stage's BatchNorm mode from `cfg.bn_mode`."""
    from .components import network_size, windows

    nets: dict[str, nn.Module] = {}
    for part, window in windows(cfg.canvas).items():
        size = network_size(window.size)
        nets[f"encoder/{part}"] = ComponentEncoder(cfg, size)
        nets[f"sketch_decoder/{part}"] = sketch_decoder(cfg, size)
        nets[f"feature_decoder/{part}"] = feature_decoder(cfg, size)
    nets["generator"] = Generator(cfg)
    for key, net in nets.items():
        net.eval()
        stage = key.split("/")[0]
        if stage in cfg.bn_mode:
            set_batchnorm_mode(net, cfg.bn_mode[stage])
    return nets
