r"""The Inception Score and the Kernel Inception Distance, for any classifier or feature network.

`inception_score` needs only class probabilities, so it works with the digits judge's softmax
(`judge_inception_score`) as with Inception-v3's. `kid` runs torchmetrics'
``KernelInceptionDistance`` on feature matrices you computed (no weights, no network), and
`judge_kid` does so in the digits judge's features, as `ganbook.metrics.judge_fid` does for FID.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from ganbook.judge import DigitsJudge
from ganbook.metrics import JUDGE_BATCH, judge_features

KID_SUBSET_SIZE = 1000  # the default subset size of Bińkowski et al. and torchmetrics


def inception_score(probs: Tensor, splits: int = 1) -> tuple[float, float]:
    r"""Inception Score of Salimans et al. (NeurIPS 2016, arXiv:1606.03498, Sec. 4):

    .. math::
        \mathrm{IS} = \exp\Big(\mathbb E_x\, \mathrm{KL}\big(p(y \mid x) \,\|\, p(y)\big)\Big),
        \qquad p(y) = \mathbb E_x\, p(y \mid x),

    from class probabilities `probs` (N, K), rows summing to 1 (a classifier's softmax). It is
    high when each sample is classified confidently (low entropy of :math:`p(y \mid x)`) and the
    classes are used evenly (high entropy of :math:`p(y)`); it lies in [1, K], with K reached
    exactly when every sample is one-hot and the K classes are equally frequent. It never looks
    at real data. The N samples are cut into `splits` consecutive blocks, the score is computed
    on each (with that block's :math:`p(y)`), and the mean and standard deviation over blocks
    are returned (std 0.0 for one block), as in the paper's code, which used 10 splits of 5,000.
    """
    if probs.dim() != 2 or probs.shape[0] < 1:
        raise ValueError(f"probs must have shape (N, K), got {tuple(probs.shape)}")
    if not isinstance(splits, int) or not 1 <= splits <= probs.shape[0]:
        raise ValueError(f"splits must be an integer in [1, N = {probs.shape[0]}], got {splits}")
    p = probs.detach().double().cpu()
    if (p < 0).any() or not torch.allclose(p.sum(dim=1), torch.ones(len(p), dtype=p.dtype),
                                           atol=1e-4):
        raise ValueError("rows of probs must be probabilities (non-negative, summing to 1): "
                         "pass logits.softmax(dim=1)")
    scores = []
    for block in p.tensor_split(splits):
        p_y = block.mean(dim=0, keepdim=True)  # marginal p(y) of this block
        kl = torch.where(block > 0, block * (block.log() - p_y.log()), 0.0).sum(dim=1)  # 0 log 0
        scores.append(math.exp(float(kl.mean())))
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return mean, std


def judge_inception_score(judge: DigitsJudge, images: Tensor, splits: int = 1,
                          batch_size: int = JUDGE_BATCH) -> tuple[float, float]:
    r"""`inception_score` of images (N, 1, 8, 8) in [-1, 1] with the digits judge as the
    classifier: :math:`p(y \mid x) = \mathrm{softmax}(f(x))`. At most 10 (ten digits)."""
    device = next(judge.parameters()).device
    with torch.no_grad():
        logits = torch.cat([judge(x.to(device)) for x in images.split(batch_size)])
    return inception_score(logits.double().softmax(dim=1), splits)


class _Identity(nn.Module):
    """Features in, the same features (float64) out: torchmetrics' extractor for given features."""

    def forward(self, x: Tensor) -> Tensor:
        """`x` (N, d) as float64."""
        return x.double()


def kid(real_features: Tensor, fake_features: Tensor, subsets: int = 100,
        subset_size: int | None = None, seed: int = 0) -> tuple[float, float]:
    r"""Kernel Inception Distance (Bińkowski et al., ICLR 2018, arXiv:1801.01401) of two feature
    sets (N, d) and (M, d), computed by torchmetrics' ``KernelInceptionDistance``.

    KID is the squared maximum mean discrepancy with the cubic polynomial kernel
    :math:`k(a, b) = (a^\top b / d + 1)^3`, estimated without bias on subsets of m samples each:

    .. math::
        \widehat{\mathrm{KID}} = \frac{1}{m(m-1)} \sum_{i \ne j} \big(k(r_i, r_j)
        + k(g_i, g_j)\big) - \frac{2}{m^2} \sum_{i, j} k(r_i, g_j).

    Unlike FID, its expectation does not depend on m, and it is 0 in expectation when both sets
    come from one distribution (so it can come out slightly negative). Returns the mean and
    standard deviation over `subsets` random subsets of `subset_size` samples of each set
    (default: min(1000, N, M)), drawn from a generator seeded with `seed` (the global random
    state is left as it was).
    """
    for name, f in (("real_features", real_features), ("fake_features", fake_features)):
        if f.dim() != 2 or f.shape[0] < 2:
            raise ValueError(f"{name} must have shape (N, d) with N >= 2, got {tuple(f.shape)}")
    if real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"feature dimensions differ: {real_features.shape[1]} and "
                         f"{fake_features.shape[1]}")
    largest = min(len(real_features), len(fake_features))
    subset_size = min(KID_SUBSET_SIZE, largest) if subset_size is None else subset_size
    if not 2 <= subset_size <= largest:
        raise ValueError(f"subset_size must lie in [2, {largest}] (the smaller set's size), "
                         f"got {subset_size}")
    from torchmetrics.image.kid import KernelInceptionDistance  # slow import: on use only

    with warnings.catch_warnings():  # its warning about keeping all features in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Identity(), subsets=subsets,
                                         subset_size=subset_size)
    metric.update(real_features.detach().double().cpu(), real=True)
    metric.update(fake_features.detach().double().cpu(), real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws subsets with torch.randperm
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def judge_kid(judge: DigitsJudge, real_images: Tensor, fake_images: Tensor, subsets: int = 100,
              subset_size: int | None = None, seed: int = 0) -> tuple[float, float]:
    r"""`kid` in the digits judge's features :math:`\phi(x)` of images (N, 1, 8, 8) in [-1, 1]:
    mean and standard deviation over subsets. Lower is better; about 0 for real vs real."""
    return kid(judge_features(judge, real_images).cpu(), judge_features(judge, fake_images).cpu(),
               subsets=subsets, subset_size=subset_size, seed=seed)
