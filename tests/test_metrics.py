import math

import pytest
import torch

from ganbook.metrics import mode_coverage

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
