"""Known answers for the stabilisers `fit` applies: weight clipping, instance noise and one-sided
label smoothing (TrainConfig.clip_value, instance_noise, real_label)."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from ganbook.data import MixtureBatches, ring_mixture
from ganbook.losses import bce_d_loss
from ganbook.models import MLPDiscriminator, MLPGenerator
from ganbook.train import TrainConfig, fit, load_checkpoint

# One thread, set here: the automatic choice would count FLOPs with a forward pass that the
# recording discriminator below would see.
CONFIG = TrainConfig(num_steps=10, batch_size=32, lr_g=1e-3, lr_d=1e-3, progress=False,
                     num_threads=1)


def make_models(seed: int = 0):
    torch.manual_seed(seed)
    return (MLPGenerator(latent_dim=2, out_shape=(2,), hidden_dim=16),
            MLPDiscriminator(in_shape=(2,), hidden_dim=16))


def params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def run(config, seed=0):
    G, D = make_models(seed)
    history = fit(G, D, MixtureBatches(ring_mixture(), 32, seed=0), config)
    return history, params(G), params(D)


def test_clipping_keeps_every_d_weight_in_range():
    _, _, d_plain = run(dataclasses.replace(CONFIG, loss="wasserstein"))
    assert d_plain.abs().max() > 0.05  # without clipping, weights leave [-c, c]
    _, _, d_clip = run(dataclasses.replace(CONFIG, loss="wasserstein", clip_value=0.05))
    assert d_clip.abs().max() <= 0.05
    assert (d_clip.abs() == 0.05).float().mean() > 0.3  # many weights sit on the boundary


@pytest.mark.parametrize("change", [{"instance_noise": 0.0, "instance_noise_anneal": True},
                                    {"real_label": 1.0}, {"clip_value": 0.0}])
def test_switched_off_stabilisers_are_bit_identical_to_plain_fit(change):
    h1, g1, d1 = run(CONFIG)
    h2, g2, d2 = run(dataclasses.replace(CONFIG, **change))
    assert h1.loss_d == h2.loss_d and h1.loss_g == h2.loss_g
    assert torch.equal(g1, g2) and torch.equal(d1, d2)


@pytest.mark.parametrize("change", [{"instance_noise": 0.1}, {"real_label": 0.9},
                                    {"clip_value": 0.05}])
def test_switched_on_stabilisers_change_training(change):
    _, g1, _ = run(CONFIG)
    _, g2, _ = run(dataclasses.replace(CONFIG, **change))
    assert not torch.equal(g1, g2)


class Recorder(nn.Module):
    """A D that remembers the samples it is shown (real first, then fake, in d_step)."""

    def __init__(self, D):
        super().__init__()
        self.D, self.seen = D, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.D(x)


def test_instance_noise_has_the_configured_std_and_anneals():
    zeros = iter(lambda: torch.zeros(4096, 2), None)  # real data: a point mass at 0
    G, D = make_models()
    D = Recorder(D)
    config = dataclasses.replace(CONFIG, num_steps=2, batch_size=4096, instance_noise=0.3,
                                 instance_noise_anneal=True)
    fit(G, D, zeros, config)
    real_step1, real_step2 = D.seen[0], D.seen[3]  # per step: real, fake (d_step), fake (g_step)
    assert abs(real_step1.std().item() - 0.3) < 0.01  # sigma at step 1
    assert abs(real_step2.std().item() - 0.15) < 0.01  # sigma (1 - 1/2) at step 2
    assert config.noise_std(1) == 0.3 and config.noise_std(2) == 0.15
    assert dataclasses.replace(config, instance_noise_anneal=False).noise_std(2) == 0.3


def test_label_smoothing_loss_known_values():
    a = torch.tensor([0.3, -1.2, 4.0])
    f = torch.tensor([0.5, -2.0])
    assert torch.equal(bce_d_loss(a, f, real_label=1.0), bce_d_loss(a, f))
    # at logit 0 every cross-entropy term is log 2, whatever the target
    zero = torch.zeros(3)
    assert math.isclose(bce_d_loss(zero, zero, real_label=0.9).item(), 2 * math.log(2),
                        rel_tol=1e-6)
    # the real term is minimised at D(x) = t, i.e. at the logit log(t / (1 - t))
    logit = torch.tensor([math.log(0.9 / 0.1)], requires_grad=True)
    bce_d_loss(logit, torch.zeros(1), real_label=0.9).backward()
    assert abs(logit.grad.item()) < 1e-6
    with pytest.raises(ValueError, match="real_label"):
        bce_d_loss(a, f, real_label=1.5)


@pytest.mark.parametrize("change", [{"clip_value": 0.05, "loss": "wasserstein"},
                                    {"instance_noise": 0.1, "instance_noise_anneal": True},
                                    {"real_label": 0.9}])
def test_resume_is_exact_with_stabilisers(tmp_path, change):
    config = dataclasses.replace(CONFIG, **change)
    full, g_full, d_full = run(config)

    class Stop(Exception):
        pass

    def stop_at_six(step, G, D, history):
        if step == 6:
            raise Stop

    path = tmp_path / "ckpt.pt"
    resumable = dataclasses.replace(config, checkpoint_every=5)
    G, D = make_models()
    with pytest.raises(Stop):
        fit(G, D, MixtureBatches(ring_mixture(), 32, seed=0), resumable, callbacks=[stop_at_six],
            checkpoint_path=path)
    assert load_checkpoint(path)["step"] == 5
    G, D = make_models(seed=7)
    resumed = fit(G, D, MixtureBatches(ring_mixture(), 32, seed=0), resumable,
                  checkpoint_path=path, resume=True)
    assert resumed.loss_d == full.loss_d
    assert torch.equal(params(G), g_full) and torch.equal(params(D), d_full)


@pytest.mark.parametrize(("change", "match"), [
    ({"clip_value": -0.1}, "clip_value"), ({"instance_noise": -1.0}, "instance_noise"),
    ({"real_label": 0.4}, "real_label"), ({"real_label": 0.9, "loss": "hinge"}, "cross-entropy"),
])
def test_bad_stabiliser_settings_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**change)
