"""The stabilisers study: each method changes what it says, and the family recipes are the
settings the study measured."""

import dataclasses

import pytest

from ganbook.recipes import DIGITS_RECIPES, MIXTURE_RECIPES, STUDY_DIGITS, STUDY_MIXTURE
from ganbook.stabilisers import METHODS, Method, digits_recipe, grid_recipe


def test_the_baseline_method_is_the_study_budget_unchanged():
    assert grid_recipe(METHODS["nonsaturating"]) == STUDY_MIXTURE
    assert digits_recipe(METHODS["nonsaturating"]) == STUDY_DIGITS
    assert len(METHODS) >= 8


@pytest.mark.parametrize("name", ["least-squares", "wgan-clip", "wgan-gp", "hinge-sn", "r1",
                                  "ttur"])
def test_family_recipes_are_what_the_study_measured(name):
    assert MIXTURE_RECIPES[name] == grid_recipe(METHODS[name])
    assert DIGITS_RECIPES[name] == digits_recipe(METHODS[name])
    assert DIGITS_RECIPES["dcgan"] == digits_recipe(METHODS["nonsaturating"])


def test_method_changes_only_its_own_fields():
    config = Method(lr_g_factor=0.5, lr_d_factor=2.0).config(STUDY_MIXTURE.train, "grid")
    assert (config.lr_g, config.lr_d) == (5e-4, 2e-3)
    changed = {f.name for f in dataclasses.fields(config)
               if getattr(config, f.name) != getattr(STUDY_MIXTURE.train, f.name)}
    assert changed == {"lr_g", "lr_d"}
    noisy = Method(instance_noise=0.1).config(STUDY_MIXTURE.train, "digits")
    assert noisy.instance_noise == 0.1 and noisy.instance_noise_anneal
    r1 = METHODS["r1"]
    assert r1.config(STUDY_MIXTURE.train, "grid").r1_gamma == 0.1
    assert r1.config(STUDY_DIGITS.train, "digits").r1_gamma == 1.0
    assert grid_recipe(METHODS["hinge-sn"]).spectral_norm
    assert grid_recipe(METHODS["wgan-gp"], num_steps=7).train.num_steps == 7
    with pytest.raises(ValueError, match="task"):
        r1.config(STUDY_MIXTURE.train, "ring")
