r"""Closed forms of the chapter "The minimax game": the value function, the optimal
discriminator, the Jensen-Shannon identity, saturating vs non-saturating generator losses,
and the Dirac-GAN.

Densities are 1-D and live on a uniform grid: ``x = np.linspace(lo, hi, n)``, ``dx = x[1] - x[0]``,
and an integral :math:`\int g(x)\,dx` is the Riemann sum ``g(x).sum() * dx``. Inputs are
array-likes (numpy arrays, lists, CPU tensors); outputs are numpy ``float64`` arrays or floats.
Logarithms are natural, so divergences are in nats and :math:`\mathrm{JSD} \in [0, \log 2]`.

Sources:
Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661 (Eq. 1,
Proposition 1, Theorem 1). Mescheder, Geiger, Nowozin, "Which Training Methods for GANs do
actually Converge?", ICML 2018, arXiv:1801.04406 (the Dirac-GAN, Sec. 2 and 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

F_PRIME_0 = 0.5  # f'(0) for f(t) = -log(1 + e^{-t}): f'(t) = sigmoid(-t)


def _xlogy(a: Array, b: Array) -> Array:
    """a * log(b) with the convention 0 * log(anything) = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, a * np.log(np.where(a > 0, b, 1.0)), 0.0)


def _prob(d: ArrayLike) -> Array:
    d = np.asarray(d, dtype=np.float64)
    if np.any((d < 0) | (d > 1)):
        raise ValueError("d = D(G(z)) must be a probability in [0, 1]")
    return d


def gaussian_pdf(x: ArrayLike, mean: float, std: float) -> Array:
    r"""Normal density :math:`\mathcal{N}(x; \mu, \sigma^2) =
    \frac{1}{\sigma\sqrt{2\pi}} \exp\!\big(-\frac{(x-\mu)^2}{2\sigma^2}\big)`, with ``std`` > 0."""
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    z = (np.asarray(x, dtype=np.float64) - mean) / std
    return np.exp(-0.5 * z**2) / (std * np.sqrt(2 * np.pi))


def mixture_pdf(
    x: ArrayLike, means: Sequence[float], stds: Sequence[float],
    weights: Sequence[float] | None = None,
) -> Array:
    r"""Gaussian mixture :math:`p(x) = \sum_k \pi_k\, \mathcal{N}(x; \mu_k, \sigma_k^2)`.

    ``weights`` (:math:`\pi_k`) default to equal; they must be nonnegative and sum to 1.
    """
    if len(means) != len(stds) or len(means) == 0:
        raise ValueError("means and stds must be non-empty and of equal length")
    w = np.full(len(means), 1 / len(means)) if weights is None else np.asarray(weights, float)
    if w.shape != (len(means),) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError("weights must be one nonnegative number per component, summing to 1")
    return sum(wk * gaussian_pdf(x, m, s) for wk, m, s in zip(w, means, stds, strict=True))


def optimal_discriminator(p_data: ArrayLike, p_g: ArrayLike) -> Array:
    r"""The discriminator that maximises V for a fixed G (Goodfellow et al. 2014, Proposition 1):

    .. math:: D^*_G(x) = \frac{p_{\text{data}}(x)}{p_{\text{data}}(x) + p_g(x)}

    Where both densities are 0 the ratio is undefined and any value is optimal (V does not
    depend on D there); we return :math:`1/2`. Output in [0, 1]: a probability, not a logit.
    """
    p, q = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    s = p + q
    return np.divide(p, s, out=np.full_like(s, 0.5), where=s > 0)


def value_function(d: ArrayLike, p_data: ArrayLike, p_g: ArrayLike, dx: float) -> float:
    r"""The GAN value function (Goodfellow et al. 2014, Eq. 1) for a discriminator given as
    probabilities ``d`` = :math:`D(x)` on the grid:

    .. math:: V(D, G) = \int p_{\text{data}}(x) \log D(x) + p_g(x) \log(1 - D(x))\, dx

    Terms with zero density count 0 (:math:`0 \log 0 = 0`); the result is :math:`-\infty` if D is
    exactly 0 where :math:`p_{\text{data}} > 0` or exactly 1 where :math:`p_g > 0` (for
    :math:`V(D^*, G)` use :func:`virtual_training_criterion`, which avoids that rounding).
    """
    d = _prob(d)
    p, q = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    return float(np.sum(_xlogy(p, d) + _xlogy(q, 1.0 - d)) * dx)


def kl_divergence(p: ArrayLike, q: ArrayLike, dx: float) -> float:
    r"""Kullback-Leibler divergence in nats,
    :math:`\mathrm{KL}(p \,\|\, q) = \int p(x) \log \frac{p(x)}{q(x)}\, dx`
    (:math:`+\infty` where :math:`p > 0 = q`). Not symmetric."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    return float(np.sum(_xlogy(p, p) - _xlogy(p, q)) * dx)


def js_divergence(p: ArrayLike, q: ArrayLike, dx: float) -> float:
    r"""Jensen-Shannon divergence in nats, symmetric and in :math:`[0, \log 2]`:

    .. math:: \mathrm{JSD}(p \,\|\, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12
              \mathrm{KL}(q \,\|\, m), \qquad m = \tfrac12 (p + q)

    It is 0 iff p = q and :math:`\log 2` iff their supports are disjoint.
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, dx) + 0.5 * kl_divergence(q, m, dx)


def virtual_training_criterion(p_data: ArrayLike, p_g: ArrayLike, dx: float) -> float:
    r"""The generator's criterion once D is optimal, :math:`C(G) = \max_D V(D, G) = V(D^*_G, G)`.

    Goodfellow et al. (2014, Theorem 1): :math:`C(G) = -\log 4 + 2\,\mathrm{JSD}(p_{\text{data}}
    \,\|\, p_g)`, so its global minimum :math:`-\log 4` is reached exactly at
    :math:`p_g = p_{\text{data}}`. Computed as :math:`V(D^*, G)`, not from the identity, with
    :math:`1 - D^* = p_g / (p_{\text{data}} + p_g)` formed directly: far in the tails
    :math:`D^*` rounds to exactly 1 in float64 and ``value_function(D*, ...)`` would give
    :math:`-\infty`.
    """
    p, q = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    s = np.where(p + q > 0, p + q, 1.0)  # where p = q = 0 both terms are 0 log 0 = 0
    return float(np.sum(_xlogy(p, p / s) + _xlogy(q, q / s)) * dx)


def saturating_loss(d: ArrayLike) -> Array:
    r"""The minimax generator loss :math:`\log(1 - d)` with :math:`d = D(G(z)) \in (0, 1)`,
    to be minimised by G (Goodfellow et al. 2014, Eq. 1). Its gradient dies out when D
    rejects fakes: see :func:`saturating_grad_wrt_logit`."""
    return np.log1p(-_prob(d))


def nonsaturating_loss(d: ArrayLike) -> Array:
    r"""The non-saturating generator loss :math:`-\log d` with :math:`d = D(G(z)) \in (0, 1)`,
    minimised by G: "maximise :math:`\log D(G(z))`" (Goodfellow et al. 2014, Sec. 3). Same
    fixed point as :func:`saturating_loss`, strong gradient early in training."""
    with np.errstate(divide="ignore"):
        return -np.log(_prob(d))


def saturating_grad_wrt_logit(d: ArrayLike) -> Array:
    r"""Gradient of :math:`\log(1 - \sigma(a))` with respect to the discriminator's logit a,
    written as a function of :math:`d = \sigma(a)`:

    .. math:: \frac{\partial}{\partial a} \log(1 - \sigma(a)) = -\sigma(a) = -d

    Early in training D confidently rejects fakes, :math:`d \to 0`, so this gradient
    :math:`\to 0` and G learns nothing. In d the slope :math:`-1/(1-d)` stays near -1; it is
    the sigmoid's own saturation, :math:`\sigma'(a) = d(1-d) \to 0`, that kills the signal.
    """
    return -_prob(d)


def nonsaturating_grad_wrt_logit(d: ArrayLike) -> Array:
    r"""Gradient of :math:`-\log \sigma(a)` with respect to the logit a, with :math:`d = \sigma(a)`:

    .. math:: \frac{\partial}{\partial a} \bigl(-\log \sigma(a)\bigr) = -(1 - \sigma(a)) = -(1 - d)

    It tends to -1 (its largest magnitude) as :math:`d \to 0`: strongest exactly when D rejects
    the fakes. Both gradients equal -1/2 at d = 1/2.
    """
    return -(1.0 - _prob(d))


def _f_prime(t: Array) -> Array:
    """f'(t) = sigmoid(-t) for f(t) = -log(1 + e^{-t}), via tanh so it never overflows."""
    return 0.5 * (1.0 - np.tanh(0.5 * t))


def _check_gamma(gamma: float) -> None:
    if gamma < 0:
        raise ValueError(f"gamma (R1 weight) must be >= 0, got {gamma}")


def dirac_gan_vector_field(
    theta: ArrayLike, psi: ArrayLike, gamma: float = 0.0
) -> tuple[Array, Array]:
    r"""Gradient vector field of the Dirac-GAN (Mescheder et al. 2018, Sec. 2; R1: Sec. 3).

    Generator :math:`p_\theta = \delta_\theta`, data :math:`\delta_0`, discriminator logit
    :math:`D_\psi(x) = \psi x`, and :math:`L(\theta, \psi) = f(\psi\theta) + f(0)` with
    :math:`f(t) = -\log(1 + e^{-t})` (the standard GAN). G *descends* L; D *ascends*
    :math:`L - \frac{\gamma}{2}\psi^2` (the R1 penalty, since :math:`\partial_x D_\psi = \psi`):

    .. math:: v(\theta, \psi) = \bigl(-\psi f'(\psi\theta),\;
              \theta f'(\psi\theta) - \gamma\psi\bigr)

    Sign convention (Mescheder's Eq. 1): :math:`\sigma(\psi x)` is the probability D assigns
    to "fake"; Goodfellow's convention is :math:`\psi \to -\psi`, which mirrors the phase
    portrait and leaves every eigenvalue unchanged. Accepts arrays (for quiver plots).
    Returns :math:`(\dot\theta, \dot\psi)`; :math:`(0, 0)` is the equilibrium.
    """
    _check_gamma(gamma)
    theta, psi = np.asarray(theta, dtype=np.float64), np.asarray(psi, dtype=np.float64)
    fp = _f_prime(psi * theta)
    return -psi * fp, theta * fp - gamma * psi


def dirac_gan_jacobian(gamma: float = 0.0) -> Array:
    r"""Jacobian of :func:`dirac_gan_vector_field` at the equilibrium :math:`(0, 0)`:

    .. math:: J = \begin{pmatrix} 0 & -f'(0) \\ f'(0) & -\gamma \end{pmatrix},
              \qquad f'(0) = \tfrac12

    (Mescheder et al. 2018, Sec. 2; with R1, Sec. 3). Rows: :math:`\dot\theta, \dot\psi`.
    """
    _check_gamma(gamma)
    return np.array([[0.0, -F_PRIME_0], [F_PRIME_0, -gamma]])


def dirac_gan_eigenvalues(gamma: float = 0.0) -> NDArray[np.complex128]:
    r"""Eigenvalues of :func:`dirac_gan_jacobian`, from
    :math:`\lambda^2 + \gamma\lambda + \tfrac14 = 0`:

    .. math:: \lambda_\pm = \frac{-\gamma \pm \sqrt{\gamma^2 - 1}}{2}

    :math:`\gamma = 0`: :math:`\pm i/2`, purely imaginary, so the continuous flow circles
    (:math:`\theta^2 + \psi^2` is conserved) and simultaneous GD diverges for every step size.
    :math:`\gamma > 0`: real parts :math:`< 0` (:math:`-\gamma/2` while :math:`\gamma < 1`),
    locally convergent (Mescheder et al. 2018, Sec. 2 and 3).
    """
    _check_gamma(gamma)
    root = np.sqrt(complex(gamma**2 - 1.0))
    return np.array([(-gamma + root) / 2, (-gamma - root) / 2], dtype=np.complex128)


def simultaneous_gd_spectral_radius(lr: float, gamma: float = 0.0) -> float:
    r"""Spectral radius of simultaneous GD's linearised update :math:`I + hJ` at (0, 0),
    step :math:`h` = ``lr``: :math:`\max_\pm |1 + h\lambda_\pm|`.

    For :math:`\gamma < 1` this is :math:`\sqrt{1 - h\gamma + h^2/4}`; at :math:`\gamma = 0`,
    :math:`|1 \pm ih/2| = \sqrt{1 + h^2/4} > 1` for every :math:`h > 0`: no step size converges
    (Mescheder et al. 2018, Sec. 2). Below 1 iff :math:`h < 4\gamma` (for :math:`\gamma<1`).
    """
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    return float(np.max(np.abs(1.0 + lr * dirac_gan_eigenvalues(gamma))))


def simulate_dirac_gan(
    theta0: float, psi0: float, *, lr: float, steps: int,
    method: Literal["simultaneous", "alternating"] = "simultaneous", gamma: float = 0.0,
) -> Array:
    r"""Run gradient descent-ascent on the Dirac-GAN; returns the trajectory, shape (steps+1, 2),
    columns :math:`(\theta, \psi)`, row 0 the start (Mescheder et al. 2018, Sec. 2 and 3).

    - ``"simultaneous"``: :math:`(\theta, \psi) \leftarrow (\theta, \psi) + h\,v(\theta, \psi)`.
      Without R1, :math:`v \perp (\theta, \psi)`, so
      :math:`\|z_{k+1}\|^2 = \|z_k\|^2 + h^2 \|v(z_k)\|^2`: it spirals outward, every step.
    - ``"alternating"``: D first, then G at the new :math:`\psi` (the order of Goodfellow
      et al.'s Algorithm 1 and :func:`ganbook.train.fit`). Without R1 the linearised update
      has determinant 1: for a small ``lr`` it cycles around (0, 0), neither converging nor
      diverging (a larger ``lr`` lets the nonlinearity push it slowly outward).

    With :math:`\gamma > 0` (R1) and a small enough ``lr`` both converge to (0, 0).
    """
    if method not in ("simultaneous", "alternating"):
        raise ValueError(f"method must be 'simultaneous' or 'alternating', got {method!r}")
    if lr <= 0 or steps < 0:
        raise ValueError(f"need lr > 0 and steps >= 0, got lr={lr}, steps={steps}")
    _check_gamma(gamma)
    traj = np.empty((steps + 1, 2))  # (steps+1, [theta, psi])
    theta, psi = float(theta0), float(psi0)
    traj[0] = theta, psi
    for k in range(1, steps + 1):
        if method == "simultaneous":
            d_theta, d_psi = dirac_gan_vector_field(theta, psi, gamma)
            theta, psi = theta + lr * float(d_theta), psi + lr * float(d_psi)
        else:
            psi += lr * float(dirac_gan_vector_field(theta, psi, gamma)[1])  # D ascends
            theta += lr * float(dirac_gan_vector_field(theta, psi, gamma)[0])  # G descends
        traj[k] = theta, psi
    return traj
