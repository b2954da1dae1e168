"""How good are the samples? Mode coverage for the 2-D mixtures; feature-space distances and a
classifier judge for images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ModeCoverage:
    """Result of `mode_coverage`.

    modes: number of modes captured (0..num_modes).
    high_quality: fraction of samples within `num_std` standard deviations of their nearest mode.
    reverse_kl: KL(generated mode histogram || uniform), natural log; 0 is perfectly balanced,
        log(num_modes) is everything in one mode, inf when no sample is of high quality.
    counts: high-quality samples per mode, shape (num_modes,).
    """

    modes: int
    high_quality: float
    reverse_kl: float
    counts: Tensor


def mode_coverage(samples: Tensor, centers: Tensor, std: float, num_std: float = 3.0
                  ) -> ModeCoverage:
    r"""Modes captured, fraction of high-quality samples and reverse KL of the mode histogram.

    The definitions of VEEGAN (Srivastava et al., NeurIPS 2017, arXiv:1705.07761, Sec. 5.1) and
    PacGAN (Lin et al., NeurIPS 2018, arXiv:1712.04086, Sec. 5.1): a sample is *high quality* if
    it lies within `num_std` standard deviations (3σ) of its nearest mode; a mode is *captured*
    if at least one high-quality sample is nearest to it; with :math:`p_k` the share of
    high-quality samples nearest to mode k among K modes,

    .. math:: \mathrm{KL}(p \,\|\, u) = \sum_k p_k \log(K p_k).

    Both papers draw 2,500 samples.
    """
    if samples.dim() != 2 or centers.dim() != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples {tuple(samples.shape)} and centers {tuple(centers.shape)} must "
                         "be (N, D) and (K, D) with the same D")
    if samples.shape[0] == 0:
        raise ValueError("mode_coverage needs at least one sample")
    samples, centers = samples.detach().float().cpu(), centers.detach().float().cpu()
    distances = torch.cdist(samples, centers)  # (N, K)
    nearest_distance, nearest = distances.min(dim=1)
    high_quality = nearest_distance <= num_std * std
    num_modes = centers.shape[0]
    counts = torch.bincount(nearest[high_quality], minlength=num_modes)
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.inf
    else:
        p = counts[counts > 0].double() / total
        reverse_kl = float((p * torch.log(p * num_modes)).sum())
    return ModeCoverage(modes=int((counts > 0).sum()),
                        high_quality=float(high_quality.float().mean()),
                        reverse_kl=reverse_kl, counts=counts)
