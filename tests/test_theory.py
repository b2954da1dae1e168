"""Known answers for ganbook.theory: Goodfellow et al. (2014) Proposition 1 and Theorem 1, the
divergences, the generator-loss gradients, and the Dirac-GAN of Mescheder et al. (2018)."""

import math

import numpy as np
import pytest

from ganbook.theory import (
    dirac_gan_eigenvalues,
    dirac_gan_jacobian,
    dirac_gan_vector_field,
    gaussian_pdf,
    js_divergence,
    kl_divergence,
    mixture_pdf,
    nonsaturating_grad_wrt_logit,
    nonsaturating_loss,
    optimal_discriminator,
    saturating_grad_wrt_logit,
    saturating_loss,
    simulate_dirac_gan,
    simultaneous_gd_spectral_radius,
    value_function,
    virtual_training_criterion,
)

LOG2, LOG4 = math.log(2.0), math.log(4.0)


@pytest.fixture
def grid() -> tuple[np.ndarray, float]:
    dx = 1e-3
    return np.arange(-20.0, 20.0, dx), dx  # Gaussians below have negligible mass outside


def _cells(lo: float, hi: float, dx: float = 1e-3) -> np.ndarray:
    """Cell centres, so that box densities with edges on multiples of dx integrate exactly."""
    return lo + dx * (np.arange(round((hi - lo) / dx)) + 0.5)


def _box(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.where((x > a) & (x < b), 1.0 / (b - a), 0.0)


# --- densities ---------------------------------------------------------------------------------

def test_gaussian_and_mixture_integrate_to_one(grid):
    x, dx = grid
    assert gaussian_pdf(0.0, 0.0, 1.0) == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert gaussian_pdf(x, 1.0, 0.5).sum() * dx == pytest.approx(1.0, abs=1e-10)
    p = mixture_pdf(x, [-2.0, 3.0], [0.5, 1.0], weights=[0.25, 0.75])
    assert p.sum() * dx == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(p, 0.25 * gaussian_pdf(x, -2, 0.5) + 0.75 * gaussian_pdf(x, 3, 1))
    np.testing.assert_allclose(mixture_pdf(x, [0.0, 1.0], [1.0, 1.0]),
                               mixture_pdf(x, [0.0, 1.0], [1.0, 1.0], weights=[0.5, 0.5]))


@pytest.mark.parametrize("kwargs", [
    {"means": [0.0], "stds": [1.0, 2.0]},
    {"means": [0.0, 1.0], "stds": [1.0, 1.0], "weights": [0.5, 0.6]},
    {"means": [0.0, 1.0], "stds": [1.0, 1.0], "weights": [1.5, -0.5]},
    {"means": [0.0], "stds": [0.0]},
])
def test_bad_density_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        mixture_pdf(np.zeros(3), **kwargs)


# --- Proposition 1: the optimal discriminator ---------------------------------------------------

def test_optimal_discriminator_two_gaussians(grid):
    x, _ = grid
    p_data, p_g = gaussian_pdf(x, 0.0, 1.0), gaussian_pdf(x, 2.0, 1.0)
    d_star = optimal_discriminator(p_data, p_g)
    # For N(0,1) vs N(2,1): p_g/p_data = exp(2x - 2), so D*(x) = sigmoid(2 - 2x).
    pts = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 4.0])
    exact = 1.0 / (1.0 + np.exp(2.0 * pts - 2.0))
    np.testing.assert_allclose(optimal_discriminator(gaussian_pdf(pts, 0, 1),
                                                     gaussian_pdf(pts, 2, 1)), exact, rtol=1e-12)
    assert optimal_discriminator(gaussian_pdf(1.0, 0, 1), gaussian_pdf(1.0, 2, 1)) == 0.5
    assert d_star[np.searchsorted(x, -10.0)] > 1 - 1e-8  # p_g << p_data: D* -> 1
    assert d_star[np.searchsorted(x, 12.0)] < 1e-8  # p_data << p_g: D* -> 0
    assert np.all((d_star >= 0) & (d_star <= 1))


def test_optimal_discriminator_is_half_where_both_densities_vanish():
    np.testing.assert_array_equal(optimal_discriminator([0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 3.0, 2.0]),
                                  [0.5, 1.0, 0.0, 0.5])


# --- value function and Theorem 1 ---------------------------------------------------------------

def test_criterion_is_minus_log4_when_pg_equals_pdata(grid):
    x, dx = grid
    p = mixture_pdf(x, [-1.0, 2.0], [0.5, 0.8])
    assert virtual_training_criterion(p, p, dx) == pytest.approx(-LOG4, abs=1e-10)
    np.testing.assert_array_equal(optimal_discriminator(p, p), 0.5)


def test_theorem1_two_gaussians(grid):
    x, dx = grid
    p_data, p_g = gaussian_pdf(x, 0.0, 1.0), gaussian_pdf(x, 1.5, 0.7)
    jsd = js_divergence(p_data, p_g, dx)
    assert 0.1 < jsd < LOG2
    assert np.any(optimal_discriminator(p_data, p_g) == 1.0)  # tails where D* rounds to 1
    assert virtual_training_criterion(p_data, p_g, dx) == pytest.approx(-LOG4 + 2 * jsd, abs=1e-6)


def test_theorem1_half_overlapping_boxes_known_answer():
    # U(0,1) vs U(0.5,1.5): JSD = log(2)/2, so C(G) = -log 4 + log 2 = -log 2.
    dx = 1e-3
    x = _cells(-1.0, 2.5, dx)
    p, q = _box(x, 0.0, 1.0), _box(x, 0.5, 1.5)
    assert js_divergence(p, q, dx) == pytest.approx(LOG2 / 2, abs=1e-12)
    assert virtual_training_criterion(p, q, dx) == pytest.approx(-LOG2, abs=1e-12)


def test_optimal_discriminator_maximises_value(grid):
    x, dx = grid
    p_data, p_g = gaussian_pdf(x, 0.0, 1.0), gaussian_pdf(x, 2.0, 1.0)
    best = virtual_training_criterion(p_data, p_g, dx)
    inner = np.abs(x) < 8  # where D* does not round to exactly 0 or 1
    p_i, q_i = p_data[inner], p_g[inner]
    assert value_function(optimal_discriminator(p_i, q_i), p_i, q_i, dx) == pytest.approx(
        virtual_training_criterion(p_i, q_i, dx), abs=1e-12)
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    others = {
        "constant 1/2": np.full_like(x, 0.5),  # V = -log 4 exactly
        "too confident": sigmoid(4.0 - 4.0 * x),
        "shifted": sigmoid(1.0 - 2.0 * x),
        "wiggly": np.clip(sigmoid(2.0 - 2.0 * x) + 0.05 * np.sin(3 * x), 1e-6, 1 - 1e-6),
    }
    assert value_function(others["constant 1/2"], p_data, p_g, dx) == pytest.approx(-LOG4)
    for name, d in others.items():
        assert value_function(d, p_data, p_g, dx) < best - 1e-4, name


def test_value_function_zero_log_zero_and_infinity():
    dx = 0.5
    p, q = np.array([1.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0, 1.0])
    # The perfect discriminator on disjoint supports: V = 0 (every term is 0 log 0 or 1 log 1).
    assert value_function(np.array([1.0, 1.0, 0.0, 0.0]), p, q, dx) == 0.0
    assert value_function(np.array([0.0, 1.0, 0.0, 0.0]), p, q, dx) == -math.inf
    with pytest.raises(ValueError):
        value_function(np.array([1.2, 0.5, 0.5, 0.5]), p, q, dx)


# --- divergences --------------------------------------------------------------------------------

def test_jsd_disjoint_supports_is_log2_and_zero_for_equal():
    dx = 1e-3
    x = _cells(-2.0, 4.0, dx)
    p, q = _box(x, -1.0, 0.0), _box(x, 1.0, 3.0)
    assert js_divergence(p, q, dx) == pytest.approx(LOG2, abs=1e-12)
    assert js_divergence(p, p, dx) == 0.0
    assert virtual_training_criterion(p, q, dx) == pytest.approx(0.0, abs=1e-12)


def test_jsd_symmetric_and_bounded(grid):
    x, dx = grid
    p, q = gaussian_pdf(x, 0.0, 1.0), mixture_pdf(x, [-3.0, 4.0], [0.5, 2.0], [0.3, 0.7])
    assert js_divergence(p, q, dx) == pytest.approx(js_divergence(q, p, dx), abs=1e-12)
    assert 0.0 < js_divergence(p, q, dx) < LOG2
    assert kl_divergence(p, q, dx) != pytest.approx(kl_divergence(q, p, dx))  # KL is not


@pytest.mark.parametrize("m1,s1,m2,s2", [(0.0, 1.0, 1.0, 1.0), (0.5, 0.6, -1.0, 1.7),
                                         (2.0, 2.0, 0.0, 1.0)])
def test_kl_gaussians_closed_form(grid, m1, s1, m2, s2):
    x, dx = grid
    exact = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    got = kl_divergence(gaussian_pdf(x, m1, s1), gaussian_pdf(x, m2, s2), dx)
    assert got == pytest.approx(exact, abs=1e-8)


def test_kl_infinite_where_q_vanishes_on_support_of_p():
    assert kl_divergence([1.0, 1.0], [2.0, 0.0], 0.5) == math.inf
    assert kl_divergence([2.0, 0.0], [1.0, 1.0], 0.5) == pytest.approx(LOG2)


# --- saturating vs non-saturating generator loss ------------------------------------------------

def test_generator_losses_and_gradients_at_known_points():
    assert saturating_loss(0.5) == pytest.approx(-LOG2)
    assert nonsaturating_loss(0.5) == pytest.approx(LOG2)
    assert saturating_grad_wrt_logit(0.5) == -0.5
    assert nonsaturating_grad_wrt_logit(0.5) == -0.5
    d = np.array([1e-2, 1e-4, 1e-8])  # D confidently rejects the fakes
    np.testing.assert_allclose(saturating_grad_wrt_logit(d), -d)  # -> 0: saturates
    np.testing.assert_allclose(nonsaturating_grad_wrt_logit(d), -(1 - d))  # -> -1
    assert abs(saturating_grad_wrt_logit(1e-8)) < 1e-7
    assert nonsaturating_grad_wrt_logit(1e-8) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        nonsaturating_loss(-0.1)


@pytest.mark.parametrize("a", [-8.0, -2.0, 0.0, 1.5, 5.0])
def test_gradient_formulas_match_finite_differences_in_the_logit(a):
    sig = lambda t: 1.0 / (1.0 + math.exp(-t))  # noqa: E731
    eps = 1e-6
    for loss, grad in [(saturating_loss, saturating_grad_wrt_logit),
                       (nonsaturating_loss, nonsaturating_grad_wrt_logit)]:
        fd = (loss(sig(a + eps)) - loss(sig(a - eps))) / (2 * eps)
        assert float(grad(sig(a))) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)


# --- Dirac-GAN ----------------------------------------------------------------------------------

def test_dirac_equilibrium_is_a_zero_and_field_is_rotational():
    for gamma in (0.0, 0.3):
        assert dirac_gan_vector_field(0.0, 0.0, gamma) == (0.0, 0.0)
    th, ps = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2, 2, 9))
    v_th, v_ps = dirac_gan_vector_field(th, ps)
    np.testing.assert_allclose(th * v_th + ps * v_ps, 0.0, atol=1e-15)  # v is orthogonal to z
    # G descends: with psi > 0 at theta = 1 (D scores theta as fake), theta moves toward 0.
    d_theta, d_psi = dirac_gan_vector_field(1.0, 1.0)
    assert d_theta < 0 and d_psi > 0


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.5])
def test_dirac_jacobian_matches_finite_differences(gamma):
    eps = 1e-6
    cols = []
    for e in ([eps, 0.0], [0.0, eps]):
        plus = np.array(dirac_gan_vector_field(e[0], e[1], gamma))
        minus = np.array(dirac_gan_vector_field(-e[0], -e[1], gamma))
        cols.append((plus - minus) / (2 * eps))
    np.testing.assert_allclose(np.column_stack(cols), dirac_gan_jacobian(gamma), atol=1e-9)
    np.testing.assert_array_equal(dirac_gan_jacobian(gamma), [[0, -0.5], [0.5, -gamma]])


def test_dirac_eigenvalues():
    np.testing.assert_array_equal(dirac_gan_eigenvalues(0.0), [0.5j, -0.5j])
    for gamma in (0.1, 0.3, 0.9, 1.0, 2.0):
        ev = dirac_gan_eigenvalues(gamma)
        ref = np.linalg.eigvals(dirac_gan_jacobian(gamma))
        np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(ref), atol=1e-7)
        assert np.all(ev.real < 0)
        if gamma < 1:
            np.testing.assert_allclose(ev.real, -gamma / 2)
            np.testing.assert_allclose(np.abs(ev.imag), math.sqrt(1 - gamma**2) / 2)


def test_simultaneous_gd_spectral_radius():
    for h in (0.01, 0.1, 1.0):
        rho = simultaneous_gd_spectral_radius(h)
        assert rho == pytest.approx(math.sqrt(1 + h**2 / 4)) and rho > 1
        update = np.eye(2) + h * dirac_gan_jacobian(0.0)
        assert rho == pytest.approx(np.abs(np.linalg.eigvals(update)).max())
    assert simultaneous_gd_spectral_radius(0.1, 0.3) == pytest.approx(math.sqrt(1 - 0.03 + 0.0025))
    assert simultaneous_gd_spectral_radius(0.1, 0.3) < 1
    assert simultaneous_gd_spectral_radius(1.5, 0.3) > 1  # h > 4 gamma: too large a step


def test_simultaneous_gd_spirals_outward():
    lr = 0.1
    traj = simulate_dirac_gan(1.0, 1.0, lr=lr, steps=500)
    assert traj.shape == (501, 2) and tuple(traj[0]) == (1.0, 1.0)
    r2 = (traj**2).sum(axis=1)
    assert np.all(np.diff(r2) > 0)
    assert r2[-1] > 2 * r2[0]
    v = np.stack(dirac_gan_vector_field(traj[:-1, 0], traj[:-1, 1]), axis=1)
    np.testing.assert_allclose(r2[1:], r2[:-1] + lr**2 * (v**2).sum(axis=1), rtol=1e-12)


def test_simultaneous_gd_growth_rate_near_equilibrium_is_the_spectral_radius():
    lr, steps = 0.5, 100
    traj = simulate_dirac_gan(1e-6, 0.0, lr=lr, steps=steps)
    growth = np.linalg.norm(traj[-1]) / np.linalg.norm(traj[0])
    assert growth == pytest.approx(simultaneous_gd_spectral_radius(lr) ** steps, rel=1e-6)


def test_alternating_gd_cycles_without_converging():
    traj = simulate_dirac_gan(1.0, 1.0, lr=0.1, steps=20_000, method="alternating")
    r = np.linalg.norm(traj, axis=1)
    assert r.max() < 1.05 * r[0]  # bounded
    assert r.min() > 0.95 * r[0]  # and not converging
    assert np.ptp(np.arctan2(traj[:, 1], traj[:, 0])) > 6.0  # it goes round


@pytest.mark.parametrize("method", ["simultaneous", "alternating"])
def test_r1_converges_to_equilibrium(method):
    traj = simulate_dirac_gan(1.0, 1.0, lr=0.1, steps=2_000, method=method, gamma=0.3)
    assert np.linalg.norm(traj[-1]) < 1e-6


def test_simulate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        simulate_dirac_gan(1.0, 1.0, lr=0.1, steps=10, method="extragradient")
    with pytest.raises(ValueError):
        simulate_dirac_gan(1.0, 1.0, lr=0.0, steps=10)
    with pytest.raises(ValueError, match="gamma"):
        simulate_dirac_gan(1.0, 1.0, lr=0.1, steps=10, gamma=-1.0)
    with pytest.raises(ValueError):
        simultaneous_gd_spectral_radius(-0.1)
    assert simulate_dirac_gan(0.3, -0.2, lr=0.1, steps=0).tolist() == [[0.3, -0.2]]
