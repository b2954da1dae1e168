r"""Generators and discriminators: a small MLP for 2-D toy data and DCGAN for images, each
optionally conditional on a class label, and DCGAN's weight initialisation.

Conventions shared by the whole package:

* a generator maps latent codes :math:`z \sim \mathcal N(0, I)` of shape ``(N, latent_dim)``
  (see `sample_latent`) to samples; image generators end in ``tanh``, so images lie in [-1, 1];
* a discriminator returns **logits** :math:`a = D(x)` of shape ``(N,)``: no sigmoid, the losses
  in `ganbook.losses` apply it stably;
* a model built with ``num_classes=K`` is conditional, :math:`G(z \mid y)` and
  :math:`D(x \mid y)`: ``forward`` then needs integer labels ``y`` of shape ``(N,)`` in
  ``{0, ..., K-1}``, fed in through a learned label embedding (Mirza & Osindero, "Conditional
  Generative Adversarial Nets", 2014, arXiv:1411.1784).

Sources: Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016, arXiv:1511.06434 (DCGAN); Miyato et al., "Spectral
Normalization for Generative Adversarial Networks", ICLR 2018, arXiv:1802.05957; Lin et al.,
"PacGAN: The power of two samples in generative adversarial networks", NeurIPS 2018,
arXiv:1712.04086 (packing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

SUPPORTED_IMAGE_SIZES: tuple[int, ...] = (8, 16, 28, 32, 64)  # 28: 7 -> 14 -> 28; others 4 -> ...

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
             nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def sample_latent(n: int, latent_dim: int, *, generator: torch.Generator | None = None,
                  device: torch.device | str | None = None) -> Tensor:
    r"""Latent codes :math:`z \sim \mathcal N(0, I)`: a float32 tensor of shape ``(n, latent_dim)``.

    Pass a seeded `torch.Generator` (on ``device``) for a reproducible stream of codes.
    """
    return torch.randn(n, latent_dim, generator=generator, device=device, dtype=torch.float32)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters in `module` (only those with ``requires_grad`` by default)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def init_dcgan_weights(module: nn.Module) -> None:
    r"""DCGAN initialisation, for ``model.apply(init_dcgan_weights)``.

    Conv, transposed-conv and linear weights :math:`\sim \mathcal N(0, 0.02^2)`, BatchNorm scales
    :math:`\sim \mathcal N(1, 0.02^2)` (around 1, not 0), every bias 0 (Radford et al. 2016,
    Sec. 4). A spectrally normalised layer gets its *original* weight initialised, then (in
    train mode) 15 power iterations refresh its estimate of :math:`\sigma(W)`, as on creation.
    Embeddings keep PyTorch's default :math:`\mathcal N(0, 1)`. The DCGAN classes here call
    this function on construction; calling it again simply draws fresh weights.
    """
    if isinstance(module, _WEIGHTED):
        if parametrize.is_parametrized(module, "weight"):
            nn.init.normal_(module.parametrizations.weight.original, 0.0, 0.02)
            if module.training:
                with torch.no_grad():
                    for _ in range(15):  # each access runs one power iteration in train mode
                        module.weight  # noqa: B018
        else:
            nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, _BATCHNORMS) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _check_sizes(who: str, minimum: int = 1, **sizes: object) -> None:
    """Raise ValueError unless every keyword is an int (not a bool or float) >= `minimum`."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{who}: {name} must be an int >= {minimum}, got {value!r}")


def _resolution_plan(image_size: int) -> tuple[int, int]:
    """(side of the smallest feature map, number of stride-2 steps) for `image_size`."""
    if (isinstance(image_size, bool) or not isinstance(image_size, int)
            or image_size not in SUPPORTED_IMAGE_SIZES):
        raise ValueError(f"image_size {image_size!r} is not supported; "
                         f"choose an int from {list(SUPPORTED_IMAGE_SIZES)}")
    base = 7 if image_size == 28 else 4
    return base, int(math.log2(image_size // base))  # 64: 4 -> 8 -> 16 -> 32 -> 64 is 4 steps


def _label_embedding(num_classes: int | None, dim: int) -> nn.Embedding | None:
    """A learned table of one `dim`-vector per class, or None for an unconditional model."""
    if num_classes is None:
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
    return nn.Embedding(num_classes, dim)


def _check_shape(t: Tensor, tail: tuple[int, ...], who: str, what: str) -> None:
    """Raise ValueError unless `t` has shape ``(N, *tail)``."""
    if t.dim() != len(tail) + 1 or tuple(t.shape[1:]) != tail:
        expected = ", ".join(["N", *map(str, tail)])
        raise ValueError(f"{who} expects {what} of shape ({expected}), got {tuple(t.shape)}")


def _check_labels(y: Tensor | None, n: int, num_classes: int | None, who: str) -> None:
    """Raise ValueError unless labels are given exactly when the model is conditional."""
    if num_classes is None:
        if y is not None:
            raise ValueError(f"{who} is unconditional (num_classes=None) but labels y were given")
        return
    if y is None:
        raise ValueError(f"{who} is conditional (num_classes={num_classes}): "
                         f"pass integer labels y of shape (N,)")
    if tuple(y.shape) != (n,) or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"{who} expects integer labels y of shape ({n},), "
                         f"got {y.dtype} of shape {tuple(y.shape)}")


def _mlp(in_dim: int, hidden_dim: int, num_hidden: int, out_dim: int,
         activation: Callable[[], nn.Module], spectral_norm: bool = False,
         minibatch_std: int = 0) -> nn.Sequential:
    """`num_hidden` (Linear, activation) pairs, then a final Linear to `out_dim`; with
    `minibatch_std` > 0 a `MinibatchStd` layer adds one feature before that final Linear."""
    wrap = _spectral_norm if spectral_norm else (lambda m: m)
    layers: list[nn.Module] = []
    for i in range(num_hidden):
        layers += [wrap(nn.Linear(hidden_dim if i else in_dim, hidden_dim)), activation()]
    layers += [MinibatchStd(minibatch_std)] if minibatch_std else []
    last_in = (hidden_dim if num_hidden else in_dim) + (minibatch_std > 0)
    layers.append(wrap(nn.Linear(last_in, out_dim)))
    return nn.Sequential(*layers)


class MinibatchStd(nn.Module):
    r"""Appends one feature to each row: how much the rows of its group differ.

    Rows ``(N, F)`` are split into consecutive groups of ``g = min(group_size, N)``; in each
    group the per-feature standard deviation
    :math:`s_f = \sqrt{\tfrac1g\sum_i (h_{if} - \bar h_f)^2 + \epsilon} - \sqrt{\epsilon}` is
    averaged over the F features and the mean is appended to every row of the group, giving
    ``(N, F + 1)`` (Karras et al., "Progressive Growing of GANs for Improved Quality, Stability,
    and Variation", ICLR 2018, arXiv:1710.10196, Sec. 3; their code groups 4 samples). A
    collapsed batch of identical samples gets exactly 0, so D can tell it from a varied real
    batch. Subtracting :math:`\sqrt{\epsilon}` (:math:`\epsilon = 10^{-8}`) shifts the
    feature by a constant the next layer's bias absorbs; the :math:`\epsilon` keeps the
    gradient finite at 0.
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        if group_size < 1:
            raise ValueError(f"MinibatchStd group_size must be a positive int, got {group_size}")
        self.group_size, self.eps = group_size, eps

    def forward(self, h: Tensor) -> Tensor:
        """``(N, F)`` -> ``(N, F + 1)``; N must be a multiple of the group size (or smaller)."""
        n = h.shape[0]
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"MinibatchStd(group_size={self.group_size}) needs a batch size "
                             f"that is a multiple of {g}, got {n}")
        groups = h.reshape(n // g, g, -1)  # (N/g, g, F)
        shifted = groups - groups[:, :1]  # the same variance; exactly 0 for equal rows
        var = (shifted - shifted.mean(dim=1, keepdim=True)).square().mean(dim=1)  # (N/g, F)
        std = (var + self.eps).sqrt() - var.new_tensor(self.eps).sqrt()  # (N/g, F); 0: equal rows
        feature = std.mean(dim=1).repeat_interleave(g)  # (N,): one value per group, per row
        return torch.cat([h, feature[:, None].to(h.dtype)], dim=1)  # (N, F + 1)


class MLPGenerator(nn.Module):
    r"""Fully connected generator :math:`G(z)` or :math:`G(z \mid y)` with ReLU hidden layers.

    The output has shape ``(N, *out_shape)``; with ``tanh_output=True`` it lies in [-1, 1] (for
    images), otherwise it is unbounded (for 2-D toy data). A conditional model concatenates a
    learned ``num_classes``-dimensional label embedding to z (Mirza & Osindero 2014). An MLP
    generator as in Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014,
    arXiv:1406.2661, here with ReLU hidden units throughout.
    """

    def __init__(self, latent_dim: int = 2, out_shape: Sequence[int] = (2,), hidden_dim: int = 128,
                 num_hidden: int = 2, num_classes: int | None = None, tanh_output: bool = False):
        super().__init__()
        _check_sizes("MLPGenerator", latent_dim=latent_dim, hidden_dim=hidden_dim)
        _check_sizes("MLPGenerator", 0, num_hidden=num_hidden)
        _check_sizes("MLPGenerator", **{f"out_shape[{i}]": n for i, n in enumerate(out_shape)})
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.out_shape = tuple(out_shape)
        self.embed = _label_embedding(num_classes, num_classes or 0)
        in_dim = latent_dim + (num_classes or 0)
        self.net = _mlp(in_dim, hidden_dim, num_hidden, math.prod(self.out_shape), nn.ReLU)
        self.out_act = nn.Tanh() if tanh_output else nn.Identity()

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Samples of shape ``(N, *out_shape)`` from codes z ``(N, latent_dim)`` (and labels y)."""
        _check_shape(z, (self.latent_dim,), "MLPGenerator", "latent codes z")
        _check_labels(y, z.shape[0], self.num_classes, "MLPGenerator")
        h = z if self.embed is None else torch.cat([z, self.embed(y)], dim=1)  # (N, latent_dim+K)
        x = self.out_act(self.net(h))  # (N, prod(out_shape))
        return x.view(-1, *self.out_shape)  # (N, *out_shape)


class MLPDiscriminator(nn.Module):
    r"""Fully connected discriminator with LeakyReLU(0.2) hidden layers; returns logits.

    Input ``(N, *in_shape)`` is flattened; a conditional model concatenates a learned
    ``num_classes``-dimensional label embedding to it (Mirza & Osindero 2014). With
    ``spectral_norm=True`` every Linear is divided by its largest singular value,
    :math:`\bar W = W / \sigma(W)`, estimated by one power iteration per training forward pass
    (Miyato et al. 2018, Eq. 8 and Algorithm 1); this bounds the Lipschitz constant of D by 1
    (LeakyReLU is 1-Lipschitz). With ``pack=m`` (PacGAN, Lin et al. 2018) D judges m samples
    at once: consecutive groups of m rows are concatenated, N must be a multiple of m and the
    logits have shape ``(N/m,)``. With ``minibatch_std=g`` a `MinibatchStd` layer (Karras
    et al. 2018) tells D's last layer how varied each group of g rows (packs) is; 0 leaves it out.
    """

    def __init__(self, in_shape: Sequence[int] = (2,), hidden_dim: int = 128, num_hidden: int = 2,
                 num_classes: int | None = None, spectral_norm: bool = False, pack: int = 1,
                 minibatch_std: int = 0):
        super().__init__()
        _check_sizes("MLPDiscriminator", pack=pack, hidden_dim=hidden_dim)
        _check_sizes("MLPDiscriminator", 0, num_hidden=num_hidden)
        _check_sizes("MLPDiscriminator", **{f"in_shape[{i}]": n for i, n in enumerate(in_shape)})
        if minibatch_std < 0:
            raise ValueError(f"MLPDiscriminator needs minibatch_std >= 0 (a group size, 0 for "
                             f"none), got {minibatch_std}")
        self.in_shape, self.num_classes, self.pack = tuple(in_shape), num_classes, pack
        self.embed = _label_embedding(num_classes, num_classes or 0)
        in_dim = pack * (math.prod(self.in_shape) + (num_classes or 0))
        self.net = _mlp(in_dim, hidden_dim, num_hidden, 1, lambda: nn.LeakyReLU(0.2),
                        spectral_norm, minibatch_std)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits of shape ``(N / pack,)`` for samples x ``(N, *in_shape)`` (and labels y)."""
        _check_shape(x, self.in_shape, "MLPDiscriminator", "samples x")
        n = x.shape[0]
        _check_labels(y, n, self.num_classes, "MLPDiscriminator")
        if n % self.pack:
            raise ValueError(f"MLPDiscriminator(pack={self.pack}) needs a batch size that is a "
                             f"multiple of {self.pack}, got {n}")
        h = x.flatten(start_dim=1)  # (N, prod(in_shape))
        if self.embed is not None:
            h = torch.cat([h, self.embed(y)], dim=1)  # (N, prod(in_shape) + K)
        h = h.reshape(n // self.pack, -1)  # (N/pack, pack * features): PacGAN packing
        return self.net(h).squeeze(1)  # (N/pack,)


class DCGANGenerator(nn.Module):
    r"""DCGAN generator: z -> a small feature map -> stride-2 transposed convolutions -> tanh.

    z ``(N, latent_dim)`` is projected by a ConvTranspose2d (kernel 4, or 7 for 28x28 images)
    to a ``ngf * 2**(k-1)``-channel 4x4 (7x7) map; each of the k stride-2 blocks
    (ConvTranspose2d(4, 2, 1) + BatchNorm + ReLU) doubles the side and halves the channels, the
    last hidden block having ``ngf`` channels; the output block maps to ``channels`` with tanh
    and no BatchNorm, so images lie in [-1, 1] (Radford et al. 2016, Sec. 3 and Fig. 1). A
    conditional model concatenates a learned ``num_classes``-dimensional label embedding to z.
    Weights are initialised with `init_dcgan_weights`.
    """

    def __init__(self, latent_dim: int = 100, image_size: int = 64, channels: int = 1,
                 ngf: int = 64, num_classes: int | None = None):
        super().__init__()
        _check_sizes("DCGANGenerator", latent_dim=latent_dim, channels=channels, ngf=ngf)
        base, num_up = _resolution_plan(image_size)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.num_classes = num_classes
        self.embed = _label_embedding(num_classes, num_classes or 0)
        width = ngf * 2 ** (num_up - 1)  # channels of the base map: 64x64 -> ngf*8
        layers: list[nn.Module] = [  # (N, latent_dim+K, 1, 1) -> (N, width, base, base)
            nn.ConvTranspose2d(latent_dim + (num_classes or 0), width, base, 1, 0, bias=False),
            nn.BatchNorm2d(width), nn.ReLU()]
        for _ in range(num_up - 1):  # (N, width, s, s) -> (N, width/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU()]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]  # (N, C, H, W)
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Images ``(N, channels, image_size, image_size)`` in [-1, 1] from z ``(N, latent_dim)``.

        Conditional models also take labels y ``(N,)``.
        """
        _check_shape(z, (self.latent_dim,), "DCGANGenerator", "latent codes z")
        _check_labels(y, z.shape[0], self.num_classes, "DCGANGenerator")
        h = z if self.embed is None else torch.cat([z, self.embed(y)], dim=1)  # (N, latent_dim+K)
        return self.net(h[:, :, None, None])  # (N, channels, image_size, image_size)


class DCGANDiscriminator(nn.Module):
    r"""DCGAN discriminator: stride-2 convolutions down to 4x4 (7x7 for 28x28), then one logit.

    Each block is Conv2d(4, 2, 1) + BatchNorm + LeakyReLU(0.2), halving the side and doubling
    the channels from ``ndf``; the first block has no BatchNorm (Radford et al. 2016, Sec. 3).
    A final Conv2d with kernel 4 (7) and no padding gives logits ``(N,)``. A conditional model
    adds one input channel: a learned ``image_size**2`` label embedding reshaped to an image.
    With ``spectral_norm=True`` every conv is spectrally normalised (Miyato et al. 2018) and
    BatchNorm is left out, as in the paper's SN-GAN discriminators.
    """

    def __init__(self, image_size: int = 64, channels: int = 1, ndf: int = 64,
                 num_classes: int | None = None, spectral_norm: bool = False):
        super().__init__()
        _check_sizes("DCGANDiscriminator", channels=channels, ndf=ndf)
        base, num_down = _resolution_plan(image_size)
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        self.embed = _label_embedding(num_classes, image_size * image_size)
        in_ch, width = channels + (num_classes is not None), ndf
        layers: list[nn.Module] = []
        for k in range(num_down):  # (N, in_ch, s, s) -> (N, width, s/2, s/2)
            batchnorm = k > 0 and not spectral_norm
            layers.append(nn.Conv2d(in_ch, width, 4, 2, 1, bias=not batchnorm))
            layers += [nn.BatchNorm2d(width)] if batchnorm else []
            layers.append(nn.LeakyReLU(0.2))
            in_ch, width = width, width * 2
        layers.append(nn.Conv2d(in_ch, 1, base, 1, 0))  # (N, in_ch, base, base) -> (N, 1, 1, 1)
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)
        for layer in self.net if spectral_norm else ():
            if isinstance(layer, nn.Conv2d):
                _spectral_norm(layer)  # wraps in place: weight = original / sigma(original)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits ``(N,)`` for images x ``(N, channels, image_size, image_size)`` (and labels y)."""
        s = self.image_size
        _check_shape(x, (self.channels, s, s), "DCGANDiscriminator", "images x")
        _check_labels(y, x.shape[0], self.num_classes, "DCGANDiscriminator")
        if self.embed is not None:
            label_map = self.embed(y).view(-1, 1, s, s)  # (N, 1, H, W)
            x = torch.cat([x, label_map], dim=1)  # (N, C+1, H, W)
        return self.net(x).reshape(-1)  # (N,)
