r"""Reading a training `History` for the symptoms of a failing GAN.

`diagnose(history)` looks at the per-step record that `ganbook.train.fit` returns and reports
each symptom it finds as a `Finding`: what it saw (with numbers), the likely cause, what to try,
and the step where the symptom began. `format_findings` turns the list into text for a terminal.

The checks work on moving averages over `DiagnoseConfig.window` steps (the per-step values are
noisy minibatch estimates) and look at how a run *ends*: a symptom counts only if it is still
there over the last window, and it began at the first step after which it stayed. The
thresholds sit between the book's healthy runs and its failing ones, measured at the sizes that
`tests/test_diagnose.py` reruns: chapter 3's recommended recipe on the ring (1,500 steps) and
chapter 4's MLP GAN on the digits (1,500 steps) end with a gap D(x) - D(G(z)) of at most 0.37
(chapter 4's run passes 0.8 briefly in its first steps, then recovers) and keep at least 9 % of
G's initial gradient norm; chapter 3's slow generator ends with D(x) = 0.996, D(G(z)) = 0.004
and G's loss up from 0.66 to 5.5, and chapter 4's saturating run keeps 0.3 % of G's gradient.
What the curves cannot show, `diagnose` cannot find either: a generator that covers only some
modes can have perfectly healthy curves (chapter 3), so look at samples and sample metrics too.

The checks on D's outputs read `d_real` and `d_fake` as probabilities and the losses as
cross-entropies (in nats), which they are for the losses "nonsaturating" and "saturating"; for
losses whose D outputs are scores on an arbitrary scale (Wasserstein, hinge, least squares) pass
``DiagnoseConfig(probabilities=False)``, which keeps only the check on G's gradient norm (and
the one for non-finite values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ganbook.train import History


@dataclass(frozen=True)
class Finding:
    """One symptom found in a `History`."""

    name: str  # a short identifier, e.g. "d_overpowers_g"
    symptom: str  # what the curves show, with the numbers
    cause: str  # the likely cause
    fix: str  # what to try first
    step: int  # the training step at which the symptom began


@dataclass(frozen=True)
class DiagnoseConfig:
    """Thresholds of `diagnose` (module docstring: where they come from)."""

    window: int = 50  # moving-average width in steps (shorter runs use a tenth of their length)
    d_gap: float = 0.8  # D overpowers G: mean D(x) - D(G(z)) above this (healthy: < 0.4)
    g_loss_rise: float = 2.0  # G's loss diverges: it ends this much above its lowest level
    grad_drop: float = 0.02  # G's gradient vanishes: it ends below this share of its start
    oscillation_std: float = 0.1  # oscillation: D(G(z))'s moving average varies this much ...
    oscillation_swings: int = 6  # ... crossing its mean at least this often in the second half
    probabilities: bool = True  # d_real/d_fake are probabilities, the losses cross-entropies

    def __post_init__(self) -> None:
        if not isinstance(self.window, int) or self.window < 1:
            raise ValueError(f"DiagnoseConfig.window must be a positive int, got {self.window!r}")
        if not (0 < self.d_gap < 1 and 0 < self.grad_drop < 1):
            raise ValueError("DiagnoseConfig.d_gap and grad_drop must lie in (0, 1)")


_FIELDS = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average: entry i averages values[max(0, i - window + 1) .. i]."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(len(values))
    lo = np.maximum(0, idx - window + 1)
    return (sums[idx + 1] - sums[lo]) / (idx + 1 - lo)


def _began(holds: np.ndarray) -> int | None:
    """Index where the final run of True values in `holds` starts; None if the last is False."""
    if not holds[-1]:
        return None
    false_idx = np.flatnonzero(~holds)
    return int(false_idx[-1] + 1) if false_idx.size else 0


def _non_finite(history: History) -> Finding | None:
    bad = [(i, name) for name in _FIELDS for i, v in enumerate(getattr(history, name))
           if not math.isfinite(v)]
    if not bad:
        return None
    i, name = min(bad)
    return Finding(
        "non_finite", f"{name} is {getattr(history, name)[i]} at step {history.step[i]}",
        "an update too large for the network: learning rates too high, no bound on D's "
        "gradients, or a log of 0 (sigmoid followed by BCELoss instead of logits)",
        "lower both learning rates; add a gradient penalty (lambda_gp or r1_gamma) or spectral "
        "norm on D; keep D's outputs as logits", history.step[i])


def _d_overpowers(h: dict[str, np.ndarray], steps: list[int], w: int, cfg: DiagnoseConfig
                  ) -> Finding | None:
    gap = _smooth(h["d_real"] - h["d_fake"], w)
    start = _began(gap > cfg.d_gap)
    if start is None:
        return None
    return Finding(
        "d_overpowers_g",
        f"D wins: over the last {w} steps mean D(x) = {h['d_real'][-w:].mean():.3f}, "
        f"D(G(z)) = {h['d_fake'][-w:].mean():.3f}, D's loss = {h['loss_d'][-w:].mean():.3f}",
        "D separates real from generated data perfectly, so G's samples stopped resembling the "
        "data (or never did): D learns much faster or is much stronger than G",
        "slow D down or speed G up (lr_d, lr_g, n_critic = 1), make D smaller or regularise it "
        "(r1_gamma, spectral norm); use the non-saturating loss so G still gets a gradient",
        steps[start])


def _g_loss_diverging(h: dict[str, np.ndarray], steps: list[int], w: int, cfg: DiagnoseConfig
                      ) -> Finding | None:
    loss_g = _smooth(h["loss_g"], w)
    low = loss_g[: max(1, len(loss_g) // 2)].min()  # its lowest level in the first half
    end = loss_g[-1]
    if end - low < cfg.g_loss_rise or end < 0.8 * loss_g.max() + 0.2 * low:
        return None  # no large rise, or the loss came back down from its peak
    start = _began(loss_g > low + 0.5 * (end - low))
    return Finding(
        "g_loss_diverging",
        f"G's loss climbs from {low:.2f} to {end:.2f} (moving average of {w} steps) and stays up",
        "G is losing the game: D rejects its samples with growing confidence",
        "the fixes for a winning D apply; check also that G and D each minimise their own loss "
        "(one loss for both sends G the wrong way)", steps[start if start is not None else -1])


def _g_gradient_vanishing(h: dict[str, np.ndarray], steps: list[int], w: int,
                          cfg: DiagnoseConfig) -> Finding | None:
    norm = _smooth(h["grad_norm_g"], w)
    first = h["grad_norm_g"][:w].mean()
    if not first > 0 or norm[-1] >= cfg.grad_drop * first:
        return None
    start = _began(norm < cfg.grad_drop * first)
    return Finding(
        "g_gradient_vanishing",
        f"G's gradient norm falls from {first:.3g} (first {w} steps) to {norm[-1]:.3g}",
        "D's verdict saturates where G's samples lie: with the saturating loss log(1 - D(G(z))) "
        "and a confident D the gradient is about D(G(z)), i.e. nearly 0",
        "use the non-saturating loss (loss='nonsaturating'), or a loss whose gradient does not "
        "saturate (Wasserstein with a penalty, hinge, least squares); weaken D",
        steps[start if start is not None else -1])


def _oscillation(h: dict[str, np.ndarray], steps: list[int], w: int, cfg: DiagnoseConfig
                 ) -> Finding | None:
    d_fake = _smooth(h["d_fake"], w)
    half = d_fake[len(d_fake) // 2:]
    if len(half) < 2 * w or half.std() < cfg.oscillation_std:
        return None
    sides = np.sign(half - half.mean())
    sides = sides[sides != 0]
    swings = int((sides[1:] != sides[:-1]).sum())
    if swings < cfg.oscillation_swings:
        return None
    return Finding(
        "oscillation",
        f"D(G(z)) swings: its moving average varies by {half.std():.2f} (std) and crosses its "
        f"mean {swings} times over the second half, between {half.min():.2f} and {half.max():.2f}",
        "the two players chase each other around the equilibrium instead of settling (the "
        "rotation of simultaneous gradient play); learning rates or Adam's momentum too high",
        "lower the learning rates (or decay them at the end: lr_decay_fraction), use "
        "betas=(0.5, 0.9) or (0.0, 0.9), add r1_gamma, average G's weights (ema_decay)",
        steps[len(d_fake) // 2])


def diagnose(history: History, config: DiagnoseConfig | None = None) -> list[Finding]:
    """Findings for the symptoms in `history`, in the order of the step where each began;
    an empty list when the curves look healthy (which does not prove the samples are good)."""
    config = config or DiagnoseConfig()
    if len(history) == 0:
        raise ValueError("diagnose needs a History with at least one step; train first")
    non_finite = _non_finite(history)
    if non_finite is not None:
        return [non_finite]  # the averages below are meaningless with inf or nan inside
    h = {name: np.asarray(getattr(history, name), dtype=np.float64) for name in _FIELDS}
    w = max(1, min(config.window, len(history) // 10))
    checks = [_g_gradient_vanishing]
    if config.probabilities:  # these read D's outputs as probabilities, the losses as BCE
        checks += [_d_overpowers, _g_loss_diverging, _oscillation]
    found = [f for check in checks if (f := check(h, history.step, w, config)) is not None]
    return sorted(found, key=lambda f: f.step)


def format_findings(findings: list[Finding]) -> str:
    """Readable text for `findings`: one block per finding, or a line saying there are none."""
    if not findings:
        return "diagnose: no symptoms found in the training curves (check the samples too)"
    blocks = [f"diagnose: {len(findings)} symptom(s) found"]
    for f in findings:
        blocks.append(f"[{f.name}] from step {f.step}\n  symptom: {f.symptom}\n"
                      f"  cause:   {f.cause}\n  fix:     {f.fix}")
    return "\n".join(blocks)
