"""The experiments behind the FAQ chapter: claims from circulating GAN articles, run.

Two studies, each one function that the chapter calls at a small budget and
`benchmarks/faq_claims.py` / `benchmarks/faq_gan_vs_vae.py` call at the full one:

* `run_claim`: the plain ring GAN of chapter 3 (`MIXTURE_RECIPES["plain"]`) with one change
  that articles recommend for stability: plain SGD instead of Adam, dropout in D, or Glorot
  (Xavier) initialisation (Glorot & Bengio, AISTATS 2010), scored by mode coverage.
* `gan_vs_vae`: the 8x8-digits DCGAN of chapter 5 and a `ganbook.vae.ConvVAE` whose decoder is
  the same network, trained for the same number of steps on the same batches, scored in the
  judge's features (FID, k-NN precision and recall) and by sharpness.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from ganbook.bench import EVAL_SEED, NUM_SAMPLES
from ganbook.compare import knn_precision_recall, laplacian_sharpness
from ganbook.data import MixtureBatches, infinite_batches, load_images, ring_mixture
from ganbook.judge import DigitsJudge
from ganbook.metrics import judge_features, judge_fid
from ganbook.models import DCGANDiscriminator, DCGANGenerator, sample_latent
from ganbook.recipes import MIXTURE_RECIPES
from ganbook.train import TrainConfig, ema_copy, fit
from ganbook.vae import ConvVAE, VAEConfig, fit_vae

# variant -> (changes to the plain recipe's TrainConfig, dropout in D, Glorot init)
CLAIMS: dict[str, tuple[dict, float, bool]] = {
    "Adam (baseline)": ({}, 0.0, False),
    "SGD, lr 0.01": ({"optimizer": "sgd", "lr_g": 0.01, "lr_d": 0.01}, 0.0, False),
    "SGD, lr 0.1": ({"optimizer": "sgd", "lr_g": 0.1, "lr_d": 0.1}, 0.0, False),
    "dropout 0.3 in D": ({}, 0.3, False),
    "Glorot init": ({}, 0.0, True),
}


def with_dropout(D: nn.Module, p: float) -> nn.Module:
    """D with `nn.Dropout(p)` after every hidden activation of its `net` (in place)."""
    layers: list[nn.Module] = []
    for layer in D.net:
        layers.append(layer)
        if isinstance(layer, nn.LeakyReLU):
            layers.append(nn.Dropout(p))
    D.net = nn.Sequential(*layers)
    return D


def glorot_init(module: nn.Module) -> None:
    r"""Glorot/Xavier uniform weights, :math:`U(-a, a)` with
    :math:`a = \sqrt{6 / (n_{in} + n_{out})}`, and zero biases for every Linear layer; for
    ``model.apply(glorot_init)`` (Glorot & Bengio 2010, Eq. 16)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def run_claim(variant: str, seed: int = 0, num_steps: int | None = None) -> dict[str, float]:
    """Train the plain ring GAN with one `CLAIMS` variant from `seed` (CPU) and score 2,500
    samples: {"modes", "high_quality", "reverse_kl", "seconds"}."""
    if variant not in CLAIMS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(CLAIMS)}")
    from ganbook.metrics import mode_coverage

    changes, dropout, glorot = CLAIMS[variant]
    recipe = MIXTURE_RECIPES["plain"]
    G, D = recipe.build(seed)
    if glorot:
        G.apply(glorot_init)
        D.apply(glorot_init)
    if dropout:
        with_dropout(D, dropout)
    config = dataclasses.replace(recipe.train, seed=seed, progress=False,
                                 num_steps=num_steps or recipe.train.num_steps, **changes)
    ring = ring_mixture()
    start = time.perf_counter()
    fit(G, D, MixtureBatches(ring, config.batch_size, seed=seed), config)
    seconds = time.perf_counter() - start
    noise = torch.Generator().manual_seed(EVAL_SEED + seed)
    with torch.no_grad():
        cov = mode_coverage(G.eval()(sample_latent(NUM_SAMPLES, G.latent_dim, generator=noise)),
                            ring.centers, ring.std)
    return {"modes": cov.modes, "high_quality": cov.high_quality,
            "reverse_kl": cov.reverse_kl, "seconds": seconds}


# The DCGAN of chapter 5 (8x8 digits), and its training settings
DCGAN_LATENT, DCGAN_NGF, DCGAN_NDF = 32, 128, 256
DCGAN_CONFIG = TrainConfig(num_steps=3000, batch_size=64, lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.99),
                           ema_decay=0.998, progress=False)


def train_dcgan(seed: int, num_steps: int) -> nn.Module:
    """Chapter 5's DCGAN on the training digits; returns the weight average of G (eval mode)."""
    torch.manual_seed(seed)
    G = DCGANGenerator(DCGAN_LATENT, image_size=8, channels=1, ngf=DCGAN_NGF)
    D = DCGANDiscriminator(image_size=8, channels=1, ndf=DCGAN_NDF)
    config = dataclasses.replace(DCGAN_CONFIG, num_steps=num_steps, seed=seed)
    x_train, _ = load_images("digits")
    G_ema = ema_copy(G, config)
    fit(G, D, infinite_batches(x_train, config.batch_size, seed=seed), config, G_ema=G_ema)
    return G_ema.eval()


def train_vae(seed: int, num_steps: int) -> ConvVAE:
    """A `ConvVAE` with chapter 5's generator as decoder, on the same batches and step count."""
    torch.manual_seed(seed)
    vae = ConvVAE(DCGAN_LATENT, image_size=8, channels=1, ngf=DCGAN_NGF)
    x_train, _ = load_images("digits")
    config = VAEConfig(num_steps=num_steps, batch_size=DCGAN_CONFIG.batch_size, seed=seed)
    fit_vae(vae, infinite_batches(x_train, config.batch_size, seed=seed), config)
    return vae


def score_images(judge: DigitsJudge, images: torch.Tensor, fid_reference: torch.Tensor | None = None
                 ) -> dict[str, float]:
    """FID against the training digits, k-NN precision/recall (k = 3) against the 359 held-out
    digits, both in judge features, and sharpness, of the first 359 of `images`. For real
    digits pass a random subset of the training digits as `images` and the held-out digits as
    `fid_reference`: its FID is then `digits_fid_floor`'s (held-out vs training digits)."""
    x_train, _ = load_images("digits")
    x_test, _ = load_images("digits", split="test")
    images = images[: len(x_test)].cpu()
    pr = knn_precision_recall(judge_features(judge, x_test).cpu(),
                              judge_features(judge, images).cpu())
    fid_images = images if fid_reference is None else fid_reference
    return {"fid": judge_fid(judge, x_train, fid_images), "precision": pr.precision,
            "recall": pr.recall, "sharpness": laplacian_sharpness(images)}


def gan_vs_vae(judge: DigitsJudge, seed: int = 0, num_steps: int = 3000
               ) -> dict[str, dict[str, float]]:
    """Train both models from `seed` for `num_steps` steps and score 359 samples of each (and
    359 training digits, the reference row): {"real digits" | "DCGAN" | "VAE": scores}."""
    x_train, _ = load_images("digits")
    x_test, _ = load_images("digits", split="test")
    subset = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))
    rows = {"real digits": score_images(judge, x_train[subset[: len(x_test)]], x_test)}
    noise = torch.Generator().manual_seed(EVAL_SEED + seed)
    for name, train in (("DCGAN", train_dcgan), ("VAE", train_vae)):
        start = time.perf_counter()
        model = train(seed, num_steps)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            if isinstance(model, ConvVAE):
                images = model.sample(len(x_test), generator=noise)
            else:
                images = model(sample_latent(len(x_test), DCGAN_LATENT, generator=noise))
        rows[name] = {**score_images(judge, images), "seconds": seconds}
    return rows
