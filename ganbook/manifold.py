r"""Sample quality as geometry in a feature space: k-nearest-neighbour estimates of the real and
the generated manifold (precision and recall, density and coverage) and a memorisation test.

All functions take feature matrices (N, d): a network's features of images (the digits judge's
``judge_features``, Inception's pool features) or, for 2-D mixtures, the points themselves.
Distances are Euclidean and computed in float64, in blocks, so memory stays bounded for tens of
thousands of samples. None of these numbers needs a Gaussian assumption, unlike FID.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

BLOCK_ELEMENTS = 2**22  # distances held at once (32 MiB in float64): bounds memory, not results


def _as_features(name: str, features: Tensor, min_rows: int = 1) -> Tensor:
    """`features` as a float64 CPU matrix (N, d), or a ValueError naming what is wrong."""
    if features.dim() != 2 or features.shape[0] < min_rows:
        raise ValueError(f"{name} must have shape (N, d) with N >= {min_rows}, "
                         f"got {tuple(features.shape)}")
    return features.detach().double().cpu()


def _same_width(a: Tensor, b: Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} and {b.shape[1]}; "
                         "compute both with the same network")


def _blocks(queries: Tensor, reference: Tensor):
    """(start, distances (B, M)) for consecutive blocks of rows of `queries`."""
    rows = max(1, BLOCK_ELEMENTS // max(1, reference.shape[0]))
    for start in range(0, queries.shape[0], rows):
        # exact differences, not the |a|² + |b|² - 2ab shortcut: copies come out at exactly 0
        yield start, torch.cdist(queries[start:start + rows], reference,
                                 compute_mode="donot_use_mm_for_euclid_dist")


def nearest_neighbours(queries: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
    r"""Distance (N,) float64 and index (N,) of the nearest row of `reference` (M, d) for each
    row of `queries` (N, d): :math:`\min_j \lVert q_i - r_j \rVert_2` and its argmin."""
    q = _as_features("queries", queries)
    r = _as_features("reference", reference)
    _same_width(q, r)
    distances = torch.empty(len(q), dtype=torch.float64)
    indices = torch.empty(len(q), dtype=torch.long)
    for start, d in _blocks(q, r):
        distances[start:start + len(d)], indices[start:start + len(d)] = d.min(dim=1)
    return distances, indices


def knn_radii(features: Tensor, k: int) -> Tensor:
    r"""Distance (N,) of each row of `features` (N, d) to its k-th nearest *other* row,
    :math:`\mathrm{NND}_k(x_i)`: the radius of the ball that `precision_recall` and
    `density_coverage` put around every sample. Needs N > k; duplicates count as neighbours at
    distance 0."""
    f = _as_features("features", features)
    if not isinstance(k, int) or k < 1 or f.shape[0] <= k:
        raise ValueError(f"k must be an integer with 1 <= k < N = {f.shape[0]}, got {k}")
    radii = torch.empty(len(f), dtype=torch.float64)
    for start, d in _blocks(f, f):
        # the k + 1 smallest include the point itself at distance 0; the last is the k-th other
        radii[start:start + len(d)] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def _in_some_ball(queries: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """Count (N,) of balls B(centres_j, radii_j) that contain each row of `queries`."""
    counts = torch.empty(len(queries), dtype=torch.long)
    for start, d in _blocks(queries, centres):
        counts[start:start + len(d)] = (d <= radii[None, :]).sum(dim=1)
    return counts


def precision_recall(real_features: Tensor, fake_features: Tensor, k: int = 3
                     ) -> tuple[float, float]:
    r"""Improved precision and recall of Kynkäänniemi et al. (NeurIPS 2019, arXiv:1904.06991).

    Each set's manifold is estimated by the union of balls around its samples, each ball as
    large as the distance to that sample's k-th nearest neighbour in the same set. With real
    features :math:`\Phi_r` and generated features :math:`\Phi_g`,

    .. math::
        f(\phi, \Phi) = 1 \text{ if } \exists\, \phi' \in \Phi :
            \lVert \phi - \phi' \rVert_2 \le \mathrm{NND}_k(\phi'), \text{ else } 0,

    .. math::
        \text{precision} = \frac{1}{|\Phi_g|} \sum_{\phi_g \in \Phi_g} f(\phi_g, \Phi_r),

        \text{recall} = \frac{1}{|\Phi_r|} \sum_{\phi_r \in \Phi_r} f(\phi_r, \Phi_g).

    Precision is the share of samples that look real (fidelity); recall the share of real data
    that the generator can produce (diversity). Both lie in [0, 1]. The paper uses k = 3 with
    50,000 samples of each; with fewer samples the balls are larger and both values higher, so
    report N and k. A few outliers inflate a set's balls: an outlying generated sample can make
    recall too high (Naeem et al. 2020; see `density_coverage`).
    """
    real = _as_features("real_features", real_features, k + 1)
    fake = _as_features("fake_features", fake_features, k + 1)
    _same_width(real, fake)
    precision = (_in_some_ball(fake, real, knn_radii(real, k)) > 0).double().mean()
    recall = (_in_some_ball(real, fake, knn_radii(fake, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real_features: Tensor, fake_features: Tensor, k: int = 5
                     ) -> tuple[float, float]:
    r"""Density and coverage of Naeem et al. (ICML 2020, arXiv:2002.09797, Eqs. 5 and 6).

    Only the real samples :math:`X_1, \dots, X_N` get balls
    :math:`B(X_i, \mathrm{NND}_k(X_i))`, so outliers among the M generated samples
    :math:`Y_j` cannot inflate anything:

    .. math::
        \text{density} = \frac{1}{kM} \sum_{j=1}^{M} \sum_{i=1}^{N}
            \mathbf 1\big[Y_j \in B(X_i, \mathrm{NND}_k(X_i))\big],

        \text{coverage} = \frac{1}{N} \sum_{i=1}^{N}
            \mathbf 1\big[\exists\, j : Y_j \in B(X_i, \mathrm{NND}_k(X_i))\big].

    Density counts how many real balls hold each sample, divided by k: its expectation is 1 when
    the generated distribution equals the real one, above 1 when samples crowd where real data
    is dense, below 1 when they stray. It is not bounded by 1. Coverage, in [0, 1], is the share
    of real samples with a generated sample nearby; the paper recommends k = 5.
    """
    real = _as_features("real_features", real_features, k + 1)
    fake = _as_features("fake_features", fake_features, 1)
    _same_width(real, fake)
    radii = knn_radii(real, k)  # (N,)
    per_sample = _in_some_ball(fake, real, radii)  # (M,): real balls holding each Y_j
    density = per_sample.double().sum() / (k * len(fake))
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start, d in _blocks(real, fake):  # d: (B, M) distances from X_i to every Y_j
        covered[start:start + len(d)] = (d <= radii[start:start + len(d), None]).any(dim=1)
    return float(density), float(covered.double().mean())


@dataclass(frozen=True)
class Memorisation:
    """Result of `memorisation_test`.

    Attributes:
        sample_distances: (N,) distance of each sample to its nearest training point.
        sample_neighbours: (N,) index of that training point (to show the pairs).
        held_out_distances: (M,) the same for each held-out real point.
        exact_copies: samples within `atol` of a training point.
        closer_than_held_out: samples closer to the training set than the closest held-out
            point is.
        median_ratio: median sample distance / median held-out distance (about 1 for a
            generator that behaves like fresh data, near 0 for a copier).
        copy_auc: P(sample distance < held-out distance) + P(equal) / 2 over all pairs:
            0.5 when samples are as far from the training set as fresh real data, near 1 when
            they sit closer (copying), below 0.5 when they are farther.
    """

    sample_distances: Tensor
    sample_neighbours: Tensor
    held_out_distances: Tensor
    exact_copies: int
    closer_than_held_out: int
    median_ratio: float
    copy_auc: float


def memorisation_test(samples: Tensor, train: Tensor, held_out: Tensor, atol: float = 1e-6
                      ) -> Memorisation:
    r"""Do generated samples sit closer to the training set than fresh real data does?

    For every sample :math:`x_g` and every held-out real point :math:`x_h` (never trained on)
    the distance to the nearest training point,
    :math:`d(x) = \min_{x_t \in \text{train}} \lVert x - x_t \rVert_2`, is compared: a
    generator that copies has :math:`d(x_g) \approx 0`, far below the held-out distances. The
    summary ``copy_auc`` is the Mann-Whitney statistic

    .. math:: \mathrm{AUC} = \frac{1}{NM} \sum_{g, h}
        \Big(\mathbf 1[d(x_g) < d(x_h)] + \tfrac12 \mathbf 1[d(x_g) = d(x_h)]\Big),

    on which Meehan, Chaudhuri and Dasgupta (AISTATS 2020, arXiv:2004.05675) build their
    data-copying test. Inputs are images (N, C, H, W) or features (N, d), compared after
    flattening; pixels catch exact copies, features catch copies up to small changes.
    """
    fake, tr, ho = (_as_features(n, t.flatten(1), 1) for n, t in
                    (("samples", samples), ("train", train), ("held_out", held_out)))
    _same_width(fake, tr)
    _same_width(ho, tr)
    d_fake, idx = nearest_neighbours(fake, tr)
    d_held, _ = nearest_neighbours(ho, tr)
    held_sorted = d_held.sort().values
    below = torch.searchsorted(held_sorted, d_fake, right=False)  # held-out strictly closer
    not_above = torch.searchsorted(held_sorted, d_fake, right=True)  # ... or tied
    wins = (len(held_sorted) - not_above) + 0.5 * (not_above - below)  # per sample
    median_held = float(d_held.median())
    return Memorisation(
        sample_distances=d_fake, sample_neighbours=idx, held_out_distances=d_held,
        exact_copies=int((d_fake <= atol).sum()),
        closer_than_held_out=int((d_fake < held_sorted[0]).sum()),
        median_ratio=float(d_fake.median()) / median_held if median_held > 0 else float("inf"),
        copy_auc=float(wins.double().sum() / (len(d_fake) * len(d_held))))
