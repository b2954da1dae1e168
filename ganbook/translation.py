r"""Image-to-image translation in the pix2pix style, sized for 8x8 digits: a U-Net generator,
a PatchGAN discriminator, the adversarial + L1 objective, and the two tasks of the
applications chapter (completing a masked digit, 4x4 -> 8x8 super-resolution).

pix2pix (Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks",
CVPR 2017, arXiv:1611.07004, Eq. 4) trains a generator :math:`G(x)` that maps an input image
:math:`x` to an output image, against a conditional discriminator :math:`D(x, y)` that sees the
input beside a real target :math:`y` or beside :math:`G(x)`:

.. math::
   G^* = \arg\min_G \max_D \; \mathcal{L}_{cGAN}(G, D) + \lambda\, \mathcal{L}_{L1}(G),

   \mathcal{L}_{L1}(G) = \mathbb{E}_{x, y}\bigl[\lVert y - G(x) \rVert_1\bigr].

With ``adversarial=False`` the same generator is trained on the L1 term alone: the regression
baseline whose outputs the adversarial term is meant to sharpen. Images are (N, 1, 8, 8) in
[-1, 1]; discriminators return logits, one per patch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbook.losses import bce_d_loss, nonsaturating_g_loss


@dataclass(frozen=True)
class TranslationConfig:
    """How `train_translation` trains a `UNetGenerator` (with a `PatchDiscriminator` if
    `adversarial`)."""

    num_steps: int = 800  # generator updates (one discriminator update before each)
    batch_size: int = 64  # (input, target) pairs per update
    lr_g: float = 1e-3  # Adam learning rate of G (pix2pix: 2e-4 on 256x256 images)
    lr_d: float = 1e-3  # Adam learning rate of D
    betas: tuple[float, float] = (0.5, 0.999)  # Adam's (beta1, beta2), as in pix2pix and DCGAN
    lambda_l1: float = 10.0  # weight of the L1 term (pix2pix: 100); ignored without D
    adversarial: bool = True  # False: L1 only, the regression baseline
    width: int = 32  # channels of the first layer of G and of D
    seed: int = 0  # seeds the weights and the order of the mini-batches


@dataclass
class TranslationHistory:
    """Per-step losses of `train_translation` (``loss_d`` and ``loss_adv`` stay empty without D)."""

    l1: list[float] = field(default_factory=list)  # mean |y - G(x)| of the batch
    loss_g: list[float] = field(default_factory=list)  # what G minimised
    loss_adv: list[float] = field(default_factory=list)  # G's non-saturating adversarial term
    loss_d: list[float] = field(default_factory=list)  # D's binary cross-entropy


class UNetGenerator(nn.Module):
    r"""A U-Net for 8x8 images: 8 -> 4 -> 2 and back, with skip connections at 8x8 and 4x4.

    The encoder halves the size twice (4x4 convolutions, stride 2); the decoder doubles it twice
    (4x4 transposed convolutions) and concatenates each result with the encoder's map of the
    same size, so fine detail of the input can reach the output without passing through the
    2x2 bottleneck (Ronneberger et al., MICCAI 2015, arXiv:1505.04597; pix2pix Sec. 3.2.1).
    ``forward(x)`` maps (N, in_channels, 8, 8) to (N, out_channels, 8, 8) in [-1, 1] (tanh).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        w = width
        self.enc1 = nn.Sequential(nn.Conv2d(in_channels, w, 3, 1, 1), nn.LeakyReLU(0.2))  # 8x8
        self.enc2 = nn.Sequential(nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2))  # 4x4
        self.enc3 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2))  # 2x2
        self.dec3 = nn.Sequential(nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.ReLU())  # 4x4
        self.dec2 = nn.Sequential(nn.ConvTranspose2d(4 * w, w, 4, 2, 1), nn.ReLU())  # 8x8
        self.out = nn.Conv2d(2 * w, out_channels, 3, 1, 1)  # 8x8

    def forward(self, x: Tensor) -> Tensor:
        """Output images (N, out_channels, 8, 8) in [-1, 1] for inputs x (N, in_channels, 8, 8)."""
        _check_images(x, "UNetGenerator")
        e1 = self.enc1(x)  # (N, w, 8, 8)
        e2 = self.enc2(e1)  # (N, 2w, 4, 4)
        h = self.dec3(self.enc3(e2))  # (N, 2w, 4, 4)
        h = self.dec2(torch.cat([h, e2], dim=1))  # skip: (N, 4w, 4, 4) -> (N, w, 8, 8)
        return torch.tanh(self.out(torch.cat([h, e1], dim=1)))  # skip: (N, 2w, 8, 8) -> out


class PatchDiscriminator(nn.Module):
    r"""A PatchGAN discriminator: one real/fake logit per overlapping 6x6 patch of the pair.

    Input: the condition x and an image y, both (N, C, 8, 8), stacked as 2C channels. A 3x3
    convolution (receptive field 3), a 4x4 convolution of stride 2 (field 3 + 3 = 6) and a 1x1
    convolution give a 4x4 map of logits, each judging one 6x6 patch (pix2pix Sec. 3.2.2 uses
    70x70 patches of 256x256 images). The losses average over patches.
    """

    def __init__(self, in_channels: int = 2, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1), nn.LeakyReLU(0.2),  # (N, w, 8, 8)
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),  # (N, 2w, 4, 4)
            nn.Conv2d(2 * width, 1, 1))  # (N, 1, 4, 4) logits

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Logits (N, 1, 4, 4), one per patch, for condition x and image y (N, C, 8, 8)."""
        _check_images(x, "PatchDiscriminator")
        _check_images(y, "PatchDiscriminator")
        return self.net(torch.cat([x, y], dim=1))


def _check_images(x: Tensor, who: str) -> None:
    if x.dim() != 4 or tuple(x.shape[2:]) != (8, 8):
        raise ValueError(f"{who} expects images of shape (N, C, 8, 8) in [-1, 1], "
                         f"got {tuple(x.shape)}")


def pix2pix_g_loss(fake_logits: Tensor, fake: Tensor, target: Tensor, lambda_l1: float
                   ) -> tuple[Tensor, Tensor, Tensor]:
    r"""The generator's pix2pix objective, :math:`-\mathbb{E}[\log D(x, G(x))] +
    \lambda\, \mathbb{E}\lvert y - G(x) \rvert`.

    Returns (total, adversarial term, L1 term); the L1 term is the mean absolute error per
    pixel. The adversarial term is the non-saturating loss of `ganbook.losses` averaged over
    patches (Isola et al. 2017, Eq. 4, with the non-saturating form of their Sec. 3.3).
    """
    if lambda_l1 < 0:
        raise ValueError(f"lambda_l1 must be >= 0, got {lambda_l1}")
    adv = nonsaturating_g_loss(fake_logits)
    l1 = (fake - target).abs().mean()
    return adv + lambda_l1 * l1, adv, l1


def mask_lower_half(x: Tensor, fill: float = 0.0) -> Tensor:
    """A copy of images x (N, C, H, W) with the lower half of the rows set to `fill`."""
    masked = x.clone()
    masked[..., x.shape[-2] // 2:, :] = fill
    return masked


def downsample(x: Tensor, factor: int = 2) -> Tensor:
    """Average `factor` x `factor` blocks of images x (N, C, H, W): (N, C, H/factor, W/factor)."""
    if factor < 1 or x.shape[-1] % factor or x.shape[-2] % factor:
        raise ValueError(f"factor must be >= 1 and divide the image size, got {factor} "
                         f"for images {tuple(x.shape)}")
    return F.avg_pool2d(x, factor)


def upsample_bicubic(x: Tensor, size: int = 8) -> Tensor:
    """Bicubic interpolation of images x (N, C, h, w) in [-1, 1] to `size` x `size`, clamped to
    [-1, 1] (bicubic overshoots at edges); the classical baseline of super-resolution."""
    up = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    return up.clamp(-1.0, 1.0)


def psnr(x: Tensor, y: Tensor, data_range: float = 2.0) -> Tensor:
    r"""Peak signal-to-noise ratio (dB) of each image of x against y (N, C, H, W):

    .. math:: \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\mathrm{MSE}}, \qquad R = 2
       \text{ for images in } [-1, 1].

    Returns (N,); identical images give ``inf``. Higher is better; it rewards the mean-squared
    error and so favours blurry averages over sharp guesses (Ledig et al., SRGAN, CVPR 2017,
    arXiv:1609.04802, Sec. 1).
    """
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse)


def train_translation(inputs: Tensor, targets: Tensor, config: TranslationConfig | None = None,
                      device: torch.device | str | None = None
                      ) -> tuple[UNetGenerator, TranslationHistory]:
    """Train a `UNetGenerator` to map `inputs` to `targets` (N, C, 8, 8) in [-1, 1].

    Each step draws a mini-batch of pairs; if ``config.adversarial``, D takes one Adam step on
    `~ganbook.losses.bce_d_loss` (real pairs (x, y) against (x, G(x))), then G one step on
    `pix2pix_g_loss`; otherwise G takes one step on the L1 error alone. Deterministic for a
    given ``config.seed`` and device: the weights are drawn from a forked, seeded generator
    (the global random state is left as it was) and the batches by a seeded
    ``torch.Generator``. Returns G in eval mode and the per-step losses.
    """
    config = config or TranslationConfig()
    if inputs.shape[0] != targets.shape[0] or inputs.shape[0] < config.batch_size:
        raise ValueError(f"need as many inputs as targets and at least batch_size="
                         f"{config.batch_size} of them, got {inputs.shape[0]} and "
                         f"{targets.shape[0]}")
    device = torch.device(device or "cpu")
    c_in, c_out = inputs.shape[1], targets.shape[1]
    with torch.random.fork_rng(devices=[]):  # weights drawn on the CPU; global state untouched
        torch.manual_seed(config.seed)
        G = UNetGenerator(c_in, c_out, config.width).to(device)
        D = (PatchDiscriminator(c_in + c_out, config.width).to(device)
             if config.adversarial else None)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = (torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=config.betas)
             if D is not None else None)
    inputs, targets = inputs.to(device), targets.to(device)
    order = torch.Generator().manual_seed(config.seed)
    history = TranslationHistory()
    for _ in range(config.num_steps):
        idx = torch.randint(len(inputs), (config.batch_size,), generator=order).to(device)
        x, y = inputs[idx], targets[idx]
        fake = G(x)
        if D is not None:
            loss_d = bce_d_loss(D(x, y), D(x, fake.detach()))  # real pairs -> 1, fake -> 0
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            D.requires_grad_(False)  # G's step needs gradients through D, not of D's weights
            loss_g, adv, l1 = pix2pix_g_loss(D(x, fake), fake, y, config.lambda_l1)
            D.requires_grad_(True)
            history.loss_d.append(loss_d.item())
            history.loss_adv.append(adv.item())
        else:
            loss_g = l1 = (fake - y).abs().mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        history.l1.append(l1.item())
        history.loss_g.append(loss_g.item())
    return G.eval(), history


@torch.no_grad()
def translate(G: nn.Module, inputs: Tensor, batch_size: int = 512) -> Tensor:
    """G's outputs for `inputs` (N, C, 8, 8), in batches, without gradients, on G's device."""
    device = next(G.parameters()).device
    return torch.cat([G(x.to(device)) for x in inputs.split(batch_size)])


def receptive_field(D: PatchDiscriminator) -> int:
    """Side of the square input patch seen by one logit of `D`, computed from its layers:
    r = 1 + sum over layers of (kernel - 1) x (product of the earlier strides)."""
    r, jump = 1, 1
    for layer in D.net:
        if isinstance(layer, nn.Conv2d):
            r += (layer.kernel_size[0] - 1) * jump
            jump *= layer.stride[0]
    return r

