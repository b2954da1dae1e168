"""Known answers for ganbook.manifold: hand-placed points on a line, the expectations of
density and coverage for two samples of one distribution, and memorisation of exact copies."""

import pytest
import torch

import ganbook.manifold as manifold
from ganbook.manifold import (
    density_coverage,
    knn_radii,
    memorisation_test,
    nearest_neighbours,
    precision_recall,
)


def _line(*values: float) -> torch.Tensor:
    """Points on a line as a feature matrix (N, 1)."""
    return torch.tensor(values, dtype=torch.float64)[:, None]


def _gauss(n: int, seed: int, d: int = 2) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_knn_radii_on_a_line():
    points = _line(0, 1, 3, 6)
    assert knn_radii(points, 1).tolist() == [1, 1, 2, 3]
    assert knn_radii(points, 2).tolist() == [3, 2, 3, 5]


def test_duplicates_are_neighbours_at_distance_zero():
    assert knn_radii(_line(2, 2, 2, 5), 1).tolist() == [0, 0, 0, 3]


def test_nearest_neighbours_distance_and_index():
    d, idx = nearest_neighbours(_line(0.2, 2.9, -4), _line(0, 1, 3))
    assert torch.allclose(d, torch.tensor([0.2, 0.1, 4.0], dtype=torch.float64))
    assert idx.tolist() == [0, 2, 0]


def test_precision_recall_hand_example():
    # real 0..3 with k = 1: every real ball has radius 1. Fakes 0.5 and 1.5 fall inside, 10 and
    # 11 do not: precision 1/2. Fake balls have radius 1 too and reach 0, 1, 2 but not 3: 3/4.
    precision, recall = precision_recall(_line(0, 1, 2, 3), _line(0.5, 1.5, 10, 11), k=1)
    assert precision == 0.5 and recall == 0.75


def test_identical_sets_score_one_and_roles_swap():
    x, y = _gauss(300, 0), _gauss(200, 1) + 0.5
    assert precision_recall(x, x) == (1.0, 1.0)
    p_xy, r_xy = precision_recall(x, y, k=3)
    r_yx, p_yx = precision_recall(y, x, k=3)
    assert (p_xy, r_xy) == (p_yx, r_yx)


def test_a_collapsed_generator_has_precision_but_no_recall():
    real = _gauss(500, 2)
    fake = real[:1].repeat(100, 1) + 1e-3 * _gauss(100, 3)  # everything near one real point
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 1.0 and recall < 0.01


def test_density_coverage_hand_example():
    # real 0..3, k = 1: radius 1 each. Fake 0.5 lies in the balls of 0 and 1; 10 in none:
    # density = 2 / (1 * 2) = 1; covered real points are 0 and 1: coverage 1/2.
    density, coverage = density_coverage(_line(0, 1, 2, 3), _line(0.5, 10), k=1)
    assert density == 1.0 and coverage == 0.5


def test_density_and_coverage_expectations_for_one_distribution():
    # Naeem et al. 2020: E[density] = 1, and with M = N large E[coverage] -> 1 - 2^-k.
    k = 5
    densities, coverages = zip(*(density_coverage(_gauss(1000, s), _gauss(1000, 100 + s), k)
                                 for s in range(4)), strict=True)
    assert abs(sum(densities) / 4 - 1) < 0.05
    assert abs(sum(coverages) / 4 - (1 - 2**-k)) < 0.015


def test_outliers_inflate_recall_but_not_coverage():
    real = _gauss(400, 4)
    fake = torch.cat([real[:1].repeat(396, 1) + 1e-3 * _gauss(396, 5), 8 * _gauss(4, 6)])
    _, recall = precision_recall(real, fake, k=3)
    _, coverage = density_coverage(real, fake, k=5)
    assert recall > 0.5  # four far-flung fakes with huge balls swallow the real data
    assert coverage < 0.05  # real balls are small: only the neighbourhood of real[0] is covered


def test_small_blocks_give_the_same_answers(monkeypatch):
    real, fake = _gauss(120, 7), _gauss(90, 8)
    expected = precision_recall(real, fake), density_coverage(real, fake), knn_radii(real, 3)
    monkeypatch.setattr(manifold, "BLOCK_ELEMENTS", 50)
    got = precision_recall(real, fake), density_coverage(real, fake), knn_radii(real, 3)
    assert got[:2] == expected[:2] and torch.equal(got[2], expected[2])


def test_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(_line(0, 1, 2), 3)
    with pytest.raises(ValueError, match="shape"):
        precision_recall(torch.zeros(5), torch.zeros(5, 1))
    with pytest.raises(ValueError, match="dimensions differ"):
        density_coverage(torch.zeros(10, 2), torch.zeros(10, 3))


def test_memorisation_hand_example():
    # train {0, 10}; held-out distances 1 and 2; sample distances 0, 1, 3. Pairs won by the
    # samples: 0 beats both (2), 1 ties 1 and beats 2 (1.5), 3 beats none: AUC 3.5 / 6.
    m = memorisation_test(_line(0, 11, 7), _line(0, 10), _line(1, 8))
    assert m.sample_distances.tolist() == [0, 1, 3]
    assert m.sample_neighbours.tolist() == [0, 1, 1]
    assert m.held_out_distances.tolist() == [1, 2]
    assert m.exact_copies == 1 and m.closer_than_held_out == 1
    assert m.copy_auc == pytest.approx(3.5 / 6)
    assert m.median_ratio == 1.0  # torch.median takes the lower middle: 1 / 1


def test_memorisation_of_copies_and_of_fresh_data():
    train, held_out = _gauss(400, 10, d=8), _gauss(200, 11, d=8)
    images = train[:100].view(100, 2, 2, 2)  # images are compared after flattening
    copies = memorisation_test(images, train.view(400, 2, 2, 2), held_out.view(200, 2, 2, 2))
    assert copies.exact_copies == 100 == copies.closer_than_held_out
    assert copies.copy_auc == 1.0 and copies.median_ratio == 0.0
    fresh = memorisation_test(_gauss(300, 12, d=8), train, held_out)
    assert fresh.exact_copies == 0 and abs(fresh.copy_auc - 0.5) < 0.06
    assert abs(fresh.median_ratio - 1) < 0.1
