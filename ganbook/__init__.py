"""ganbook: the PyTorch package behind the GAN book — data, models, losses, the training loop,
theory, metrics and plots. Submodules are the API; the most used names are re-exported here."""

from ganbook.data import (
    MixtureOfGaussians,
    grid_mixture,
    infinite_batches,
    load_images,
    ring_mixture,
)
from ganbook.losses import LOSSES
from ganbook.metrics import mode_coverage
from ganbook.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    init_dcgan_weights,
    sample_latent,
)
from ganbook.train import History, TrainConfig, fit, load_checkpoint, save_checkpoint
from ganbook.utils import get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "DCGANDiscriminator", "DCGANGenerator", "History", "LOSSES", "MLPDiscriminator",
    "MLPGenerator", "MixtureOfGaussians", "TrainConfig", "fit", "get_device", "grid_mixture",
    "infinite_batches", "init_dcgan_weights", "load_checkpoint", "load_images", "mode_coverage",
    "ring_mixture", "sample_latent", "save_checkpoint", "seed_everything",
]
