import math

import pytest
import torch
from torch import nn

from ganbook.losses import (
    LOSSES,
    bce_d_loss,
    get_losses,
    gradient_penalty,
    hinge_d_loss,
    hinge_g_loss,
    least_squares_d_loss,
    least_squares_g_loss,
    nonsaturating_g_loss,
    r1_penalty,
    saturating_g_loss,
    wasserstein_d_loss,
    wasserstein_g_loss,
)


def test_bce_d_loss_at_d_one_half_is_two_log_two():
    zeros = torch.zeros(16)  # logit 0 <=> D = 1/2
    assert bce_d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2), abs=1e-7)


def test_bce_d_loss_matches_probability_formula():
    real, fake = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([-0.5, 1.5, 0.0])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert bce_d_loss(real, fake).item() == pytest.approx(expected.item(), rel=1e-6)


def test_bce_d_loss_is_stable_for_huge_logits():
    loss = bce_d_loss(torch.tensor([1e4]), torch.tensor([-1e4]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-6)


def test_generator_losses_match_log_formulas():
    fake = torch.tensor([-3.0, 0.0, 2.0])
    d = torch.sigmoid(fake)
    assert saturating_g_loss(fake).item() == pytest.approx(torch.log(1 - d).mean().item(), rel=1e-6)
    assert nonsaturating_g_loss(fake).item() == pytest.approx(-torch.log(d).mean().item(), rel=1e-6)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    # D confidently rejects the fake: logit -10, D(G(z)) ~ 4.5e-5.
    a = torch.tensor([-10.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(saturating_g_loss(a), a)
    (g_ns,) = torch.autograd.grad(nonsaturating_g_loss(a), a)
    assert g_sat.item() == pytest.approx(-torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-5)
    assert g_ns.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-10.0))).item(), rel=1e-5)
    assert abs(g_sat.item()) < 1e-4 < 0.99 < abs(g_ns.item())


def test_least_squares_hinge_wasserstein_known_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert least_squares_d_loss(real, fake).item() == pytest.approx(0.5 * 2 + 0.5 * 2)
    assert least_squares_g_loss(fake).item() == pytest.approx(0.5 * (1 + 9) / 2)
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.0 + (1 + 0) / 2)
    assert hinge_g_loss(fake).item() == pytest.approx(1.0)
    assert wasserstein_d_loss(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert wasserstein_g_loss(fake).item() == pytest.approx(1.0)


def test_d_and_g_losses_differ_for_every_pair():
    real, fake = torch.randn(8), torch.randn(8)
    for name, (d_loss, g_loss) in LOSSES.items():
        assert d_loss is not g_loss, name
        assert d_loss(real, fake).shape == () and g_loss(fake).shape == ()


class Linear(nn.Module):
    def __init__(self, w: torch.Tensor, b: float = 0.3):
        super().__init__()
        self.w, self.b = nn.Parameter(w), b

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


def test_gradient_penalty_is_zero_for_unit_norm_linear_critic():
    w = torch.tensor([0.6, 0.0, 0.8, 0.0])  # ||w|| = 1
    x_real, x_fake = torch.randn(32, 1, 2, 2), torch.randn(32, 1, 2, 2)
    gp = gradient_penalty(Linear(w), x_real, x_fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_known_value_and_trainable():
    critic = Linear(torch.tensor([3.0, 4.0]))  # ||w|| = 5 -> (5 - 1)^2 = 16
    gp = gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2))
    assert gp.item() == pytest.approx(16.0, rel=1e-6)
    gp.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    expected = 2 * 4 * torch.tensor([3.0, 4.0]) / 5
    assert torch.allclose(critic.w.grad, expected, atol=1e-5)


def test_r1_penalty_known_value_and_needs_grad():
    critic = Linear(torch.tensor([1.0, 2.0]))
    x = torch.randn(5, 2).requires_grad_(True)
    assert r1_penalty(critic(x), x).item() == pytest.approx(5.0, rel=1e-6)  # ||w||^2
    with pytest.raises(ValueError, match="requires_grad_"):
        x2 = torch.randn(5, 2)
        r1_penalty(critic(x2), x2)


def test_gradient_penalty_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(Linear(torch.ones(2)), torch.randn(4, 2), torch.randn(3, 2))


def test_get_losses_unknown_name():
    assert get_losses("hinge") == (hinge_d_loss, hinge_g_loss)
    with pytest.raises(ValueError, match="unknown loss 'mse'.*nonsaturating"):
        get_losses("mse")
