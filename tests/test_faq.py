import pytest
import torch
from torch import nn

from ganbook.faq import CLAIMS, glorot_init, run_claim, with_dropout
from ganbook.models import MLPDiscriminator
from ganbook.train import TrainConfig


def test_glorot_init_bounds_and_zero_bias():
    layer = nn.Linear(30, 70)
    glorot_init(layer)
    bound = (6 / (30 + 70)) ** 0.5
    assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
    assert torch.equal(layer.bias, torch.zeros(70))


def test_with_dropout_adds_one_dropout_per_hidden_layer():
    D = with_dropout(MLPDiscriminator(hidden_dim=8, num_hidden=3), 0.5)
    assert sum(isinstance(m, nn.Dropout) for m in D.net) == 3
    D.eval()
    x = torch.randn(4, 2)
    assert torch.equal(D(x), D(x))  # no dropout in eval mode


def test_every_claim_runs_and_unknown_names_fail():
    result = run_claim("SGD, lr 0.1", seed=0, num_steps=5)
    assert set(result) == {"modes", "high_quality", "reverse_kl", "seconds"}
    assert len(CLAIMS) == 5
    with pytest.raises(ValueError, match="unknown variant"):
        run_claim("RMSprop")


def test_sgd_optimizer_option():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    from ganbook.data import MixtureBatches, ring_mixture
    from ganbook.models import MLPGenerator
    from ganbook.train import _Loop

    G, D = MLPGenerator(hidden_dim=8), MLPDiscriminator(hidden_dim=8)
    loop = _Loop(G, D, MixtureBatches(ring_mixture(), 8), TrainConfig(optimizer="sgd", lr_g=0.1))
    assert isinstance(loop.opt_g, torch.optim.SGD) and loop.opt_g.defaults["momentum"] == 0
    assert isinstance(_Loop(G, D, iter([]), TrainConfig()).opt_d, torch.optim.Adam)
