"""The stabilisers of the chapter "Stabilising GANs", side by side, in the spirit of Lucic et al.
("Are GANs Created Equal? A Large-Scale Study", NeurIPS 2018, arXiv:1711.10337): every method
changes one thing (or one family's settings) of the same baseline, and is trained with the same
networks, batch size and number of generator steps on two tasks.

* ``grid``: the 5x5 grid mixture (`ganbook.data.grid_mixture`), the MLPs and budget of
  `ganbook.recipes.STUDY_MIXTURE`, scored by `ganbook.metrics.mode_coverage` on 2,500 samples
  (`ganbook.bench.run_once`).
* ``digits``: a DCGAN on scikit-learn's 8x8 digits (`ganbook.recipes.STUDY_DIGITS`), scored by
  the FID in the features of the digits judge (five sets of 359 samples against the 1,438
  training digits, averaged, as in the DCGAN chapter) and by class coverage (digits the judge
  sees, KL of their histogram to uniform).

`benchmarks/stabilisers.py` runs the full study and writes `benchmarks/results/stabilisers.csv`.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

import torch

from ganbook.bench import run_once
from ganbook.data import grid_mixture, infinite_batches, load_images
from ganbook.judge import DigitsJudge
from ganbook.metrics import class_histogram, class_kl_to_uniform, frechet_distance, judge_features
from ganbook.models import sample_latent
from ganbook.recipes import STUDY_DIGITS, STUDY_MIXTURE, DigitsRecipe, MixtureRecipe
from ganbook.train import TrainConfig, ema_copy, fit

TASKS = ("grid", "digits")
EVAL_SEED = 10_000  # the scoring noise of seed s is seeded with EVAL_SEED + s, apart from training
DIGIT_SETS, DIGIT_SET_SIZE = 5, 359  # FID: five sets as large as the real test split


@dataclass(frozen=True)
class Method:
    """What one method changes in the baseline: a loss, a penalty, a D option or a schedule.

    ``lr_g_factor`` and ``lr_d_factor`` scale the baseline's learning rates (TTUR, Heusel et al.
    2017); ``r1_gamma`` is given per task because R1's scale depends on the data's scale.
    """

    loss: str = "nonsaturating"  # a key of ganbook.losses.LOSSES
    spectral_norm: bool = False  # spectral norm on every layer of D (Miyato et al. 2018)
    lambda_gp: float = 0.0  # WGAN-GP weight (Gulrajani et al. 2017)
    r1_gamma: tuple[float, float] = (0.0, 0.0)  # R1 gamma on (grid, digits)
    clip_value: float = 0.0  # WGAN weight clipping (Arjovsky et al. 2017)
    instance_noise: float = 0.0  # std, annealed linearly to 0 (Sonderby et al. 2017)
    real_label: float = 1.0  # one-sided label smoothing (Salimans et al. 2016)
    lr_g_factor: float = 1.0  # lr_g times this
    lr_d_factor: float = 1.0  # lr_d times this
    lr_decay_fraction: float = 0.0  # last fraction of steps at a tenth of the rates
    ema_decay: float = 0.0  # EMA of G's weights (Yazici et al. 2019)

    def config(self, base: TrainConfig, task: str) -> TrainConfig:
        """`base` with this method's changes, for `task` ("grid" or "digits")."""
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        return dataclasses.replace(
            base, loss=self.loss, lambda_gp=self.lambda_gp, clip_value=self.clip_value,
            r1_gamma=self.r1_gamma[TASKS.index(task)], instance_noise=self.instance_noise,
            instance_noise_anneal=self.instance_noise > 0, real_label=self.real_label,
            lr_g=base.lr_g * self.lr_g_factor, lr_d=base.lr_d * self.lr_d_factor,
            lr_decay_fraction=self.lr_decay_fraction, ema_decay=self.ema_decay)


# name -> method; every one is the baseline ("nonsaturating") with the changes written out.
METHODS: dict[str, Method] = {
    "nonsaturating": Method(),  # Goodfellow et al. 2014, the baseline
    "least-squares": Method(loss="least-squares"),  # Mao et al. 2017
    "hinge": Method(loss="hinge"),  # Lim & Ye 2017
    "wgan-clip": Method(loss="wasserstein", clip_value=0.01),  # Arjovsky et al. 2017
    "wgan-gp": Method(loss="wasserstein", lambda_gp=10.0),  # Gulrajani et al. 2017
    "hinge-sn": Method(loss="hinge", spectral_norm=True),  # Miyato et al. 2018
    "r1": Method(r1_gamma=(0.1, 1.0)),  # Mescheder et al. 2018
    "instance-noise": Method(instance_noise=0.1),  # Sonderby et al. 2017
    "label-smoothing": Method(real_label=0.9),  # Salimans et al. 2016
    "ttur": Method(lr_g_factor=0.5, lr_d_factor=2.0),  # Heusel et al. 2017: D 4x faster than G
    "ema-decay": Method(lr_decay_fraction=0.2, ema_decay=0.99),  # last fifth: rates / 10, EMA of G
}

# The common budget: the baseline's networks and batch size, this many generator steps.
# The common budget: the networks, batch size and generator steps of ganbook.recipes' study.
GRID_BASE = STUDY_MIXTURE
DIGITS_BASE = STUDY_DIGITS


def grid_recipe(method: Method, num_steps: int | None = None) -> MixtureRecipe:
    """`GRID_BASE` with `method`'s changes (and `num_steps` generator steps if given)."""
    train = method.config(GRID_BASE.train, "grid")
    train = dataclasses.replace(train, num_steps=num_steps or train.num_steps)
    return dataclasses.replace(GRID_BASE, spectral_norm=method.spectral_norm, train=train)


def digits_recipe(method: Method, num_steps: int | None = None) -> DigitsRecipe:
    """`DIGITS_BASE` with `method`'s changes (and `num_steps` generator steps if given)."""
    train = method.config(DIGITS_BASE.train, "digits")
    train = dataclasses.replace(train, num_steps=num_steps or train.num_steps)
    return dataclasses.replace(DIGITS_BASE, spectral_norm=method.spectral_norm, train=train)


def run_grid(method: Method, seed: int, num_steps: int | None = None,
             device: torch.device | str = "cpu") -> dict[str, float]:
    """Train `method` on the grid from `seed`; modes, high-quality %, reverse KL, seconds."""
    return run_once(grid_recipe(method, num_steps), grid_mixture(), seed, torch.device(device))


def run_digits(method: Method, seed: int, judge: DigitsJudge, num_steps: int | None = None,
               device: torch.device | str = "cpu") -> dict[str, float]:
    """Train `method`'s DCGAN on the digits from `seed` and score 5 x 359 samples.

    Returns the FID in judge features (mean over the five sets, against the training digits),
    the digits the judge sees among all samples, the KL of their histogram to uniform, seconds.
    """
    device = torch.device(device)
    recipe = digits_recipe(method, num_steps)
    G, D = (m.to(device) for m in recipe.build(seed))
    config = dataclasses.replace(recipe.train, seed=seed, progress=False)
    x_train, _ = load_images("digits", split="train")
    batches = infinite_batches(x_train, config.batch_size, seed=seed, device=device)
    G_ema = ema_copy(G, config)
    start = time.perf_counter()
    fit(G, D, batches, config, G_ema=G_ema)
    seconds = time.perf_counter() - start
    G = (G if G_ema is None else G_ema).eval()  # BatchNorm's running statistics
    noise = torch.Generator(device=device).manual_seed(EVAL_SEED + seed)
    with torch.no_grad():
        z = sample_latent(DIGIT_SETS * DIGIT_SET_SIZE, G.latent_dim, generator=noise, device=device)
        x_fake = G(z).cpu()
    f_train = judge_features(judge, x_train.to(device)).cpu()
    fids = [frechet_distance(judge_features(judge, x.to(device)).cpu(), f_train)
            for x in x_fake.split(DIGIT_SET_SIZE)]
    hist = class_histogram(judge, x_fake.to(device))
    return {"fid": statistics.fmean(fids), "classes": int((hist > 0).sum()),
            "class_kl": class_kl_to_uniform(hist), "seconds": seconds}
