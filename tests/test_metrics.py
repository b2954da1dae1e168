import math

import numpy as np
import pytest
import torch

from ganbook.data import grid_mixture, load_images
from ganbook.judge import DigitsJudge, train_digits_judge
from ganbook.metrics import (
    class_histogram,
    class_kl_to_uniform,
    digits_fid_floor,
    frechet_distance,
    gaussian_frechet_distance,
    judge_confidence,
    judge_features,
    judge_fid,
    mode_coverage,
)

CENTERS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
STD = 0.01


def test_all_modes_hit_evenly():
    samples = CENTERS.repeat(25, 1) + 0.005  # 100 samples, 25 per mode, all within 3 sigma
    result = mode_coverage(samples, CENTERS, STD)
    assert result.modes == 4
    assert result.high_quality == 1.0
    assert result.reverse_kl == pytest.approx(0.0, abs=1e-12)
    assert result.counts.tolist() == [25, 25, 25, 25]


def test_one_mode_only():
    samples = CENTERS[1].repeat(50, 1)
    result = mode_coverage(samples, CENTERS, STD)
    assert result.modes == 1 and result.high_quality == 1.0
    assert result.reverse_kl == pytest.approx(math.log(4), rel=1e-9)  # KL(delta || uniform)


def test_all_far_away():
    samples = torch.full((30, 2), 10.0)
    result = mode_coverage(samples, CENTERS, STD)
    assert result.modes == 0 and result.high_quality == 0.0 and math.isinf(result.reverse_kl)


def test_three_sigma_boundary_and_low_quality_samples_do_not_capture():
    inside = torch.tensor([[0.029, 0.0]])  # 2.9 sigma from mode 0
    outside = torch.tensor([[0.0, 1.031]])  # 3.1 sigma from mode 2
    result = mode_coverage(torch.cat([inside, outside]), CENTERS, STD)
    assert result.modes == 1 and result.high_quality == 0.5
    assert result.counts.tolist() == [1, 0, 0, 0]


def test_uneven_histogram_reverse_kl():
    samples = torch.cat([CENTERS[0].repeat(3, 1), CENTERS[1].repeat(1, 1)])
    p = torch.tensor([0.75, 0.25], dtype=torch.float64)
    expected = float((p * torch.log(p * 4)).sum())
    assert mode_coverage(samples, CENTERS, STD).reverse_kl == pytest.approx(expected, rel=1e-9)


def test_bad_shapes_are_clear():
    with pytest.raises(ValueError, match="same D"):
        mode_coverage(torch.zeros(5, 3), CENTERS, STD)
    with pytest.raises(ValueError, match="at least one sample"):
        mode_coverage(torch.zeros(0, 2), CENTERS, STD)


# --- Fréchet distance, FID in judge features, class coverage ------------------------------


@pytest.fixture(scope="module")
def judge() -> DigitsJudge:
    return train_digits_judge()


@pytest.fixture(scope="module")
def digits_test_split() -> tuple[torch.Tensor, torch.Tensor]:
    return load_images("digits", split="test")


def _feats(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_gaussian_fd_equal_covariances_is_squared_mean_difference():
    sigma = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    mu_a, mu_b = torch.tensor([1.0, 2.0]), torch.tensor([-2.0, 6.0])
    assert gaussian_frechet_distance(mu_a, sigma, mu_b, sigma) == pytest.approx(25.0, rel=1e-9)


def test_gaussian_fd_diagonal_covariances():
    # commuting covariances: sum_i (sqrt(a_i) - sqrt(b_i))^2
    mu = torch.zeros(3)
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.0])
    expected = 1.0 + 1.0 + 9.0
    assert gaussian_frechet_distance(mu, a.diag(), mu, b.diag()) == pytest.approx(expected)


def test_gaussian_fd_non_commuting_2x2_closed_form():
    # for 2x2 PSD A, B: Tr (AB)^{1/2} = sqrt(Tr(AB) + 2 sqrt(det A det B))
    A = torch.tensor([[2.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    B = torch.tensor([[1.0, -0.3], [-0.3, 3.0]], dtype=torch.float64)
    assert not torch.allclose(A @ B, B @ A)
    tr_sqrt = math.sqrt(float((A @ B).trace()) + 2 * math.sqrt(float(A.det() * B.det())))
    expected = float(A.trace() + B.trace()) - 2 * tr_sqrt
    mu = torch.zeros(2)
    assert gaussian_frechet_distance(mu, A, mu, B) == pytest.approx(expected, rel=1e-10)
    assert gaussian_frechet_distance(mu, B, mu, A) == pytest.approx(expected, rel=1e-10)


def test_gaussian_fd_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match="covariances"):
        gaussian_frechet_distance(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2))


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = _feats(200, 8, 0)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_a_shifted_set_is_squared_shift():
    x = _feats(300, 5, 1)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5, 3.0], dtype=torch.float64)
    assert frechet_distance(x, x + shift) == pytest.approx(float(shift.square().sum()), rel=1e-8)


def test_frechet_distance_1d_closed_form_and_symmetry():
    a, b = _feats(500, 1, 2), 3.0 * _feats(400, 1, 3) + 1.5
    mu_a, mu_b = a.mean().item(), b.mean().item()
    sd_a, sd_b = a.std().item(), b.std().item()  # N - 1, as in frechet_distance
    expected = (mu_a - mu_b) ** 2 + (sd_a - sd_b) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_symmetric_and_stable_with_large_offsets():
    a, b = _feats(100, 16, 4) + 1e3, 0.5 * _feats(150, 16, 5) + 1e3
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)
    assert frechet_distance(a.float(), a.float()) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(torch.zeros(4, 3), torch.zeros(5, 2))


def test_judge_fid_agrees_with_frechet_distance_on_judge_features(judge, digits_test_split):
    x_train, _ = load_images("digits", split="train")
    x_test, _ = digits_test_split
    direct = frechet_distance(judge_features(judge, x_train), judge_features(judge, x_test))
    assert judge_fid(judge, x_train, x_test, batch_size=100) == pytest.approx(direct, rel=1e-6)
    assert judge_fid(judge, x_test, x_test) == pytest.approx(0.0, abs=1e-6)


def test_fid_floor_is_small_next_to_noise(judge):
    x_train, _ = load_images("digits", split="train")
    noise = torch.rand(359, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    floor, noise_fid = digits_fid_floor(judge), judge_fid(judge, x_train, noise)
    assert 0 < floor < 0.1 * noise_fid


def test_class_kl_to_uniform_known_values():
    assert class_kl_to_uniform(torch.full((10,), 0.1)) == pytest.approx(0.0, abs=1e-12)
    assert class_kl_to_uniform(torch.eye(10)[3]) == pytest.approx(math.log(10), rel=1e-12)
    assert class_kl_to_uniform(torch.tensor([3, 1, 0, 0])) == pytest.approx(
        0.75 * math.log(3.0) + 0.25 * math.log(1.0), rel=1e-12)  # counts are normalised
    with pytest.raises(ValueError, match="non-negative"):
        class_kl_to_uniform(torch.zeros(10))


def test_class_histogram_of_real_digits_is_near_uniform(judge, digits_test_split):
    x, y = digits_test_split
    hist = class_histogram(judge, x)
    assert hist.shape == (10,) and float(hist.sum()) == pytest.approx(1.0)
    label_hist = np.bincount(y.numpy(), minlength=10) / len(y)
    assert np.abs(hist.numpy() - label_hist).sum() <= 2 * 0.03  # at most 3 % misclassified
    assert class_kl_to_uniform(hist) < 0.05


def test_one_repeated_digit_is_one_class(judge, digits_test_split):
    x, y = digits_test_split
    seven = x[(y == 7) & (judge.predict(x) == 7)][:1].repeat(40, 1, 1, 1)
    hist = class_histogram(judge, seven)
    assert hist.tolist() == torch.eye(10, dtype=torch.float64)[7].tolist()
    assert class_kl_to_uniform(hist) == pytest.approx(math.log(10))


def test_confidence_of_a_hand_set_judge():
    # zero head weights: the logits are the bias, whatever the image
    judge = DigitsJudge().requires_grad_(False)
    judge.head.weight.zero_()
    judge.head.bias.copy_(torch.log(torch.tensor([0.5] + [0.5 / 9] * 9)))
    images = torch.rand(7, 1, 8, 8)
    assert judge_confidence(judge, images) == pytest.approx(0.5, rel=1e-6)
    assert class_histogram(judge, images).tolist() == torch.eye(10)[0].tolist()


def test_real_digits_are_judged_more_confidently_than_noise(judge, digits_test_split):
    noise = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    real = judge_confidence(judge, digits_test_split[0])
    assert real > 0.9 and real > judge_confidence(judge, noise) + 0.2


def test_empty_image_batch_is_clear(judge):
    with pytest.raises(ValueError, match="at least one image"):
        class_histogram(judge, torch.zeros(0, 1, 8, 8))


# ---------------------------------------------------------------- exactness and bad inputs


def test_mode_coverage_is_exact_on_a_shell_at_three_sigma():
    """2,500 samples at 3σ(1 - 1e-4) of the grid's centres all count, at 3σ(1 + 1e-4) none do
    (float32 through cdist's matrix product misplaced 147 of them)."""
    gen = torch.Generator().manual_seed(0)
    centers, std = grid_mixture().centers.double(), 0.05  # 25 modes 2 apart
    modes = torch.randint(25, (2500,), generator=gen)
    angle = torch.rand(2500, generator=gen, dtype=torch.float64) * 2 * math.pi
    direction = torch.stack([angle.cos(), angle.sin()], dim=1)
    for factor, expected in ((1 - 1e-4, 1.0), (1 + 1e-4, 0.0)):
        samples = centers[modes] + 3 * std * factor * direction
        assert mode_coverage(samples, centers, std).high_quality == expected


def test_a_sample_exactly_at_three_sigma_does_not_count():
    centers = torch.tensor([[0.0, 0.0]])
    at_boundary = torch.tensor([[1.5, 0.0], [0.0, -1.5], [1.4999, 0.0]])  # 3 * 0.5 is exact
    result = mode_coverage(at_boundary, centers, 0.5)
    assert result.high_quality == pytest.approx(1 / 3) and result.counts.tolist() == [1]


@pytest.mark.parametrize("std", [0.0, -0.1, float("nan"), float("inf")])
def test_mode_coverage_refuses_bad_std(std):
    with pytest.raises(ValueError, match="std must be a finite number > 0"):
        mode_coverage(torch.zeros(3, 2), CENTERS, std)
    with pytest.raises(ValueError, match="num_std must be"):
        mode_coverage(torch.zeros(3, 2), CENTERS, STD, num_std=std)


def test_non_finite_rows_are_counted_in_the_error():
    samples = torch.zeros(10, 2)
    samples[2, 0], samples[5, 1], samples[5, 0] = float("nan"), float("inf"), float("nan")
    with pytest.raises(ValueError, match="samples has 2 of 10 rows with NaN or inf"):
        mode_coverage(samples, CENTERS, STD)
    feats = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
    bad = feats.clone()
    bad[3] = float("nan")
    with pytest.raises(ValueError, match="feats_b has 1 of 20 rows"):
        frechet_distance(feats, bad)
    with pytest.raises(ValueError, match="sigma_a has 1 of"):
        gaussian_frechet_distance(torch.zeros(2), torch.tensor([[1.0, float("inf")], [0, 1]]),
                                  torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="non-negative"):
        class_kl_to_uniform(torch.tensor([1.0, float("nan")]))
