r"""A small convolutional variational autoencoder (VAE) for the 8x8 digits, the GAN's classic rival.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, arXiv:1312.6114. An encoder
:math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))` and a
decoder :math:`p_\theta(x \mid z) = \mathcal N(g_\theta(z), s^2 I)` are trained together to
maximise the evidence lower bound (ELBO) of every training image,

.. math::
    \log p_\theta(x) \ge \mathbb E_{q_\phi(z \mid x)}\bigl[\log p_\theta(x \mid z)\bigr]
    - \mathrm{KL}\bigl(q_\phi(z \mid x) \,\|\, \mathcal N(0, I)\bigr),

with the reparameterisation :math:`z = \mu + \sigma \odot \varepsilon`,
:math:`\varepsilon \sim \mathcal N(0, I)`. The decoder :math:`g_\theta` is exactly the book's
`ganbook.models.DCGANGenerator`, so a VAE and a DCGAN of the same size can be compared at the same
training budget. New images are :math:`g_\theta(z)` for :math:`z \sim \mathcal N(0, I)`: the
decoder's mean, as usual (adding the Gaussian pixel noise would only add grain).

The decoder's noise scale :math:`s` is not a fixed constant: for a batch of :math:`B` images
of :math:`P` pixels the Gaussian log-likelihood is largest at :math:`s^2 = \mathrm{MSE}`, the
mean squared reconstruction error, and with that choice the negative ELBO per image becomes,
up to a constant, :math:`\tfrac P2 \log \mathrm{MSE} + \mathrm{KL}` (the "optimal sigma" of
Rybkin, Daniilidis & Levine, "Simple and Effective VAE Training with Calibrated Decoders",
ICML 2021, arXiv:2006.13202). That removes the one weight between the two terms that a VAE
otherwise needs tuned.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbook.models import DCGANGenerator, sample_latent


@dataclass(frozen=True)
class VAEConfig:
    """How `fit_vae` trains a `ConvVAE` (defaults: the budget of the book's 8x8 DCGAN)."""

    num_steps: int = 3000  # Adam updates
    batch_size: int = 64  # images per update (from the `batches` iterator)
    lr: float = 1e-3  # Adam learning rate
    betas: tuple[float, float] = (0.9, 0.999)  # Adam (beta1, beta2), PyTorch's defaults
    seed: int = 0  # seeds the reparameterisation noise epsilon

    def __post_init__(self) -> None:
        for name in ("num_steps", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"VAEConfig.{name} must be a positive int, "
                                 f"got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"VAEConfig.lr must be > 0, got {self.lr!r}")


class ConvVAE(nn.Module):
    r"""Encoder (two stride-2 convolutions) to :math:`(\mu, \log\sigma^2)`; decoder: a
    `DCGANGenerator`. Images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 32, image_size: int = 8, channels: int = 1,
                 ngf: int = 128, nef: int = 64) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"ConvVAE needs an image_size divisible by 4, got {image_size}")
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        side = image_size // 4
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, nef, 4, 2, 1), nn.LeakyReLU(0.2),  # (N, nef, S/2, S/2)
            nn.Conv2d(nef, 2 * nef, 4, 2, 1), nn.LeakyReLU(0.2),  # (N, 2nef, S/4, S/4)
            nn.Flatten(), nn.Linear(2 * nef * side * side, 2 * latent_dim))  # (N, 2 latent_dim)
        self.decoder = DCGANGenerator(latent_dim, image_size, channels, ngf)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`\mu` and :math:`\log\sigma^2`, each (N, latent_dim), of :math:`q(z \mid x)`."""
        expected = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"ConvVAE expects images of shape (N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}) in [-1, 1], got {tuple(x.shape)}")
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: Tensor, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        r"""Reconstructions :math:`g(\mu + \sigma \odot \varepsilon)` (N, C, H, W), and
        :math:`\mu`, :math:`\log\sigma^2`."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # the reparameterisation trick
        return self.decoder(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r"""n new images :math:`g(z)`, :math:`z \sim \mathcal N(0, I)`, decoder in eval mode."""
        device = next(self.parameters()).device
        was_training = self.decoder.training
        self.decoder.eval()
        x = self.decoder(sample_latent(n, self.latent_dim, generator=generator, device=device))
        self.decoder.train(was_training)
        return x


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""Per-sample KL divergence of the encoder's Gaussian from the prior, shape (N,)
    (Kingma & Welling 2014, Appendix B):

    .. math::
        \mathrm{KL}(\mathcal N(\mu, \operatorname{diag}\sigma^2) \,\|\, \mathcal N(0, I))

        = \tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1)
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)


def negative_elbo(x: Tensor, x_rec: Tensor, mu: Tensor, logvar: Tensor
                  ) -> tuple[Tensor, Tensor, Tensor]:
    r"""Mean negative ELBO per image with the calibrated Gaussian decoder, up to a constant:
    :math:`\tfrac P2 \log \mathrm{MSE} + \overline{\mathrm{KL}}`, with P pixels per image and
    the MSE over the batch (module docstring). Returns (loss, MSE, mean KL)."""
    pixels = x[0].numel()
    mse = F.mse_loss(x_rec, x)
    kl = kl_to_standard_normal(mu, logvar).mean()
    return 0.5 * pixels * torch.log(mse) + kl, mse.detach(), kl.detach()


def fit_vae(vae: ConvVAE, batches: Iterator[Tensor], config: VAEConfig) -> dict[str, list[float]]:
    """Train `vae` for `config.num_steps` Adam steps on batches of images in [-1, 1] (tensors,
    or (images, labels) pairs whose labels are ignored, on the VAE's device). Returns the
    per-step record {"loss": [...], "mse": [...], "kl": [...]}."""
    device = next(vae.parameters()).device
    opt = torch.optim.Adam(vae.parameters(), lr=config.lr, betas=config.betas)
    noise = torch.Generator(device=device).manual_seed(config.seed)
    record: dict[str, list[float]] = {"loss": [], "mse": [], "kl": []}
    vae.train()
    for _ in range(config.num_steps):
        x = next(batches)
        x = x[0] if isinstance(x, (tuple, list)) else x
        x_rec, mu, logvar = vae(x, generator=noise)
        loss, mse, kl = negative_elbo(x, x_rec, mu, logvar)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for key, value in (("loss", loss.detach()), ("mse", mse), ("kl", kl)):
            record[key].append(float(value))
        if not math.isfinite(record["loss"][-1]):
            raise FloatingPointError(f"VAE training diverged at step {len(record['loss'])}: "
                                     "lower VAEConfig.lr")
    return record
