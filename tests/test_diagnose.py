"""`diagnose` on the book's own runs, at the sizes its thresholds were set from (module
docstring), and on hand-made histories with known answers."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from ganbook.data import MixtureBatches, infinite_batches, load_images, ring_mixture
from ganbook.diagnose import DiagnoseConfig, Finding, diagnose, format_findings
from ganbook.models import MLPDiscriminator, MLPGenerator
from ganbook.recipes import MIXTURE_RECIPES
from ganbook.train import History, TrainConfig, ema_copy, fit


def ring_run(recipe_name: str, **changes) -> History:
    recipe = MIXTURE_RECIPES[recipe_name]
    G, D = recipe.build(seed=0)
    config = dataclasses.replace(recipe.train, progress=False, **changes)
    return fit(G, D, MixtureBatches(ring_mixture(), config.batch_size, seed=0), config,
               G_ema=ema_copy(G, config))


def digits_run(**changes) -> History:
    """Chapter 4's MLP GAN on the digits (its settings, with `changes`)."""
    torch.manual_seed(0)
    G = MLPGenerator(32, out_shape=(1, 8, 8), hidden_dim=256, tanh_output=True)
    D = MLPDiscriminator(in_shape=(1, 8, 8), hidden_dim=256)
    config = TrainConfig(**{**dict(num_steps=1500, batch_size=64, lr_g=1e-3, lr_d=1e-3,
                                   betas=(0.5, 0.999), progress=False), **changes})
    x_train, _ = load_images("digits")
    return fit(G, D, infinite_batches(x_train, 64, seed=0), config)


def names(findings: list[Finding]) -> set[str]:
    return {f.name for f in findings}


def test_chapter3_slow_generator_d_wins():
    plain = MIXTURE_RECIPES["plain"]
    findings = diagnose(ring_run("plain", num_steps=300, lr_g=plain.train.lr_d / 100))
    assert names(findings) == {"d_overpowers_g", "g_loss_diverging"}
    assert all(50 < f.step < 250 for f in findings)  # began mid-run, not at the end


def test_chapter4_saturating_loss_gradient_vanishes():
    findings = diagnose(digits_run(num_steps=400, lr_g=1e-4, loss="saturating"))
    assert {"g_gradient_vanishing", "d_overpowers_g"} <= names(findings)
    vanishing = next(f for f in findings if f.name == "g_gradient_vanishing")
    assert "non-saturating" in vanishing.fix and vanishing.step < 300


def test_healthy_runs_have_no_findings():
    assert diagnose(ring_run("recommended", num_steps=1500)) == []
    assert diagnose(digits_run()) == []


def make_history(n: int, **series) -> History:
    """A History of n steps: healthy constants, overridden by the given per-step arrays."""
    base = {"loss_d": np.full(n, 1.3), "loss_g": np.full(n, 0.8), "d_real": np.full(n, 0.55),
            "d_fake": np.full(n, 0.45), "penalty": np.zeros(n), "grad_norm_d": np.ones(n),
            "grad_norm_g": np.ones(n), "time": np.arange(n) * 0.01}
    base.update(series)
    return History(step=list(range(1, n + 1)), **{k: list(map(float, v)) for k, v in base.items()})


def test_constant_healthy_history_is_clean_and_formats():
    findings = diagnose(make_history(500))
    assert findings == []
    assert "no symptoms" in format_findings(findings)


def test_non_finite_value_names_field_and_step():
    loss_g = np.full(400, 0.8)
    loss_g[123] = math.inf  # step 124
    findings = diagnose(make_history(400, loss_g=loss_g))
    assert [(f.name, f.step) for f in findings] == [("non_finite", 124)]
    assert "loss_g is inf at step 124" in findings[0].symptom


def test_d_overpowers_begins_where_the_gap_stays_above_the_threshold():
    n = 1000
    d_real = np.where(np.arange(n) < 600, 0.55, 0.999)  # D wins from step 601 on
    d_fake = np.where(np.arange(n) < 600, 0.45, 0.001)
    (finding,) = diagnose(make_history(n, d_real=d_real, d_fake=d_fake))
    assert finding.name == "d_overpowers_g"
    # the 50-step trailing average of the gap (0.1 -> 0.998) passes 0.8 after 40 steps
    assert finding.step == 601 + 38
    text = format_findings([finding])
    assert "[d_overpowers_g] from step 639" in text and "fix:" in text


def test_g_loss_that_rises_and_comes_back_is_not_diverging():
    n = 1000
    t = np.arange(n)
    bump = 0.7 + 4 * np.exp(-((t - 300) / 80.0) ** 2)  # up to 4.7, back to 0.7
    assert diagnose(make_history(n, loss_g=bump)) == []
    ramp = 0.7 + 4 * np.clip((t - 500) / 300, 0, 1)  # up to 4.7 and stays
    (finding,) = diagnose(make_history(n, loss_g=ramp))
    assert finding.name == "g_loss_diverging" and 600 < finding.step < 800


def test_oscillation_found_and_skipped_without_probabilities():
    t = np.arange(2000)
    d_fake = 0.45 + 0.3 * np.sin(2 * np.pi * t / 300)  # slow swings of D(G(z))
    d_real = d_fake + 0.1
    history = make_history(2000, d_real=d_real, d_fake=d_fake)
    (finding,) = diagnose(history)
    assert finding.name == "oscillation" and finding.step == 1001
    assert diagnose(history, DiagnoseConfig(probabilities=False)) == []


def test_bad_input():
    with pytest.raises(ValueError, match="at least one step"):
        diagnose(History())
    with pytest.raises(ValueError, match="window"):
        DiagnoseConfig(window=0)
