r"""Two numbers for comparing generative models side by side, beside FID: k-NN precision and
recall in feature space, and a sharpness score for images.

Precision and recall for generative models separate the two ways of failing that one distance
such as FID mixes: samples that do not look like data (low precision) and data the samples do
not cover (low recall). We use the k-nearest-neighbour estimate of Kynkäänniemi, Karras, Laine,
Lehtinen & Aila, "Improved Precision and Recall Metric for Assessing Generative Models",
NeurIPS 2019, arXiv:1904.06991: around each feature vector of a set put a ball whose radius is
the distance to its k-th nearest neighbour in the same set; the union of the balls estimates the
set's support (the "manifold"). Then

.. math::
    \mathrm{precision} = \frac1M \sum_{j=1}^{M} \mathbb 1\bigl[\phi(\hat x_j) \in
    \mathrm{manifold}(\phi(x_1), \dots, \phi(x_N))\bigr],

    \mathrm{recall} = \frac1N \sum_{i=1}^{N} \mathbb 1\bigl[\phi(x_i) \in
    \mathrm{manifold}(\phi(\hat x_1), \dots, \phi(\hat x_M))\bigr],

with real :math:`x_i` and generated :math:`\hat x_j` (the paper uses k = 3).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ganbook import manifold

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])  # 4-neighbour


class PrecisionRecall(NamedTuple):
    """k-NN precision and recall, each in [0, 1]."""

    precision: float  # share of generated samples inside the real manifold
    recall: float  # share of real samples inside the generated manifold


def _check_features(feats: Tensor, name: str, k: int) -> None:
    if feats.dim() != 2 or feats.shape[0] <= k:
        raise ValueError(f"{name} must be a (N, D) matrix with N > k = {k} rows, "
                         f"got shape {tuple(feats.shape)}")


def knn_radii(feats: Tensor, k: int = 3) -> Tensor:
    """Distance (N,) from each row of `feats` (N, D) to its k-th nearest other row
    (`ganbook.manifold.knn_radii`, float64)."""
    _check_features(feats, "feats", k)
    return manifold.knn_radii(feats, k)


def in_manifold(queries: Tensor, support: Tensor, k: int = 3) -> Tensor:
    """Boolean (M,): is each query (M, D) within the k-NN radius of some row of `support`?"""
    radii = knn_radii(support, k)  # (N,)
    return manifold._in_some_ball(queries.detach().double().cpu(),
                                  support.detach().double().cpu(), radii) > 0


def knn_precision_recall(real_feats: Tensor, fake_feats: Tensor, k: int = 3) -> PrecisionRecall:
    """Precision and recall (module docstring) of generated features (M, D) against real ones
    (N, D): `ganbook.manifold.precision_recall` as a named pair. Both sets need more than k
    rows; use equally many of each."""
    _check_features(real_feats, "real_feats", k)
    _check_features(fake_feats, "fake_feats", k)
    return PrecisionRecall(*manifold.precision_recall(real_feats, fake_feats, k))


def laplacian_sharpness(images: Tensor) -> float:
    r"""Mean absolute response of the 4-neighbour Laplacian,
    :math:`\frac{1}{N P} \sum_{n, p} |(\Delta x_n)_p|` with

    .. math:: (\Delta x)_{ij} = x_{i-1,j} + x_{i+1,j} + x_{i,j-1} + x_{i,j+1} - 4 x_{ij},

    over the interior pixels of images (N, C, H, W) in [-1, 1] (a standard focus measure: edges
    give large second differences, blur small ones). 0 for a constant or linear ramp image."""
    if images.dim() != 4 or min(images.shape[2:]) < 3:
        raise ValueError(f"laplacian_sharpness expects images (N, C, H, W) with H, W >= 3, "
                         f"got shape {tuple(images.shape)}")
    c = images.shape[1]
    kernel = LAPLACIAN.to(images).expand(c, 1, 3, 3)  # one filter per channel
    response = F.conv2d(images, kernel, groups=c)  # (N, C, H-2, W-2), interior pixels only
    return float(response.abs().mean())
