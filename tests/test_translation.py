import dataclasses
import math

import pytest
import torch

from ganbook.losses import nonsaturating_g_loss
from ganbook.translation import (
    PatchDiscriminator,
    TranslationConfig,
    UNetGenerator,
    downsample,
    mask_lower_half,
    pix2pix_g_loss,
    psnr,
    receptive_field,
    train_translation,
    translate,
    upsample_bicubic,
)


def test_unet_maps_8x8_to_8x8_in_signed_range():
    G = UNetGenerator(in_channels=2, out_channels=1, width=8)
    y = G(torch.randn(5, 2, 8, 8) * 10)
    assert y.shape == (5, 1, 8, 8)
    assert y.min() >= -1 and y.max() <= 1


def test_unet_skip_connection_lets_every_input_pixel_reach_its_output_pixel():
    torch.manual_seed(0)
    G = UNetGenerator(width=8)
    x = torch.zeros(1, 1, 8, 8, requires_grad=True)
    G(x)[0, 0, 0, 0].backward()
    assert x.grad.abs().sum() > 0
    assert x.grad[0, 0, 0, 0] != 0  # the 8x8 skip path: a pixel reaches its own output


def test_patch_discriminator_returns_a_4x4_map_of_logits_with_6x6_fields():
    D = PatchDiscriminator(in_channels=2, width=8)
    logits = D(torch.zeros(3, 1, 8, 8), torch.zeros(3, 1, 8, 8))
    assert logits.shape == (3, 1, 4, 4)
    assert receptive_field(D) == 6


def test_receptive_field_matches_the_gradient_footprint_of_an_inner_logit():
    torch.manual_seed(0)
    D = PatchDiscriminator(in_channels=2, width=8)
    x = torch.randn(1, 1, 8, 8)
    y = torch.randn(1, 1, 8, 8, requires_grad=True)
    D(x, y)[0, 0, 2, 2].backward()  # an inner patch: no padding inside its field
    rows = (y.grad[0, 0].abs().sum(dim=1) > 0).nonzero().flatten()
    cols = (y.grad[0, 0].abs().sum(dim=0) > 0).nonzero().flatten()
    assert len(rows) == len(cols) == receptive_field(D) == 6
    assert rows.tolist() == list(range(2, 8))  # logit i covers rows 2i - 2 .. 2i + 3


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(N, C, 8, 8\)"):
        UNetGenerator()(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"\(N, C, 8, 8\)"):
        PatchDiscriminator()(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 4, 4))


def test_pix2pix_g_loss_is_adversarial_plus_lambda_l1():
    logits = torch.tensor([[0.0, 1.0], [-2.0, 3.0]])
    fake = torch.full((2, 1, 8, 8), 0.5)
    target = torch.full((2, 1, 8, 8), -0.5)  # |fake - target| = 1 everywhere
    total, adv, l1 = pix2pix_g_loss(logits, fake, target, lambda_l1=10.0)
    assert l1.item() == pytest.approx(1.0)
    assert adv.item() == pytest.approx(nonsaturating_g_loss(logits).item())
    assert total.item() == pytest.approx(adv.item() + 10.0)
    zero_logits = torch.zeros(4)
    assert pix2pix_g_loss(zero_logits, fake, fake, 3.0)[0].item() == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="lambda_l1"):
        pix2pix_g_loss(logits, fake, target, lambda_l1=-1.0)


def test_psnr_known_values():
    x = torch.zeros(2, 1, 8, 8)
    y = x.clone()
    y[0] += 0.1  # MSE 0.01 -> 10 log10(4 / 0.01) = 26.02 dB
    y[1] += 1.0  # MSE 1 -> 10 log10(4) = 6.02 dB
    assert psnr(y, x).tolist() == pytest.approx([10 * math.log10(400), 10 * math.log10(4)])
    assert math.isinf(psnr(x, x)[0].item())
    assert psnr(y, x, data_range=1.0)[1].item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, x[:1])


def test_mask_downsample_upsample():
    x = torch.arange(64.0).view(1, 1, 8, 8) / 32 - 1
    m = mask_lower_half(x, fill=0.0)
    assert torch.equal(m[..., :4, :], x[..., :4, :]) and (m[..., 4:, :] == 0).all()
    assert not (x[..., 4:, :] == 0).all()  # the input is left alone
    small = downsample(x, 2)
    assert small.shape == (1, 1, 4, 4)
    assert small[0, 0, 0, 0].item() == pytest.approx(x[0, 0, :2, :2].mean().item())
    const = torch.full((1, 1, 4, 4), 0.3)
    torch.testing.assert_close(upsample_bicubic(const, 8), torch.full((1, 1, 8, 8), 0.3))
    assert upsample_bicubic(torch.randn(3, 1, 4, 4) * 5).abs().max() <= 1
    with pytest.raises(ValueError, match="divide"):
        downsample(x, 3)


def test_training_lowers_the_l1_error_is_deterministic_and_leaves_global_rng_alone():
    x = torch.rand(128, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    inputs, targets = mask_lower_half(x), x
    config = TranslationConfig(num_steps=60, batch_size=32, width=8, lambda_l1=10.0)
    state = torch.get_rng_state()
    G, history = train_translation(inputs, targets, config)
    assert torch.equal(torch.get_rng_state(), state)
    assert not G.training
    assert len(history.l1) == len(history.loss_d) == len(history.loss_adv) == 60
    assert sum(history.l1[-10:]) < sum(history.l1[:10])
    G2, _ = train_translation(inputs, targets, config)
    torch.testing.assert_close(translate(G, inputs), translate(G2, inputs))


def test_l1_only_training_has_no_discriminator_losses():
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    config = dataclasses.replace(TranslationConfig(num_steps=5, batch_size=32, width=8),
                                 adversarial=False)
    _, history = train_translation(x, x, config)
    assert history.loss_d == [] and history.loss_adv == [] and history.loss_g == history.l1


def test_training_checks_its_data():
    x = torch.zeros(10, 1, 8, 8)
    with pytest.raises(ValueError, match="batch_size"):
        train_translation(x, x, TranslationConfig(batch_size=64))
