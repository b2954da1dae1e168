"""Known answers for ganbook.scores, and agreement with torchmetrics on the same inputs (for FID
too: ganbook.metrics.frechet_distance against torchmetrics' FrechetInceptionDistance)."""

import math

import pytest
import torch
from torch import nn

from ganbook.data import load_images
from ganbook.judge import train_digits_judge
from ganbook.metrics import frechet_distance
from ganbook.scores import inception_score, judge_inception_score, judge_kid, kid


def _gauss(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class _Passthrough(nn.Module):
    """torchmetrics' custom extractor for features that are already computed."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.double()


def test_one_hot_and_balanced_reaches_k():
    probs = torch.eye(10).repeat(7, 1)  # 70 confident samples, 7 of each class
    assert inception_score(probs) == pytest.approx((10.0, 0.0))


def test_identical_predictions_score_one():
    probs = torch.tensor([0.2, 0.5, 0.3]).repeat(50, 1)
    assert inception_score(probs)[0] == pytest.approx(1.0)


def test_two_sample_closed_form():
    # p(y) = (3/4, 1/4); KL rows: log(4/3) and (1/2) log(2/3) + (1/2) log 2
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    expected = math.exp((math.log(4 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)) / 2)
    assert inception_score(probs)[0] == pytest.approx(expected, rel=1e-12)


def test_splits_are_consecutive_blocks():
    block_a = torch.eye(2).repeat(4, 1)  # IS 2
    block_b = torch.tensor([0.5, 0.5]).repeat(8, 1)  # IS 1
    mean, std = inception_score(torch.cat([block_a, block_b]), splits=2)
    assert mean == pytest.approx(1.5) and std == pytest.approx(0.5)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torchmetrics: buffers; std of one split
def test_inception_score_agrees_with_torchmetrics():
    from torchmetrics.image.inception import InceptionScore

    logits = 3 * _gauss(500, 10, 0)
    metric = InceptionScore(feature=_Passthrough(10), splits=1)
    metric.update(logits)
    expected, _ = metric.compute()
    assert abs(inception_score(logits.softmax(dim=1))[0] - float(expected)) < 1e-9


def test_inception_score_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="softmax"):
        inception_score(torch.randn(4, 3))
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.eye(3), splits=4)


def _mmd2_unbiased(a: torch.Tensor, b: torch.Tensor) -> float:
    """The unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, written out from Bińkowski et al."""
    d, m = a.shape[1], a.shape[0]
    k_aa, k_bb, k_ab = ((x @ y.T / d + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
    off = (k_aa.sum() - k_aa.trace() + k_bb.sum() - k_bb.trace()) / (m * (m - 1))
    return float(off - 2 * k_ab.mean())


def test_kid_with_one_full_subset_is_the_unbiased_mmd():
    a, b = _gauss(200, 16, 1), _gauss(200, 16, 2) + 0.3
    mean, std = kid(a, b, subsets=1, subset_size=200)
    assert abs(mean - _mmd2_unbiased(a, b)) < 1e-9 and std == 0.0


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    a, b = _gauss(600, 16, 3), _gauss(600, 16, 4)
    same, same_std = kid(a, b, subsets=50, subset_size=300)
    shifted, _ = kid(a, b + 0.5, subsets=50, subset_size=300)
    assert abs(same) < 2 * same_std + 1e-3 and shifted > 10 * abs(same)


def test_kid_is_seeded_and_leaves_the_global_random_state_alone():
    a, b = _gauss(100, 4, 5), _gauss(120, 4, 6)
    state = torch.get_rng_state()
    first = kid(a, b, subsets=5, subset_size=50, seed=3)
    assert torch.equal(state, torch.get_rng_state())
    assert first == kid(a, b, subsets=5, subset_size=50, seed=3)
    assert first != kid(a, b, subsets=5, subset_size=50, seed=4)


def test_kid_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="subset_size"):
        kid(_gauss(10, 3, 0), _gauss(20, 3, 1), subset_size=11)
    with pytest.raises(ValueError, match="dimensions differ"):
        kid(_gauss(10, 3, 0), _gauss(10, 4, 1))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_frechet_distance_agrees_with_torchmetrics_fid():
    from torchmetrics.image.fid import FrechetInceptionDistance

    a, b = _gauss(400, 16, 7), 1.3 * _gauss(300, 16, 8) + 0.2
    metric = FrechetInceptionDistance(feature=_Passthrough(16), normalize=True)
    metric.update(a, real=True)
    metric.update(b, real=False)
    assert abs(frechet_distance(a, b) - float(metric.compute())) < 1e-6


def test_judge_scores_of_real_digits():
    judge = train_digits_judge()
    x_train, _ = load_images("digits", split="train")
    x_test, y_test = load_images("digits", split="test")
    score, _ = judge_inception_score(judge, x_test)
    assert 8.5 < score <= 10  # a confident judge, ten balanced classes
    one_digit = x_test[y_test == 3]
    assert judge_inception_score(judge, one_digit)[0] < 1.5  # one class: no diversity
    real_mean, real_std = judge_kid(judge, x_train, x_test, subsets=20)
    noise = torch.rand(359, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise_mean, _ = judge_kid(judge, x_train, noise, subsets=20)
    assert abs(real_mean) < 3 * real_std + 0.05 and noise_mean > 20 * abs(real_mean)
