"""Known answers for ganbook.dirac: the Dirac-GAN trained with ganbook's losses and stabilisers."""

import dataclasses

import numpy as np
import pytest

from ganbook.dirac import (
    NOISE_NODES,
    dirac_field,
    dirac_field_from_losses,
    dirac_jacobian,
    noise_nodes,
    simulate,
)
from ganbook.theory import dirac_gan_vector_field
from ganbook.train import TrainConfig

BASE = TrainConfig(num_steps=1000, lr_g=0.1, lr_d=0.1, progress=False)
VARIANTS = [{}, {"loss": "saturating"}, {"loss": "least-squares"}, {"loss": "hinge"},
            {"loss": "wasserstein"}, {"loss": "wasserstein", "lambda_gp": 1.0},
            {"r1_gamma": 0.7}, {"instance_noise": 0.4}, {"real_label": 0.9},
            {"r1_gamma": 0.3, "instance_noise": 0.2, "real_label": 0.8}]


def config(**change):
    return dataclasses.replace(BASE, **change)


@pytest.mark.parametrize("change", VARIANTS)
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_closed_form_matches_autograd_through_ganbook_losses(change, spectral_norm):
    for theta, psi in [(0.3, 0.7), (-1.2, 0.4), (0.5, -2.0)]:
        closed = dirac_field(theta, psi, config(**change), spectral_norm=spectral_norm)
        reference = dirac_field_from_losses(theta, psi, config(**change),
                                            spectral_norm=spectral_norm)
        assert np.allclose(closed, reference, atol=1e-9), (closed, reference)


def test_minimax_field_is_theory_with_mirrored_psi():
    for theta, psi in [(0.3, 0.7), (-1.0, 2.0)]:
        d_theta, d_psi = dirac_field(theta, psi, config(loss="saturating"))
        t_theta, t_psi = dirac_gan_vector_field(theta, -psi)  # Mescheder's sign convention
        assert np.isclose(d_theta, t_theta) and np.isclose(d_psi, -t_psi)


def test_jacobians_at_the_equilibrium():
    assert np.allclose(dirac_jacobian(BASE), [[0, 0.5], [-0.5, 0]], atol=1e-8)
    assert np.allclose(dirac_jacobian(config(r1_gamma=0.6)), [[0, 0.5], [-0.5, -0.6]], atol=1e-8)
    for loss in ("hinge", "wasserstein"):
        assert np.allclose(dirac_jacobian(config(loss=loss)), [[0, 1], [-1, 0]], atol=1e-8)
    sigma = 0.4  # instance noise: the linearised field damps psi by sigma^2 / 2
    var = sigma**2 * np.mean(np.square(noise_nodes(NOISE_NODES)))
    J = dirac_jacobian(config(instance_noise=sigma))
    assert np.allclose(J, [[0, 0.5], [-0.5, -var / 2]], atol=1e-7)
    assert np.all(np.linalg.eigvals(J).real < 0)


def test_which_methods_converge():
    assert simulate(config(r1_gamma=1.0)).distance() < 1e-6
    assert simulate(config(instance_noise=0.5)).distance() < 1e-2  # rate sigma^2 / 4 per unit time
    for change in ({}, {"loss": "wasserstein"}, {"loss": "hinge"}, {"lr_g": 0.05, "lr_d": 0.2}):
        assert simulate(config(**change)).distance() > 0.1, change


def test_label_smoothing_does_nothing_on_the_dirac_gan():
    # the data sit at 0, so D's logit on real data is 0 whatever psi is: the real target is unused
    assert np.array_equal(simulate(config(real_label=0.9)).path, simulate(BASE).path)


def test_weight_clipping_keeps_psi_in_range():
    run = simulate(config(loss="wasserstein", clip_value=0.1))
    assert np.abs(run.path[1:, 1]).max() <= 0.1


def test_spectral_norm_freezes_d_and_lets_g_run_away():
    run = simulate(config(loss="hinge"), theta0=1.0, psi0=1.0, spectral_norm=True)
    assert np.all(run.path[:, 1] == 1.0)  # psi / |psi| has no gradient in |psi|
    assert np.isclose(run.path[-1, 0], 1.0 + BASE.num_steps * BASE.lr_g)  # theta += lr each step


def test_weight_average_is_closer_than_the_cycling_generator():
    run = simulate(config(ema_decay=0.99, num_steps=2000))
    assert run.distance(ema=True) < 0.5 * run.distance()
    assert np.array_equal(simulate(BASE).theta_ema, simulate(BASE).path[:, 0])


def test_decay_starts_the_average_at_the_first_decayed_step():
    cfg = config(lr_decay_fraction=0.5, ema_decay=0.9)
    run = simulate(cfg)
    first = cfg.first_decayed_step
    assert np.array_equal(run.theta_ema[:first + 1], run.path[:first + 1, 0])
    assert not np.array_equal(run.theta_ema[first + 1:], run.path[first + 1:, 0])
