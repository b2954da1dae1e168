r"""GAN objectives as pure functions of discriminator **logits**, and the two gradient penalties.

Every loss is written as a quantity to *minimise*, returns a scalar (the batch mean), and
takes logits :math:`a = D(x)` rather than probabilities, so that the log-sigmoid terms are
computed stably (``softplus``) instead of as ``log(sigmoid(a))``.

Useful identities, with :math:`\sigma` the logistic sigmoid:
:math:`-\log \sigma(a) = \operatorname{softplus}(-a)` and
:math:`-\log(1 - \sigma(a)) = \operatorname{softplus}(a)`.

The discriminator and the generator always have *different* losses: a GAN is a two-player
game, not one network minimising one number.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def bce_d_loss(real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0) -> Tensor:
    r"""Discriminator loss of the original GAN: binary cross-entropy, real → 1, fake → 0.

    .. math:: L_D = -\mathbb{E}_x[\log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))]

    It is :math:`-V(D, G)` of Goodfellow et al. (2014, Eq. 1), so minimising it maximises V.
    At :math:`D \equiv 1/2` (all logits 0) it equals :math:`2 \log 2`.
    Source: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661.

    With ``real_label`` = :math:`t < 1`, *one-sided label smoothing* (Salimans et al., "Improved
    Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498, Sec. 3.4): the real target is
    t, the fake target stays 0, so the real term becomes
    :math:`-t \log D(x) - (1 - t) \log(1 - D(x))` and the optimal D is
    :math:`t\,p_{data} / (p_{data} + p_g)`. ``real_label=1`` is the plain loss, exactly.
    """
    if real_label == 1.0:
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if not 0 <= real_label <= 1:
        raise ValueError(f"real_label must be in [0, 1], got {real_label}")
    real_term = real_label * F.softplus(-real_logits) + (1 - real_label) * F.softplus(real_logits)
    return real_term.mean() + F.softplus(fake_logits).mean()


def saturating_g_loss(fake_logits: Tensor) -> Tensor:
    r"""The generator's side of the minimax game, :math:`\min_G \mathbb{E}_z[\log(1 - D(G(z)))]`.

    Its gradient with respect to the logit is :math:`-\sigma(a)`, which vanishes when D confidently
    rejects the fakes (early in training), hence "saturating" (Goodfellow et al. 2014, Sec. 3).
    """
    return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(a)) = -softplus(a)


def nonsaturating_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Non-saturating generator loss, :math:`\min_G -\mathbb{E}_z[\log D(G(z))]`.

    Same fixed point as the saturating loss but a gradient :math:`-(1 - \sigma(a))` that is
    largest exactly when D rejects the fakes. Recommended by Goodfellow et al. (2014, Sec. 3)
    and used by almost every GAN since.
    """
    return F.softplus(-fake_logits).mean()  # -log sigmoid(a) = softplus(-a)


def least_squares_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""LSGAN discriminator loss with targets b = 1 (real), a = 0 (fake).

    .. math:: L_D = \tfrac12 \mathbb{E}_x[(D(x) - 1)^2] + \tfrac12 \mathbb{E}_z[D(G(z))^2]

    Here D(x) is the raw output (no sigmoid). Source: Mao et al., "Least Squares Generative
    Adversarial Networks", ICCV 2017, arXiv:1611.04076, Eq. 2 with a = 0, b = c = 1.
    """
    return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()


def least_squares_g_loss(fake_logits: Tensor) -> Tensor:
    r"""LSGAN generator loss :math:`\tfrac12 \mathbb{E}_z[(D(G(z)) - 1)^2]`.

    Source: Mao et al. 2017, Eq. 2 with c = 1.
    """
    return 0.5 * ((fake_logits - 1) ** 2).mean()


def hinge_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Hinge discriminator loss.

    .. math:: L_D = \mathbb{E}_x[\max(0, 1 - D(x))] + \mathbb{E}_z[\max(0, 1 + D(G(z)))]

    Sources: Lim & Ye, "Geometric GAN", arXiv:1705.02894 (2017); Miyato et al., "Spectral
    Normalization for GANs", ICLR 2018, arXiv:1802.05957, Eq. 16.
    """
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Hinge generator loss :math:`-\mathbb{E}_z[D(G(z))]` (Miyato et al. 2018, Eq. 17)."""
    return -fake_logits.mean()


def wasserstein_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Wasserstein critic loss :math:`\mathbb{E}_z[D(G(z))] - \mathbb{E}_x[D(x)]`.

    Minimising it maximises the Kantorovich–Rubinstein estimate of :math:`W_1(p_{data}, p_g)`,
    valid only if D is (close to) 1-Lipschitz: add `gradient_penalty` (WGAN-GP) or spectral norm.
    Source: Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017, arXiv:1701.07875, Eq. 3.
    """
    return fake_logits.mean() - real_logits.mean()


def wasserstein_g_loss(fake_logits: Tensor) -> Tensor:
    r"""Wasserstein generator loss :math:`-\mathbb{E}_z[D(G(z))]` (Arjovsky et al. 2017)."""
    return -fake_logits.mean()


def _input_gradient_norm(outputs: Tensor, inputs: Tensor) -> Tensor:
    """Per-sample L2 norm of d(sum outputs)/d(inputs), kept in the graph so it can be trained on."""
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.flatten(start_dim=1).norm(2, dim=1)  # (N,)


def gradient_penalty(
    D: Callable[..., Tensor],
    x_real: Tensor,
    x_fake: Tensor,
    y: Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""WGAN-GP penalty on random interpolates between real and fake samples.

    .. math:: \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1)^2\big],
              \quad \hat x = \epsilon x + (1 - \epsilon) \tilde x,\; \epsilon \sim U[0, 1]

    Multiply by :math:`\lambda` (10 in the paper) and add to the critic loss. It is 0 for a
    linear critic with a unit-norm weight. Source: Gulrajani et al., "Improved Training of
    Wasserstein GANs", NeurIPS 2017, arXiv:1704.00028, Algorithm 1.
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real {tuple(x_real.shape)} and x_fake {tuple(x_fake.shape)} "
                         "must have the same shape")
    eps_shape = (x_real.shape[0],) + (1,) * (x_real.dim() - 1)  # one epsilon per sample
    eps = torch.rand(eps_shape, generator=generator, device=x_real.device, dtype=x_real.dtype)
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)
    logits = D(x_hat) if y is None else D(x_hat, y)
    return ((_input_gradient_norm(logits, x_hat) - 1) ** 2).mean()


def r1_penalty(real_logits: Tensor, x_real: Tensor) -> Tensor:
    r"""R1 penalty: the squared gradient norm of D on real data.

    .. math:: R_1 = \mathbb{E}_x\big[\lVert \nabla_x D(x) \rVert_2^2\big]

    Add :math:`\tfrac{\gamma}{2} R_1` to the discriminator loss. Call ``x_real.requires_grad_()``
    *before* computing ``real_logits = D(x_real)``. Source: Mescheder, Geiger & Nowozin,
    "Which Training Methods for GANs do actually Converge?", ICML 2018, arXiv:1801.04406, Eq. 9.
    """
    if not x_real.requires_grad:
        raise ValueError("r1_penalty needs the gradient with respect to x_real: call "
                         "x_real.requires_grad_() before computing real_logits = D(x_real)")
    return (_input_gradient_norm(real_logits, x_real) ** 2).mean()


LossFn = Callable[..., Tensor]

# name -> (discriminator loss, generator loss); `fit` looks the pair up by TrainConfig.loss.
LOSSES: dict[str, tuple[LossFn, LossFn]] = {
    "nonsaturating": (bce_d_loss, nonsaturating_g_loss),
    "saturating": (bce_d_loss, saturating_g_loss),
    "least-squares": (least_squares_d_loss, least_squares_g_loss),
    "hinge": (hinge_d_loss, hinge_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
}


def get_losses(name: str) -> tuple[LossFn, LossFn]:
    """The (discriminator loss, generator loss) pair called `name` in `LOSSES`."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None
