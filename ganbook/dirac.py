r"""The Dirac-GAN under every stabiliser of `TrainConfig`, trained with ganbook's own losses.

The Dirac-GAN (Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually
Converge?", ICML 2018, arXiv:1801.04406, Sec. 2): the data are a point mass at 0, the generator
is a point mass at :math:`\theta`, and the discriminator is linear, :math:`D_\psi(x) = \psi x`
(a logit, in ganbook's convention: large means "real"). The equilibrium is :math:`\theta = 0`,
:math:`\psi = 0`. `ganbook.theory` gives its closed forms for the standard loss and R1; this
module runs the *same* loss functions and penalties that `ganbook.train.fit` uses, read from a
`TrainConfig`: ``loss``, ``lambda_gp``, ``r1_gamma``, ``clip_value``, ``instance_noise``,
``real_label``, ``lr_g``/``lr_d`` (TTUR), ``lr_decay_fraction``/``lr_decay_factor`` and
``ema_decay``, plus spectral normalisation, which in one dimension is
:math:`\bar\psi = \psi / |\psi|`.

Two simplifications, both deliberate: the optimiser is plain gradient descent-ascent (no Adam),
and expectations over instance noise are taken over fixed nodes, the quantiles
:math:`\sigma\,\Phi^{-1}((i - \tfrac12)/n)` of the noise, instead of random draws, so every
trajectory is deterministic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from ganbook.losses import bce_d_loss, get_losses, gradient_penalty, r1_penalty
from ganbook.train import TrainConfig

NOISE_NODES = 64  # quantile nodes of the instance noise


@functools.lru_cache(maxsize=8)
def noise_nodes(n: int) -> tuple[float, ...]:
    """Standard normal quantiles at (i - 1/2) / n, i = 1..n: n equal-weight nodes standing in for
    N(0, 1) in expectations (their variance is a little below 1: 0.980 for n = 64)."""
    return tuple(NormalDist().inv_cdf((i + 0.5) / n) for i in range(n))


def _samples(center: Tensor, std: float) -> Tensor:
    """(n, 1) samples: `center` itself, or `center` plus the noise nodes times `std`."""
    if std == 0:
        return center.reshape(1, 1)
    eps = torch.tensor(noise_nodes(NOISE_NODES), dtype=torch.float64).reshape(-1, 1)
    return center + std * eps


def _slope(psi: Tensor, spectral_norm: bool) -> Tensor:
    """D's slope: psi, or psi / |psi| under spectral normalisation (sigma(W) = |psi| in 1-D)."""
    return psi / psi.abs().clamp_min(1e-12) if spectral_norm else psi


def dirac_field_from_losses(theta: float, psi: float, config: TrainConfig, *,
                            spectral_norm: bool = False, noise_std: float | None = None
                            ) -> tuple[float, float]:
    r"""Reference for `dirac_field`, by autograd through ganbook's loss functions and penalties
    (slow: use it to check). The update direction of both players at :math:`(\theta, \psi)`:
    :math:`(\dot\theta, \dot\psi) = (-\partial_\theta L_G, -\partial_\psi L_D)`, each player
    descending its own loss as `fit` does, with the penalties of `config` in :math:`L_D`.

    For the non-saturating loss and no penalty it is
    :math:`(\psi\,\sigma(-\psi\theta), -\theta\,\sigma(\psi\theta))`; for the saturating
    (minimax) loss it is `ganbook.theory.dirac_gan_vector_field` with :math:`\psi \to -\psi`
    (Mescheder's sign convention). Both linearise to the same field at (0, 0). ``noise_std``
    overrides ``config.instance_noise`` (for an annealed schedule).
    """
    std = config.instance_noise if noise_std is None else noise_std
    d_loss_fn, g_loss_fn = get_losses(config.loss)
    if config.real_label < 1:
        d_loss_fn = functools.partial(bce_d_loss, real_label=config.real_label)
    th = torch.tensor(float(theta), dtype=torch.float64, requires_grad=True)
    ps = torch.tensor(float(psi), dtype=torch.float64, requires_grad=True)

    def D(x: Tensor) -> Tensor:  # (N, 1) -> logits (N,)
        return _slope(ps, spectral_norm) * x[:, 0]

    x_real = _samples(torch.zeros((), dtype=torch.float64), std)
    x_real.requires_grad_(config.r1_gamma > 0)
    x_fake = _samples(th.detach(), std)
    real_logits = D(x_real)
    loss_d = d_loss_fn(real_logits, D(x_fake))
    if config.lambda_gp > 0:
        x_r, x_f = (x.detach().expand(NOISE_NODES, 1) for x in (x_real, x_fake))
        gen = torch.Generator().manual_seed(0)
        loss_d = loss_d + config.lambda_gp * gradient_penalty(D, x_r, x_f, generator=gen)
    if config.r1_gamma > 0:
        loss_d = loss_d + 0.5 * config.r1_gamma * r1_penalty(real_logits, x_real)
    (grad_psi,) = torch.autograd.grad(loss_d, ps, allow_unused=True)
    loss_g = g_loss_fn(D(_samples(th, std)))
    (grad_theta,) = torch.autograd.grad(loss_g, th)
    grad_psi = torch.zeros(()) if grad_psi is None else grad_psi
    return -float(grad_theta), -float(grad_psi)


def _sigmoid(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


# d(loss)/d(logit) of each loss: (D's real term, D's fake term, G's term), t = real_label.
_LOGIT_GRADS = {
    "nonsaturating": (lambda a, t: _sigmoid(a) - t, _sigmoid, lambda a: -_sigmoid(-a)),
    "saturating": (lambda a, t: _sigmoid(a) - t, _sigmoid, lambda a: -_sigmoid(a)),
    "least-squares": (lambda a, t: a - 1.0, lambda a: a, lambda a: a - 1.0),
    "hinge": (lambda a, t: -(a < 1.0).astype(float), lambda a: (a > -1.0).astype(float),
              lambda a: -np.ones_like(a)),
    "wasserstein": (lambda a, t: -np.ones_like(a), lambda a: np.ones_like(a),
                    lambda a: -np.ones_like(a)),
}


def dirac_field(theta: float, psi: float, config: TrainConfig, *, spectral_norm: bool = False,
                noise_std: float | None = None) -> tuple[float, float]:
    r"""The update direction of both players at :math:`(\theta, \psi)`:
    :math:`(\dot\theta, \dot\psi) = (-\partial_\theta L_G, -\partial_\psi L_D)`, each player
    descending its own loss as `fit` does, with the penalties of `config` in :math:`L_D`.

    With D's slope :math:`w = \psi` (or :math:`\psi/|\psi|` with spectral norm), real samples
    :math:`r_i` and fake :math:`f_i = \theta + \epsilon_i`, and :math:`\ell'` the derivative of a
    loss term in the logit:

    .. math::
        \partial_w L_D = \overline{\ell'_{real}(w r_i) r_i} + \overline{\ell'_{fake}(w f_i) f_i}
            + 2\lambda_{gp}(|w| - 1)\operatorname{sign} w + \gamma w,

        \partial_\theta L_G = \overline{\ell'_G(w f_i)}\, w

    since :math:`|\nabla_x D| = |w|` everywhere (WGAN-GP) and R1 is :math:`w^2`. For the
    non-saturating loss and no penalty this is :math:`(\psi\,\sigma(-\psi\theta),
    -\theta\,\sigma(\psi\theta))`; for the saturating loss it is
    `ganbook.theory.dirac_gan_vector_field` with :math:`\psi \to -\psi` (Mescheder's sign
    convention). Closed form; `dirac_field_from_losses`
    computes the same by autograd through `ganbook.losses`. ``noise_std`` overrides
    ``config.instance_noise`` (an annealed schedule passes its current value).
    """
    std = config.instance_noise if noise_std is None else noise_std
    real_grad, fake_grad, g_grad = _LOGIT_GRADS[config.loss]
    eps = std * np.asarray(noise_nodes(NOISE_NODES)) if std > 0 else np.zeros(1)
    r, f = eps, theta + eps  # real and fake samples
    w = (np.sign(psi) if psi != 0 else 0.0) if spectral_norm else psi
    dw_dpsi = 0.0 if spectral_norm else 1.0  # psi / |psi| does not change with |psi|
    grad_w = (np.mean(real_grad(w * r, config.real_label) * r) + np.mean(fake_grad(w * f) * f)
              + 2 * config.lambda_gp * (abs(w) - 1.0) * np.sign(w) + config.r1_gamma * w)
    grad_theta = np.mean(g_grad(w * f)) * w
    return -float(grad_theta), -float(grad_w * dw_dpsi)


def dirac_jacobian(config: TrainConfig, *, spectral_norm: bool = False, h: float = 1e-5
                   ) -> NDArray[np.float64]:
    r"""Jacobian of `dirac_field` at the equilibrium (0, 0) by central differences, rows
    :math:`\dot\theta, \dot\psi`. Its eigenvalues decide local convergence of the continuous
    dynamics: all real parts < 0 converge, purely imaginary ones circle (Mescheder et al. 2018,
    Sec. 2). For the standard loss it is :math:`\begin{pmatrix}0 & 1/2\\ -1/2 & 0\end{pmatrix}`.
    """
    J = np.empty((2, 2))
    for j, (dt, dp) in enumerate(((h, 0.0), (0.0, h))):
        plus = dirac_field(dt, dp, config, spectral_norm=spectral_norm)
        minus = dirac_field(-dt, -dp, config, spectral_norm=spectral_norm)
        J[:, j] = (np.array(plus) - np.array(minus)) / (2 * h)
    return J


@dataclass(frozen=True)
class DiracRun:
    """A Dirac-GAN trajectory: rows (theta, psi) after each step (row 0: the start), and the
    exponential moving average of theta (equal to theta where no average is kept)."""

    path: NDArray[np.float64]  # (num_steps + 1, 2)
    theta_ema: NDArray[np.float64]  # (num_steps + 1,)

    def distance(self, last: float = 0.1, ema: bool = False) -> float:
        r"""The largest :math:`|\theta|` (G's distance to the data) over the `last` fraction of
        the steps, of G itself or of its average."""
        theta = self.theta_ema if ema else self.path[:, 0]
        return float(np.abs(theta[-max(1, int(last * (len(theta) - 1))):]).max())


def simulate(config: TrainConfig, theta0: float = 1.0, psi0: float = 1.0, *,
             spectral_norm: bool = False) -> DiracRun:
    r"""Train the Dirac-GAN for ``config.num_steps`` alternating steps, as `fit` orders them: D
    first (``n_critic`` times, each followed by weight clipping), then G at the new
    :math:`\psi`, with learning rates ``lr_d`` and ``lr_g`` times the decay factors over the
    last ``lr_decay_fraction`` of the steps, instance noise annealed as ``config.noise_std``
    says, and an EMA of :math:`\theta` kept as `fit` keeps G_ema.
    """
    theta, psi = float(theta0), float(psi0)
    path = np.empty((config.num_steps + 1, 2))
    ema = np.empty(config.num_steps + 1)
    path[0], ema[0] = (theta, psi), theta
    first = config.first_decayed_step if config.lr_decay_fraction > 0 else 1
    avg = theta
    for step in range(1, config.num_steps + 1):
        decayed = step >= config.first_decayed_step
        lr_d = config.lr_d * (config.lr_decay_factor if decayed else 1.0)
        lr_g = config.lr_g * (config.g_decay_factor if decayed else 1.0)
        std = config.noise_std(step)
        for _ in range(config.n_critic):
            psi += lr_d * dirac_field(theta, psi, config, spectral_norm=spectral_norm,
                                      noise_std=std)[1]
            if config.clip_value > 0:
                psi = min(max(psi, -config.clip_value), config.clip_value)
        theta += lr_g * dirac_field(theta, psi, config, spectral_norm=spectral_norm,
                                    noise_std=std)[0]
        if config.ema_decay > 0 and step >= first:
            beta = config.ema_decay
            avg = theta if step == first else beta * avg + (1 - beta) * theta
        else:
            avg = theta
        path[step], ema[step] = (theta, psi), avg
    return DiracRun(path, ema)
