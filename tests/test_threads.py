"""The thread choice of `fit`: FLOP counts with known answers, the threshold, and restoration."""

import pytest
import torch

from ganbook.data import infinite_batches
from ganbook.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ganbook.recipes import MIXTURE_RECIPES, DigitsRecipe
from ganbook.threads import SMALL_STEP_FLOPS, auto_num_threads, cpu_threads, forward_flops
from ganbook.train import TrainConfig, fit


def test_forward_flops_of_linear_layers_is_two_multiply_adds_per_weight():
    # G: 2 -> 4 -> 2, D: 2 -> 4 -> 1; a Linear(in, out) on b rows costs 2 * b * in * out FLOPs.
    G = MLPGenerator(2, (2,), hidden_dim=4, num_hidden=1)
    D = MLPDiscriminator((2,), hidden_dim=4, num_hidden=1)
    assert forward_flops(G, D, batch_size=10) == 2 * 10 * (2 * 4 + 4 * 2 + 2 * 4 + 4 * 1)


def test_forward_flops_counts_packed_rows_once():
    G = MLPGenerator(2, (2,), hidden_dim=4, num_hidden=1)
    D = MLPDiscriminator((2,), hidden_dim=4, num_hidden=1, pack=2)  # 4 -> 4 -> 1 on b/2 rows
    assert forward_flops(G, D, batch_size=10) == 2 * 10 * (8 + 8) + 2 * 5 * (16 + 4)


def test_forward_flops_leaves_batchnorm_statistics_and_modes_alone():
    G, D = DCGANGenerator(8, 8, 1, 8), DCGANDiscriminator(8, 1, 8)
    D.eval()
    before = [b.clone() for b in G.buffers()]
    forward_flops(G, D, 16)
    assert G.training and not D.training
    assert all(torch.equal(a, b) for a, b in zip(before, G.buffers(), strict=True))


def test_conditional_models_are_counted_with_labels():
    recipe = DigitsRecipe(num_classes=10)
    G, D = recipe.build(0)
    assert forward_flops(G, D, 64) > 0


def test_small_networks_get_one_thread_and_a_32px_dcgan_the_default():
    G, D = MIXTURE_RECIPES["recommended"].build(0)
    assert forward_flops(G, D, 256) < SMALL_STEP_FLOPS
    assert auto_num_threads(G, D, 256) == 1
    G, D = DCGANGenerator(100, 32, 3, 64), DCGANDiscriminator(32, 3, 64)
    assert forward_flops(G, D, 64) > SMALL_STEP_FLOPS
    with cpu_threads(2):  # the caller's count is kept for a large step
        assert auto_num_threads(G, D, 64) == 2


def test_cpu_threads_restores_the_count_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), cpu_threads(2):
        assert torch.get_num_threads() == 2
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive int"):
        with cpu_threads(0):
            pass


def test_fit_restores_the_callers_thread_count_and_validates_num_threads():
    torch.set_num_threads(2)
    try:
        seen = []
        G, D = MIXTURE_RECIPES["plain"].build(0)
        x = torch.randn(64, 2)
        fit(G, D, infinite_batches(x, 32), TrainConfig(num_steps=2, batch_size=32),
            callbacks=[lambda *_: seen.append(torch.get_num_threads())])
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    with pytest.raises(ValueError, match="num_threads"):
        TrainConfig(num_threads=0)
