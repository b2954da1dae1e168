import copy
import dataclasses

import pytest
import torch

from ganbook.data import MixtureBatches, ring_mixture
from ganbook.losses import bce_d_loss
from ganbook.models import MLPDiscriminator, MLPGenerator
from ganbook.train import TrainConfig, fit
from ganbook.unrolled import unrolled_logits, unrolled_weights

CONFIG = TrainConfig(num_steps=6, batch_size=32, lr_g=1e-3, lr_d=1e-3, progress=False)


def make_models(seed: int = 0, minibatch_std: int = 0):
    torch.manual_seed(seed)
    G = MLPGenerator(latent_dim=2, out_shape=(2,), hidden_dim=16)
    D = MLPDiscriminator(in_shape=(2,), hidden_dim=16, minibatch_std=minibatch_std)
    return G, D


def batches():
    return MixtureBatches(ring_mixture(), batch_size=32, seed=0)


def params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_zero_unroll_steps_is_bit_identical_to_plain_fit():
    runs = []
    for config in (CONFIG, dataclasses.replace(CONFIG, unroll_steps=0)):
        G, D = make_models()
        history = fit(G, D, batches(), config)
        runs.append((history.loss_g, history.loss_d, params(G), params(D)))
    assert runs[0][:2] == runs[1][:2]
    assert torch.equal(runs[0][2], runs[1][2]) and torch.equal(runs[0][3], runs[1][3])


def _adam_state(D, x_real, x_fake, steps=3):
    """An optimiser with some history, as in the middle of training."""
    opt = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    for _ in range(steps):
        opt.zero_grad()
        bce_d_loss(D(x_real), D(x_fake)).backward()
        opt.step()
    return opt


def test_one_look_ahead_step_equals_one_real_adam_step():
    _, D = make_models()
    x_real, x_fake = torch.randn(32, 2), torch.randn(32, 2)
    opt = _adam_state(D, x_real, x_fake)
    ahead = unrolled_weights(D, opt, x_real, x_fake, None, "nonsaturating", k=1)
    before = params(D)
    opt.zero_grad()
    bce_d_loss(D(x_real), D(x_fake)).backward()
    opt.step()  # the real step the look-ahead predicts
    for name, p in D.named_parameters():
        torch.testing.assert_close(ahead[name], p.detach(), rtol=1e-5, atol=1e-7)
    assert not torch.equal(before, params(D))


def test_look_ahead_leaves_d_and_its_optimiser_untouched():
    _, D = make_models()
    x_real, x_fake = torch.randn(32, 2), torch.randn(32, 2)
    opt = _adam_state(D, x_real, x_fake)
    weights, state = params(D), copy.deepcopy(opt.state_dict())
    unrolled_weights(D, opt, x_real, x_fake, None, "nonsaturating", k=3)
    assert torch.equal(weights, params(D))
    after = opt.state_dict()
    assert after["state"].keys() == state["state"].keys()
    for k, s in state["state"].items():
        assert all(torch.equal(torch.as_tensor(s[n]), torch.as_tensor(after["state"][k][n]))
                   for n in s)


def test_zero_look_ahead_gives_ds_own_logits():
    _, D = make_models()
    x_real, x_fake = torch.randn(32, 2), torch.randn(32, 2)
    opt = torch.optim.Adam(D.parameters())
    assert torch.equal(unrolled_logits(D, opt, x_real, x_fake, None, "nonsaturating", 0), D(x_fake))


def test_gradient_flows_through_the_look_ahead_steps():
    """G's gradient with k > 0 differs from the plain one, and by the second-order term only:
    with the look-ahead learning rate at 0 it is the plain gradient again."""
    G, D = make_models()
    x_real, z = torch.randn(32, 2), torch.randn(32, 2)
    opt = _adam_state(D, x_real, G(z).detach())

    def g_grad(k):
        G.zero_grad()
        logits = unrolled_logits(D, opt, x_real, G(z), None, "nonsaturating", k)
        torch.nn.functional.softplus(-logits).mean().backward()
        return params_grad(G)

    def params_grad(m):
        return torch.cat([p.grad.flatten() for p in m.parameters()])

    plain, unrolled = g_grad(0), g_grad(3)
    assert not torch.allclose(plain, unrolled)
    for group in opt.param_groups:
        group["lr"] = 0.0
    torch.testing.assert_close(g_grad(3), plain)


def test_d_update_is_the_same_with_and_without_unrolling():
    """Unrolling changes G's step only: from the same state, D's next update is identical, and
    one training step leaves D exactly as plain training does (G's first update comes after)."""
    one = dataclasses.replace(CONFIG, num_steps=1)
    runs = []
    for k in (0, 3):
        G, D = make_models()
        fit(G, D, batches(), dataclasses.replace(one, unroll_steps=k))
        runs.append((params(G), params(D)))
    assert torch.equal(runs[0][1], runs[1][1])  # D: the same update
    assert not torch.equal(runs[0][0], runs[1][0])  # G: a different one


def test_unrolled_fit_with_minibatch_std_and_labels_runs():
    torch.manual_seed(0)
    G = MLPGenerator(latent_dim=2, hidden_dim=16, num_classes=3)
    D = MLPDiscriminator(hidden_dim=16, num_classes=3, minibatch_std=4)
    x = torch.randn(64, 2)
    y = torch.arange(64) % 3
    from ganbook.data import infinite_batches
    history = fit(G, D, infinite_batches((x, y), 32, seed=0),
                  dataclasses.replace(CONFIG, unroll_steps=2))
    assert len(history) == CONFIG.num_steps


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_unrolled_run_resumes_exactly(tmp_path, decay):
    config = dataclasses.replace(CONFIG, num_steps=8, unroll_steps=2, lr_decay_fraction=decay,
                                 checkpoint_every=3)
    G, D = make_models(minibatch_std=4)
    full = fit(G, D, batches(), config)

    def crash_at_five(step, G, D, history):
        if step == 5:
            raise Interrupt

    path = tmp_path / "run.pt"
    G1, D1 = make_models(minibatch_std=4)
    with pytest.raises(Interrupt):
        fit(G1, D1, batches(), config, callbacks=[crash_at_five], checkpoint_path=path)
    G2, D2 = make_models(seed=1, minibatch_std=4)  # other weights: the checkpoint must win
    resumed = fit(G2, D2, batches(), config, checkpoint_path=path, resume=True)
    assert resumed.loss_g == full.loss_g and resumed.loss_d == full.loss_d
    assert torch.equal(params(G2), params(G)) and torch.equal(params(D2), params(D))


def test_unroll_steps_validation():
    with pytest.raises(ValueError, match="unroll_steps must be an int >= 0"):
        TrainConfig(unroll_steps=-1)
    with pytest.raises(ValueError, match=">= 0"):
        unrolled_weights(*make_models()[1:], torch.optim.Adam(make_models()[1].parameters()),
                         torch.zeros(4, 2), torch.zeros(4, 2), None, "nonsaturating", -1)
