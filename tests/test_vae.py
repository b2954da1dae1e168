import math

import pytest
import torch

from ganbook.data import infinite_batches, load_images
from ganbook.models import DCGANGenerator
from ganbook.vae import ConvVAE, VAEConfig, fit_vae, kl_to_standard_normal, negative_elbo


def test_kl_closed_form():
    mu = torch.zeros(3, 4)
    logvar = torch.zeros(3, 4)
    assert torch.equal(kl_to_standard_normal(mu, logvar), torch.zeros(3))  # q = prior
    mu = torch.tensor([[1.0, 2.0]])
    logvar = torch.tensor([[math.log(4.0), 0.0]])
    # 0.5 * (1 + 4 - log 4 - 1) + 0.5 * (4 + 1 - 0 - 1)
    expected = 0.5 * (4 - math.log(4)) + 2.0
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(expected)


def test_negative_elbo_is_half_pixels_log_mse_plus_kl():
    x = torch.zeros(2, 1, 8, 8)
    x_rec = torch.full_like(x, 0.5)  # MSE 0.25
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    loss, mse, kl = negative_elbo(x, x_rec, mu, logvar)
    assert mse.item() == 0.25 and kl.item() == 0.0
    assert loss.item() == pytest.approx(32 * math.log(0.25))


def test_shapes_and_decoder_is_the_dcgan_generator():
    vae = ConvVAE(latent_dim=8, image_size=8, channels=1, ngf=16, nef=8)
    assert isinstance(vae.decoder, DCGANGenerator)
    x = torch.zeros(5, 1, 8, 8)
    x_rec, mu, logvar = vae(x)
    assert x_rec.shape == x.shape and mu.shape == logvar.shape == (5, 8)
    samples = vae.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 1, 8, 8) and samples.abs().max() <= 1
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        vae.encode(torch.zeros(5, 64))
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvVAE(image_size=10)


def test_fit_vae_lowers_the_loss_and_is_reproducible():
    x_train, _ = load_images("digits")
    config = VAEConfig(num_steps=60, batch_size=32, lr=2e-3)

    def run():
        torch.manual_seed(0)
        vae = ConvVAE(latent_dim=8, ngf=32, nef=16)
        return fit_vae(vae, infinite_batches(x_train, 32, seed=0), config)

    record = run()
    assert len(record["loss"]) == 60
    assert sum(record["mse"][-10:]) < 0.5 * sum(record["mse"][:10])  # reconstructions improve
    assert run()["loss"] == record["loss"]  # same seeds, same run


def test_vae_config_rejects_bad_values():
    with pytest.raises(ValueError, match="num_steps"):
        VAEConfig(num_steps=0)
    with pytest.raises(ValueError, match="lr"):
        VAEConfig(lr=0.0)
