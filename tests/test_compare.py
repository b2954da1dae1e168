import pytest
import torch

from ganbook.compare import in_manifold, knn_precision_recall, knn_radii, laplacian_sharpness


def test_knn_radii_on_a_line():
    feats = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    # neighbours of 0: 1, 3, 6 -> 1st = 1; of 1: 0 (1), 3 (2); of 3: 1 (2), 6 (3); of 6: 3, 1
    assert knn_radii(feats, k=1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert knn_radii(feats, k=2).tolist() == [3.0, 2.0, 3.0, 5.0]


def test_in_manifold_hand_placed():
    support = torch.tensor([[0.0], [1.0], [3.0], [6.0]])  # k=1 radii 1, 1, 2, 3
    queries = torch.tensor([[-1.0], [4.9], [9.0], [9.5]])
    assert in_manifold(queries, support, k=1).tolist() == [True, True, True, False]


def test_identical_sets_score_one_and_disjoint_sets_zero():
    real = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    assert knn_precision_recall(real, real.clone()) == (1.0, 1.0)
    far = real + 100.0
    assert knn_precision_recall(real, far) == (0.0, 0.0)


def test_collapsed_samples_have_precision_but_no_recall():
    real = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    collapsed = 0.01 * torch.randn(500, 2, generator=torch.Generator().manual_seed(1))  # at 0
    pr = knn_precision_recall(real, collapsed)
    assert pr.precision == 1.0  # every sample sits where data are dense
    assert pr.recall < 0.1  # but covers only the data near the origin


def test_precision_recall_rejects_too_few_rows():
    with pytest.raises(ValueError, match="N > k"):
        knn_precision_recall(torch.zeros(3, 2), torch.zeros(10, 2), k=3)


def test_laplacian_sharpness_known_values():
    ramp = torch.arange(8.0).repeat(8, 1).view(1, 1, 8, 8) / 8  # linear: second differences 0
    assert laplacian_sharpness(ramp) == 0.0
    assert laplacian_sharpness(torch.full((2, 1, 8, 8), 0.3)) == 0.0
    dot = torch.zeros(1, 1, 3, 3)
    dot[0, 0, 1, 1] = 1.0  # one interior pixel: response -4
    assert laplacian_sharpness(dot) == 4.0
    checker = (torch.arange(8).view(8, 1) + torch.arange(8)) % 2 * 2.0 - 1  # +-1 checkerboard
    assert laplacian_sharpness(checker.view(1, 1, 8, 8)) == 8.0  # |4 * (-x) - 4x| = 8
    with pytest.raises(ValueError, match="H, W >= 3"):
        laplacian_sharpness(torch.zeros(1, 1, 2, 2))
