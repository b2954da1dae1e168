"""Named, measured settings for the book's embedded datasets: the models and `TrainConfig` that
the CLI, the benchmarks and the chapters share, so a number quoted in one is the same in all.

`MIXTURE_RECIPES["plain"]` is the baseline of the mode-collapse literature (the non-saturating
GAN of Goodfellow et al. 2014 with Adam); `MIXTURE_RECIPES["recommended"]` is what this book
recommends for the 2-D mixtures; `benchmarks/mode_coverage.py` measures both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from ganbook.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ganbook.train import TrainConfig


@dataclass(frozen=True)
class MixtureRecipe:
    """An MLP GAN for 2-D mixtures: network sizes plus the training configuration."""

    latent_dim: int = 2  # dimension of z
    hidden_dim: int = 128  # units per hidden layer of G (and of D, unless d_hidden_dim is set)
    num_hidden: int = 3  # hidden layers, in G and D
    d_hidden_dim: int | None = None  # units per hidden layer of D; None: hidden_dim
    spectral_norm: bool = False  # spectral norm on every layer of D (Miyato et al. 2018)
    pack: int = 1  # samples D judges jointly (PacGAN, Lin et al. 2018); 1 = no packing
    minibatch_std: int = 0  # group size of D's minibatch-std feature (Karras et al. 2018); 0: none
    train: TrainConfig = field(default_factory=TrainConfig)

    def build(self, seed: int = 0) -> tuple[MLPGenerator, MLPDiscriminator]:
        """Fresh (G, D), initialised from `seed`."""
        torch.manual_seed(seed)
        G = MLPGenerator(self.latent_dim, (2,), self.hidden_dim, self.num_hidden)
        D = MLPDiscriminator((2,), self.d_hidden_dim or self.hidden_dim, self.num_hidden,
                             spectral_norm=self.spectral_norm, pack=self.pack,
                             minibatch_std=self.minibatch_std)
        return G, D


MIXTURE_RECIPES: dict[str, MixtureRecipe] = {
    # The baseline: non-saturating loss, Adam(2e-4, beta1 = 0.5), nothing else.
    "plain": MixtureRecipe(
        train=TrainConfig(num_steps=4000, batch_size=256, lr_g=2e-4, lr_d=2e-4)),
    # What the book recommends, measured by `python -m ganbook bench` (the table is in
    # benchmarks/README.md): the same loss plus the R1 penalty (Mescheder et al. 2018), a deeper
    # generator and a narrower discriminator that learns twice as fast (TTUR, Heusel et al.
    # 2017); for the last fifth of the steps the rates drop to 0.3 (G) and 0.1 (D) times their
    # values and G's weights are averaged (EMA, Yazici et al. 2019): sample from G_ema.
    "recommended": MixtureRecipe(
        num_hidden=4, d_hidden_dim=64,
        train=TrainConfig(num_steps=5000, batch_size=256, lr_g=1e-3, lr_d=2e-3, r1_gamma=0.1,
                          betas=(0.5, 0.9), lr_decay_fraction=0.2, lr_decay_factor=0.1,
                          lr_decay_factor_g=0.3, ema_decay=0.99)),
}
# The remedies aimed at mode collapse (chapter 7), each the plain recipe plus one change, and the
# recommended recipe plus the minibatch-std feature; `python -m ganbook bench --recipes ...`
# measures them (benchmarks/results/mode_collapse.csv).
_PLAIN = MIXTURE_RECIPES["plain"]
MIXTURE_RECIPES.update({
    # D sees the mean standard deviation of its last hidden features over groups of 4 samples.
    "minibatch-std": dataclasses.replace(_PLAIN, minibatch_std=4),
    # PacGAN4: D judges 4 samples at once (the paper's best setting on the ring and the grid).
    "pack": dataclasses.replace(_PLAIN, pack=4),
    # Unrolled GAN with k = 5 look-ahead steps of D (Metz et al. 2017 use 5 and 10).
    "unrolled": dataclasses.replace(
        _PLAIN, train=dataclasses.replace(_PLAIN.train, unroll_steps=5)),
    "recommended-mbstd": dataclasses.replace(MIXTURE_RECIPES["recommended"], minibatch_std=4),
    # The recommended recipe trained longer: 8,000 steps instead of 5,000, so its decayed and
    # averaged last fifth is 1,600 steps. 1.6 times the cost; on the grid it is the one that
    # beats PacGAN4's published row on all three numbers (benchmarks/README.md).
    "recommended-long": dataclasses.replace(
        MIXTURE_RECIPES["recommended"],
        train=dataclasses.replace(MIXTURE_RECIPES["recommended"].train, num_steps=8000)),
})


@dataclass(frozen=True)
class DigitsRecipe:
    """A DCGAN for scikit-learn's 8x8 digits."""

    latent_dim: int = 32  # dimension of z
    ngf: int = 64  # generator width
    ndf: int = 64  # discriminator width
    num_classes: int | None = None  # 10 for a conditional GAN
    spectral_norm: bool = False  # spectral norm on D's convolutions, no BatchNorm in D
    train: TrainConfig = field(default_factory=lambda: TrainConfig(num_steps=1500, batch_size=64))

    def build(self, seed: int = 0) -> tuple[DCGANGenerator, DCGANDiscriminator]:
        """Fresh (G, D), initialised from `seed` with DCGAN's initialisation."""
        torch.manual_seed(seed)
        G = DCGANGenerator(self.latent_dim, 8, 1, self.ngf, num_classes=self.num_classes)
        D = DCGANDiscriminator(8, 1, self.ndf, num_classes=self.num_classes,
                               spectral_norm=self.spectral_norm)
        return G, D


@dataclass(frozen=True)
class ImageRecipe:
    """A DCGAN for a folder of your own pictures (`ganbook.folder`) at `image_size` pixels.

    The size fixes the networks' plan (`DCGANGenerator`: 64 px is 4 -> 8 -> 16 -> 32 -> 64). The
    settings are the DCGAN paper's (Radford et al. 2016, Sec. 4: a 100-dimensional z, Adam with
    rate 2e-4 and beta1 = 0.5, batches of 128) with the PyTorch DCGAN tutorial's widths.
    """

    image_size: int = 64  # side of the square images, one of models.SUPPORTED_IMAGE_SIZES
    channels: int = 3  # 3 for colour, 1 for grey
    latent_dim: int = 100  # dimension of z
    ngf: int = 64  # generator width
    ndf: int = 64  # discriminator width
    train: TrainConfig = field(default_factory=lambda: TrainConfig(num_steps=2000, batch_size=128))

    def build(self, seed: int = 0) -> tuple[DCGANGenerator, DCGANDiscriminator]:
        """Fresh (G, D), initialised from `seed` with DCGAN's initialisation."""
        torch.manual_seed(seed)
        G = DCGANGenerator(self.latent_dim, self.image_size, self.channels, self.ngf)
        D = DCGANDiscriminator(self.image_size, self.channels, self.ndf)
        return G, D


def _family(recipe, spectral_norm: bool = False, **train):
    """`recipe` with spectral norm on D (or not) and the `train` fields changed."""
    return dataclasses.replace(recipe, spectral_norm=spectral_norm,
                               train=dataclasses.replace(recipe.train, **train))


# The common budget of the stabilisers study (ganbook.stabilisers, benchmarks/stabilisers.py):
# grid, the plain recipe's MLPs with Adam(1e-3, betas (0.5, 0.9)), 128 samples, 600 steps;
# digits, a DCGAN (ngf = ndf = 64) with Adam(5e-4, betas (0.5, 0.99)), 64 digits, 300 steps.
#: The stabilisers study's grid budget: plain MLPs, Adam(1e-3, (0.5, 0.9)), batch 128, 600 steps.
STUDY_MIXTURE = MixtureRecipe(train=TrainConfig(num_steps=600, batch_size=128, lr_g=1e-3,
                                                lr_d=1e-3, betas=(0.5, 0.9)))
#: The stabilisers study's digits budget: a DCGAN, Adam(5e-4, (0.5, 0.99)), batch 64, 300 steps.
STUDY_DIGITS = DigitsRecipe(train=TrainConfig(num_steps=300, batch_size=64, lr_g=5e-4,
                                              lr_d=5e-4, betas=(0.5, 0.99)))

# One recipe per loss family, on the study's budget, with the settings the study measured
# (benchmarks/results/stabilisers.csv): least squares (Mao et al. 2017), WGAN with weight
# clipping (Arjovsky et al. 2017), WGAN-GP (Gulrajani et al. 2017), hinge loss with spectral
# norm on D (Miyato et al. 2018) and the non-saturating loss with R1 (Mescheder et al. 2018).
_FAMILIES: dict[str, dict] = {
    "least-squares": {"loss": "least-squares"},
    "wgan-clip": {"loss": "wasserstein", "clip_value": 0.01},
    "wgan-gp": {"loss": "wasserstein", "lambda_gp": 10.0},
    "hinge-sn": {"loss": "hinge", "spectral_norm": True},
}
MIXTURE_RECIPES.update({name: _family(STUDY_MIXTURE, **kw) for name, kw in _FAMILIES.items()})
MIXTURE_RECIPES["r1"] = _family(STUDY_MIXTURE, r1_gamma=0.1)
# TTUR (Heusel et al. 2017): G at half the study's rate, D at twice it; on the digits the only
# method whose FID the study separates from the baseline's.
MIXTURE_RECIPES["ttur"] = _family(STUDY_MIXTURE, lr_g=5e-4, lr_d=2e-3)

# The same families for the digits DCGAN ("dcgan": the study's non-saturating baseline).
DIGITS_RECIPES: dict[str, DigitsRecipe] = {
    "dcgan": STUDY_DIGITS,
    **{name: _family(STUDY_DIGITS, **kw) for name, kw in _FAMILIES.items()},
    "r1": _family(STUDY_DIGITS, r1_gamma=1.0),
    "ttur": _family(STUDY_DIGITS, lr_g=2.5e-4, lr_d=1e-3),
}
