import dataclasses
import math

import pytest
import torch

from ganbook.cli import build_parser
from ganbook.data import MixtureBatches, grid_mixture
from ganbook.recipes import MIXTURE_RECIPES, DigitsRecipe, MixtureRecipe
from ganbook.train import ema_copy, fit


@pytest.mark.parametrize("name", sorted(MIXTURE_RECIPES))
def test_mixture_recipe_builds_models_of_the_documented_shapes(name):
    recipe = MIXTURE_RECIPES[name]
    G, D = recipe.build(seed=0)
    z = torch.randn(8 * recipe.pack, recipe.latent_dim)
    x = G(z)
    assert x.shape == (8 * recipe.pack, 2)
    assert D(x).shape == (8,)  # one logit per pack of `pack` samples
    for net, width in ((G, recipe.hidden_dim), (D, recipe.d_hidden_dim or recipe.hidden_dim)):
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        assert len(linears) == recipe.num_hidden + 1
        assert all(m.out_features == width for m in linears[:-1])
    assert linears[0].in_features == 2 * recipe.pack  # D's first layer sees a whole pack
    assert linears[-1].in_features == width + (recipe.minibatch_std > 0)  # + the std feature


def test_discriminator_width_can_differ_from_the_generators():
    G, D = MixtureRecipe(hidden_dim=32, d_hidden_dim=16, num_hidden=2).build(seed=0)
    assert [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)] == [32, 32, 2]
    assert [m.out_features for m in D.modules() if isinstance(m, torch.nn.Linear)] == [16, 16, 1]


def test_build_is_reproducible_from_the_seed():
    recipe = MIXTURE_RECIPES["recommended"]
    (G0, _), (G0_again, _), (G1, _) = recipe.build(0), recipe.build(0), recipe.build(1)
    w0, w0_again, w1 = (next(g.parameters()) for g in (G0, G0_again, G1))
    assert torch.equal(w0, w0_again)
    assert not torch.equal(w0, w1)


def test_recipes_are_frozen():
    for recipe in (*MIXTURE_RECIPES.values(), DigitsRecipe()):
        with pytest.raises(dataclasses.FrozenInstanceError):
            recipe.latent_dim = 3
        with pytest.raises(dataclasses.FrozenInstanceError):
            recipe.train.num_steps = 1


def test_the_cli_offers_every_mixture_recipe():
    assert {"plain", "recommended"} <= set(MIXTURE_RECIPES)
    assert all(isinstance(r, MixtureRecipe) for r in MIXTURE_RECIPES.values())
    parser = build_parser()
    assert parser.parse_args(["train", "--out", "runs"]).recipe == "recommended"
    for name in MIXTURE_RECIPES:
        assert parser.parse_args(["train", "--recipe", name, "--out", "runs"]).recipe == name


def test_plain_is_the_unregularised_baseline():
    plain = MIXTURE_RECIPES["plain"]
    assert plain.train.loss == "nonsaturating"
    assert plain.train.r1_gamma == plain.train.lambda_gp == 0
    assert plain.pack == 1 and not plain.spectral_norm


@pytest.mark.parametrize("name", sorted(MIXTURE_RECIPES))
def test_batch_size_fits_the_packing(name):
    recipe = MIXTURE_RECIPES[name]
    assert recipe.train.batch_size % recipe.pack == 0
    assert recipe.train.batch_size // recipe.pack % max(recipe.minibatch_std, 1) == 0


@pytest.mark.parametrize("name", sorted(MIXTURE_RECIPES))
def test_a_short_fit_with_each_recipe_gives_finite_losses(name):
    recipe = MIXTURE_RECIPES[name]
    config = dataclasses.replace(recipe.train, num_steps=50, progress=False)
    G, D = recipe.build(seed=0)
    G_ema = ema_copy(G, config)  # the recommended recipe samples from an average of G
    batches = MixtureBatches(grid_mixture(), config.batch_size, seed=0)
    history = fit(G, D, batches, config, G_ema=G_ema)
    assert history.step == list(range(1, 51))
    assert all(math.isfinite(v) for v in history.loss_d + history.loss_g)
    if G_ema is not None:  # averaged over the decayed steps: close to G, not equal to it
        assert all(torch.isfinite(p).all() for p in G_ema.parameters())
        assert not all(torch.equal(a, b) for a, b in zip(G_ema.parameters(), G.parameters(),
                                                          strict=True))


def test_digits_recipe_builds_models_of_the_documented_shapes():
    recipe = DigitsRecipe()
    G, D = recipe.build(seed=0)
    x = G(torch.randn(4, recipe.latent_dim))
    assert x.shape == (4, 1, 8, 8)
    assert x.abs().max() <= 1  # tanh output: images in [-1, 1]
    assert D(x).shape == (4,)


def test_each_collapse_remedy_is_plain_plus_one_change():
    plain = MIXTURE_RECIPES["plain"]
    changes = {"minibatch-std": {"minibatch_std": 4}, "pack": {"pack": 4},
               "unrolled": {"train": dataclasses.replace(plain.train, unroll_steps=5)}}
    for name, change in changes.items():
        assert MIXTURE_RECIPES[name] == dataclasses.replace(plain, **change), name
    assert MIXTURE_RECIPES["recommended-mbstd"] == dataclasses.replace(
        MIXTURE_RECIPES["recommended"], minibatch_std=4)
    recommended = MIXTURE_RECIPES["recommended"]
    assert MIXTURE_RECIPES["recommended-long"] == dataclasses.replace(
        recommended, train=dataclasses.replace(recommended.train, num_steps=8000))
