"""How good are the samples? Mode coverage for the 2-D mixtures; feature-space distances and a
classifier judge for images.

The judge itself (`~ganbook.judge.DigitsJudge`, trained by `~ganbook.judge.train_digits_judge`)
lives in `ganbook.judge`; this module measures samples with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganbook.data import load_images
from ganbook.judge import NUM_CLASSES, DigitsJudge

JUDGE_BATCH = 512  # images per forward pass of the judge: bounds memory, not the result


@dataclass(frozen=True)
class ModeCoverage:
    """Result of `mode_coverage`.

    Attributes:
        modes: number of modes captured (0..num_modes).
        high_quality: fraction of samples within `num_std` standard deviations of their
            nearest mode.
        reverse_kl: KL(generated mode histogram || uniform), natural log; 0 is perfectly
            balanced, log(num_modes) is everything in one mode, inf when no sample is of high
            quality.
        counts: high-quality samples per mode, shape (num_modes,).
    """

    modes: int
    high_quality: float
    reverse_kl: float
    counts: Tensor


def check_finite_rows(name: str, x: Tensor) -> None:
    """Raise ValueError, saying how many rows are bad, if `x` (N, ...) holds a NaN or an inf."""
    bad = ~torch.isfinite(x.detach())
    if bad.any():
        rows = int(bad.reshape(x.shape[0], -1).any(dim=1).sum()) if x.dim() > 0 else 1
        raise ValueError(f"{name} has {rows} of {x.shape[0] if x.dim() else 1} rows with NaN or "
                         "inf values; drop or fix those rows first (a diverged generator?)")


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def mode_coverage(samples: Tensor, centers: Tensor, std: float, num_std: float = 3.0
                  ) -> ModeCoverage:
    r"""Modes captured, fraction of high-quality samples and reverse KL of the mode histogram.

    The definitions of VEEGAN (Srivastava et al., NeurIPS 2017, arXiv:1705.07761, Sec. 5.1) and
    PacGAN (Lin et al., NeurIPS 2018, arXiv:1712.04086, Sec. 5.1): a sample is *high quality* if
    it lies within `num_std` standard deviations (3σ) of its nearest mode; a mode is *captured*
    if at least one high-quality sample is nearest to it; with :math:`p_k` the share of
    high-quality samples nearest to mode k among K modes,

    .. math:: \mathrm{KL}(p \,\|\, u) = \sum_k p_k \log(K p_k).

    Both papers draw 2,500 samples. A sample exactly at the boundary does *not* count: high
    quality means distance :math:`< 3\sigma` (strictly), as in PacGAN's code. Distances are exact
    to float64 rounding (computed from differences, not torch.cdist's matrix-product shortcut,
    which misplaces samples within about 1e-3 of the boundary in float32). `std` and `num_std`
    must be finite and > 0; samples or centres with NaN or inf raise ValueError.
    """
    if samples.dim() != 2 or centers.dim() != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples {tuple(samples.shape)} and centers {tuple(centers.shape)} must "
                         "be (N, D) and (K, D) with the same D")
    if samples.shape[0] == 0 or centers.shape[0] == 0:
        raise ValueError("mode_coverage needs at least one sample and one centre")
    _check_positive("std", std)
    _check_positive("num_std", num_std)
    check_finite_rows("samples", samples)
    check_finite_rows("centers", centers)
    samples, centers = samples.detach().double().cpu(), centers.detach().double().cpu()
    distances = torch.cdist(samples, centers, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_distance, nearest = distances.min(dim=1)  # (N,) float64
    high_quality = nearest_distance < num_std * std
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


def gaussian_frechet_distance(mu_a: Tensor, sigma_a: Tensor, mu_b: Tensor, sigma_b: Tensor
                              ) -> float:
    r"""The squared Fréchet (2-Wasserstein) distance between :math:`\mathcal N(\mu_a, \Sigma_a)`
    and :math:`\mathcal N(\mu_b, \Sigma_b)`:

    .. math:: d^2 = \lVert \mu_a - \mu_b \rVert^2
        + \operatorname{Tr}\big(\Sigma_a + \Sigma_b - 2 (\Sigma_a \Sigma_b)^{1/2}\big).

    The closed form is Dowson & Landau (J. Multivariate Anal. 12, 1982); FID applies it to
    network features (Heusel et al., NeurIPS 2017, arXiv:1706.08500). Computed in
    float64 without a non-symmetric matrix square root: :math:`\Sigma_a\Sigma_b` has the same
    eigenvalues :math:`\lambda_i \ge 0` as the symmetric
    :math:`M = \Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2}`, so
    :math:`\operatorname{Tr}(\Sigma_a\Sigma_b)^{1/2} = \sum_i \sqrt{\lambda_i}` with
    :math:`\lambda_i` from ``eigvalsh(M)``. Rounding below 0 is clipped to 0.
    """
    for name, t in (("mu_a", mu_a), ("sigma_a", sigma_a), ("mu_b", mu_b), ("sigma_b", sigma_b)):
        check_finite_rows(name, t)
    mu_a, mu_b = mu_a.detach().double().flatten(), mu_b.detach().double().flatten()
    sigma_a, sigma_b = sigma_a.detach().double(), sigma_b.detach().double()
    d = mu_a.numel()
    if mu_b.numel() != d or sigma_a.shape != (d, d) or sigma_b.shape != (d, d):
        raise ValueError(f"means of {d} and {mu_b.numel()} entries need ({d}, {d}) covariances, "
                         f"got {tuple(sigma_a.shape)} and {tuple(sigma_b.shape)}")
    eigval_a, eigvec_a = torch.linalg.eigh(sigma_a)
    sqrt_a = eigvec_a @ torch.diag(eigval_a.clamp(min=0).sqrt()) @ eigvec_a.T  # Σa^{1/2}
    m = sqrt_a @ sigma_b.to(sqrt_a.device) @ sqrt_a  # Σa^{1/2} Σb Σa^{1/2}
    trace_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()  # Tr (ΣaΣb)^{1/2}
    mean_term = (mu_a - mu_b.to(mu_a.device)).square().sum()  # ||μa - μb||²
    d2 = mean_term + sigma_a.trace() + sigma_b.trace() - 2 * trace_sqrt
    return max(float(d2), 0.0)


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    r"""Fréchet distance between Gaussians fitted to two feature sets (N_a, d) and (N_b, d).

    With sample means :math:`\mu` and unbiased (divide by N - 1) covariances :math:`\Sigma`,

    .. math:: \mathrm{FD} = \lVert \mu_a - \mu_b \rVert^2
        + \operatorname{Tr}\big(\Sigma_a + \Sigma_b - 2 (\Sigma_a \Sigma_b)^{1/2}\big)

    (Heusel et al., NeurIPS 2017, arXiv:1706.08500; closed form of Dowson & Landau 1982; see
    `gaussian_frechet_distance`). With Inception pool features this is FID; with judge features
    see `judge_fid`. It is biased upwards for small N: two samples of one distribution score
    above 0 (Chong & Forsyth, CVPR 2020, arXiv:1911.07023), so compare runs at equal N.
    """
    for name, f in (("feats_a", feats_a), ("feats_b", feats_b)):
        if f.dim() != 2 or f.shape[0] < 2:
            raise ValueError(f"{name} must have shape (N, d) with N >= 2, got {tuple(f.shape)}")
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature dimensions differ: {feats_a.shape[1]} and {feats_b.shape[1]}")
    check_finite_rows("feats_a", feats_a)
    check_finite_rows("feats_b", feats_b)
    mu_a, sigma_a = _mean_and_covariance(feats_a)
    mu_b, sigma_b = _mean_and_covariance(feats_b)
    return gaussian_frechet_distance(mu_a, sigma_a, mu_b, sigma_b)


def _mean_and_covariance(feats: Tensor) -> tuple[Tensor, Tensor]:
    r"""Float64 mean (d,) and unbiased covariance (d, d) of the rows of `feats` (N, d)."""
    f = feats.detach().double()
    mu = f.mean(dim=0)
    centred = f - mu  # (N, d)
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _judge_apply(judge: nn.Module, method: str, images: Tensor, batch_size: int) -> Tensor:
    """``getattr(judge, method)`` on `images` in batches on the judge's device, without grad."""
    if images.dim() == 0 or images.shape[0] == 0:
        raise ValueError(f"the judge needs at least one image, got shape {tuple(images.shape)}")
    check_finite_rows("images", images)
    if not 1 <= batch_size:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = next(judge.parameters()).device
    with torch.no_grad():
        parts = [getattr(judge, method)(x.to(device)) for x in images.split(batch_size)]
    return torch.cat(parts)


def judge_features(judge: DigitsJudge, images: Tensor, batch_size: int = JUDGE_BATCH) -> Tensor:
    r"""Judge features :math:`\phi(x)` (N, feature_dim) of images (N, 1, 8, 8) in [-1, 1]."""
    return _judge_apply(judge, "features", images, batch_size)


class _JudgeFeatureExtractor(nn.Module):
    """`judge.features` as torchmetrics' FID wants a custom extractor: a Module taking float
    images (with ``normalize=True``) whose ``num_features`` attribute gives the output width."""

    def __init__(self, judge: DigitsJudge) -> None:
        super().__init__()
        self.judge = judge
        self.num_features = judge.feature_dim  # spares torchmetrics a probe with a dummy image

    def forward(self, x: Tensor) -> Tensor:
        """Features (N, num_features) in float64, so the FID is computed in float64 too."""
        return self.judge.features(x).double()


def judge_fid(judge: DigitsJudge, real_images: Tensor, fake_images: Tensor,
              batch_size: int = JUDGE_BATCH) -> float:
    r"""FID in the judge's feature space, computed by torchmetrics.

    ``torchmetrics.image.fid.FrechetInceptionDistance`` with ``feature=`` a module wrapping
    ``judge.features`` instead of Inception-v3 (no weights, no network), so
    :math:`\mathrm{FD}(\phi(x_{\text{real}}), \phi(x_{\text{fake}}))` as in `frechet_distance`
    (Heusel et al., NeurIPS 2017, arXiv:1706.08500). Images (N, 1, 8, 8) in [-1, 1], at
    least 2 of each; lower is better; see `digits_fid_floor` for the value of real vs real.
    """
    for name, images in (("real_images", real_images), ("fake_images", fake_images)):
        if images.dim() == 0 or images.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 images, got shape {tuple(images.shape)}")
        check_finite_rows(name, images)
    from torchmetrics.image.fid import FrechetInceptionDistance  # slow import: on use only

    device = next(judge.parameters()).device
    # normalize=True: a custom extractor receives the float images unchanged (False: uint8)
    fid = FrechetInceptionDistance(feature=_JudgeFeatureExtractor(judge), normalize=True)
    fid = fid.to(device)
    with torch.no_grad():
        for real, images in ((True, real_images), (False, fake_images)):
            for x in images.split(batch_size):
                fid.update(x.to(device, torch.float32), real=real)
    return float(fid.compute())


def digits_fid_floor(judge: DigitsJudge) -> float:
    """`judge_fid` between the real training digits (1,438) and the held-out test digits (359).

    Roughly what a perfect generator would score: a generator's FID against the training
    digits means little until it is compared with this floor. FID is biased upwards at small
    N, so score the same number of samples (359) against the training digits.
    """
    x_train, _ = load_images("digits", split="train")
    x_test, _ = load_images("digits", split="test")
    return judge_fid(judge, x_train, x_test)


def class_histogram(judge: DigitsJudge, images: Tensor, batch_size: int = JUDGE_BATCH
                    ) -> Tensor:
    """Fractions (10,) float64 of `images` (N, 1, 8, 8) in [-1, 1] the judge assigns to each
    digit; they sum to 1."""
    predicted = _judge_apply(judge, "predict", images, batch_size).cpu()
    counts = torch.bincount(predicted, minlength=NUM_CLASSES)
    return counts.double() / counts.sum()


def class_kl_to_uniform(hist: Tensor) -> float:
    r"""KL(p || uniform) of a class histogram p over K classes, natural log:

    .. math:: \mathrm{KL}(p \,\|\, u) = \sum_k p_k \log(K p_k), \qquad 0 \log 0 = 0.

    0 when every class is equally frequent, :math:`\log K` when all samples fall in one class
    (the "reverse KL" of VEEGAN, Srivastava et al., NeurIPS 2017, arXiv:1705.07761, and
    PacGAN, Lin et al., NeurIPS 2018, arXiv:1712.04086). Counts are normalised first.
    """
    hist = hist.detach().double().flatten().cpu()
    if hist.numel() == 0 or not torch.isfinite(hist).all() or (hist < 0).any() or hist.sum() <= 0:
        raise ValueError(f"hist must be non-negative with a positive sum, got {hist.tolist()}")
    p = hist / hist.sum()
    p = p[p > 0]  # 0 log 0 = 0
    return float((p * torch.log(p * hist.numel())).sum())


def judge_confidence(judge: DigitsJudge, images: Tensor, batch_size: int = JUDGE_BATCH
                     ) -> float:
    r"""Mean top-class probability :math:`\frac1N \sum_i \max_k \mathrm{softmax}(f(x_i))_k`.

    Near 1 when the judge finds every image a clear digit; low for blurry or ambiguous
    samples (a per-sample view of what the Inception Score rewards, Salimans et al.,
    NeurIPS 2016, arXiv:1606.03498). Images (N, 1, 8, 8) in [-1, 1].
    """
    logits = _judge_apply(judge, "logits", images, batch_size)
    return float(logits.double().softmax(dim=1).amax(dim=1).mean())
