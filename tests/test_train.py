import dataclasses
import json
import os

import pytest
import torch

from ganbook.data import MixtureBatches, infinite_batches, ring_mixture
from ganbook.models import MLPDiscriminator, MLPGenerator
from ganbook.train import History, TrainConfig, ema_copy, fit, load_checkpoint, save_checkpoint


def make_models(seed: int = 0, num_classes=None):
    torch.manual_seed(seed)
    G = MLPGenerator(latent_dim=2, out_shape=(2,), hidden_dim=16, num_classes=num_classes)
    D = MLPDiscriminator(in_shape=(2,), hidden_dim=16, num_classes=num_classes)
    return G, D


def ring_batches(seed: int = 0):
    return MixtureBatches(ring_mixture(), batch_size=32, seed=seed)


def params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


CONFIG = TrainConfig(num_steps=12, batch_size=32, lr_g=1e-3, lr_d=1e-3, progress=False)


def test_fit_is_deterministic_on_cpu():
    runs = []
    for _ in range(2):
        G, D = make_models()
        history = fit(G, D, ring_batches(), CONFIG)
        runs.append((history.to_dict(), params(G), params(D)))
    (h1, g1, d1), (h2, g2, d2) = runs
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert h1[key] == h2[key]
    assert torch.equal(g1, g2) and torch.equal(d1, d2)
    assert h1["step"] == list(range(1, 13))


class Interrupt(Exception):
    pass


# decay 0.5: the last 6 steps, from after the resume; ema: averaged over them (or all steps)
@pytest.mark.parametrize(("decay", "ema"), [(0.0, 0.0), (0.5, 0.0), (0.5, 0.8), (0.0, 0.8)])
def test_interrupted_run_resumes_exactly(tmp_path, decay, ema):
    config = dataclasses.replace(CONFIG, lr_decay_fraction=decay, ema_decay=ema)
    G, D = make_models()
    G_ema = ema_copy(G, config)
    full = fit(G, D, ring_batches(), config, G_ema=G_ema)

    path = tmp_path / "ckpt.pt"
    config = dataclasses.replace(config, checkpoint_every=5)

    def crash_at_seven(step, G, D, history):
        if step == 7:
            raise Interrupt

    G1, D1 = make_models()
    with pytest.raises(Interrupt):
        fit(G1, D1, ring_batches(), config, callbacks=[crash_at_seven], checkpoint_path=path,
            G_ema=ema_copy(G1, config))
    assert load_checkpoint(path)["step"] == 5

    G2, D2 = make_models(seed=99)  # fresh weights: everything must come from the checkpoint
    G2_ema = ema_copy(G2, config)
    resumed = fit(G2, D2, ring_batches(), config, checkpoint_path=path, resume=True,
                  G_ema=G2_ema)
    assert resumed.step == full.step
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert getattr(resumed, key) == getattr(full, key), key
    assert torch.equal(params(G2), params(G)) and torch.equal(params(D2), params(D))
    if ema:
        assert torch.equal(params(G2_ema), params(G_ema))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary files left


def test_resume_with_other_config_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    G, D = make_models()
    fit(G, D, ring_batches(), CONFIG, checkpoint_path=path)
    with pytest.raises(ValueError, match="lr_g: 0.001 -> 0.002"):
        fit(G, D, ring_batches(), dataclasses.replace(CONFIG, lr_g=2e-3, num_steps=20),
            checkpoint_path=path, resume=True)


def test_checkpoint_from_before_the_lr_decay_fields_resumes(tmp_path):
    path = tmp_path / "ckpt.pt"
    G, D = make_models()
    fit(G, D, ring_batches(), CONFIG, checkpoint_path=path)
    state = load_checkpoint(path)
    for name in ("lr_decay_fraction", "lr_decay_factor"):  # what an older ganbook wrote
        del state["config"][name]
    save_checkpoint(path, state)
    history = fit(G, D, ring_batches(), dataclasses.replace(CONFIG, num_steps=14),
                  checkpoint_path=path, resume=True)
    assert history.step == list(range(1, 15))


def _last_lrs(path):
    state = load_checkpoint(path)
    return [state[k]["param_groups"][0]["lr"] for k in ("opt_g", "opt_d")]


def test_lr_decay_scales_only_the_last_steps(tmp_path):
    # Adam moves every weight by about lr per step, so a factor of 1e-6 over all steps
    # leaves the weights almost where they started.
    G0, D0 = make_models()
    start = params(G0)
    frozen = dataclasses.replace(CONFIG, lr_decay_fraction=1.0, lr_decay_factor=1e-6)
    fit(G0, D0, ring_batches(), frozen, checkpoint_path=tmp_path / "frozen.pt")
    assert (params(G0) - start).abs().max() < 1e-7
    assert _last_lrs(tmp_path / "frozen.pt") == pytest.approx([1e-9, 1e-9])

    G1, D1 = make_models()
    fit(G1, D1, ring_batches(), CONFIG, checkpoint_path=tmp_path / "constant.pt")
    assert (params(G1) - start).abs().max() > 1e-4
    assert _last_lrs(tmp_path / "constant.pt") == [CONFIG.lr_g, CONFIG.lr_d]

    # Decaying the last third, 4 of 12 steps, changes nothing before step 9.
    G2, D2 = make_models()
    late = fit(G2, D2, ring_batches(), dataclasses.replace(CONFIG, lr_decay_fraction=1 / 3))
    G3, D3 = make_models()
    constant = fit(G3, D3, ring_batches(), CONFIG)
    assert late.loss_d[:9] == constant.loss_d[:9]  # step 9's D loss is computed before its update
    assert late.loss_g[:8] == constant.loss_g[:8] and late.loss_g[8:] != constant.loss_g[8:]


def test_generator_can_decay_by_its_own_factor(tmp_path):
    G, D = make_models()
    config = dataclasses.replace(CONFIG, lr_decay_fraction=0.5, lr_decay_factor=0.1,
                                 lr_decay_factor_g=0.5)
    fit(G, D, ring_batches(), config, checkpoint_path=tmp_path / "c.pt")
    assert _last_lrs(tmp_path / "c.pt") == pytest.approx([0.5 * CONFIG.lr_g, 0.1 * CONFIG.lr_d])


def test_ema_averages_generator_weights_over_the_decayed_steps():
    config = dataclasses.replace(CONFIG, lr_decay_fraction=0.25, ema_decay=0.9)  # steps 10-12
    seen = {}
    G, D = make_models()
    G_ema = ema_copy(G, config)
    fit(G, D, ring_batches(), config, G_ema=G_ema,
        callbacks=[lambda step, G, D, h: seen.setdefault(step, params(G).clone())])
    expected = seen[10]  # the average restarts from G's weights at the first decayed step
    for step in (11, 12):
        expected = 0.9 * expected + 0.1 * seen[step]
    assert torch.allclose(params(G_ema), expected, atol=1e-7)
    assert not torch.allclose(params(G_ema), params(G), atol=1e-4)


def test_ema_needs_a_copy_of_g_and_the_copy_needs_ema():
    G, D = make_models()
    with pytest.raises(ValueError, match="ema_decay > 0 and G_ema go together"):
        fit(G, D, ring_batches(), dataclasses.replace(CONFIG, ema_decay=0.9))
    with pytest.raises(ValueError, match="ema_decay > 0 and G_ema go together"):
        fit(G, D, ring_batches(), CONFIG, G_ema=make_models()[0])
    assert ema_copy(G, CONFIG) is None


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    G, D = make_models()
    history = fit(G, D, ring_batches(), CONFIG, checkpoint_path=tmp_path / "new.pt", resume=True)
    assert len(history) == 12 and (tmp_path / "new.pt").is_file()


def test_n_critic_counts_discriminator_updates(tmp_path):
    G, D = make_models()
    config = dataclasses.replace(CONFIG, num_steps=4, n_critic=3)
    fit(G, D, ring_batches(), config, checkpoint_path=tmp_path / "c.pt")
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["opt_d"]["state"][0]["step"].item() == 12
    assert state["opt_g"]["state"][0]["step"].item() == 4


def test_penalties_are_recorded():
    for field, value in (("lambda_gp", 10.0), ("r1_gamma", 1.0)):
        G, D = make_models()
        config = dataclasses.replace(CONFIG, num_steps=3, **{field: value})
        history = fit(G, D, ring_batches(), config)
        assert all(p > 0 for p in history.penalty), field


def test_conditional_fit_uses_labels():
    G, D = make_models(num_classes=3)
    x = torch.randn(60, 2)
    y = torch.arange(60) % 3
    history = fit(G, D, infinite_batches((x, y), batch_size=12), CONFIG)
    assert len(history) == 12


def test_nan_loss_names_the_step():
    G, D = make_models()

    def poison(step, G, D, history):
        if step == 2:
            with torch.no_grad():
                next(D.parameters()).fill_(float("nan"))

    with pytest.raises(FloatingPointError, match="diverged at step 3"):
        fit(G, D, ring_batches(), CONFIG, callbacks=[poison])


def test_fit_learns_a_single_gaussian():
    torch.manual_seed(0)
    target = torch.tensor([[1.5, -1.0]])
    from ganbook.data import MixtureOfGaussians

    G, D = make_models()
    config = TrainConfig(num_steps=400, batch_size=64, lr_g=2e-3, lr_d=2e-3, progress=False)
    fit(G, D, MixtureBatches(MixtureOfGaussians(target, 0.1), batch_size=64), config)
    with torch.no_grad():
        mean = G(torch.randn(2000, 2)).mean(0)
    assert torch.allclose(mean, target[0], atol=0.25), mean


def test_history_round_trips_through_json():
    G, D = make_models()
    history = fit(G, D, ring_batches(), dataclasses.replace(CONFIG, num_steps=3))
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history and len(again) == 3


def test_config_validation_is_clear():
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        TrainConfig(num_steps=0)
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        TrainConfig(loss="mse")
    with pytest.raises(ValueError, match="lr_d must be > 0"):
        TrainConfig(lr_d=0.0)
    with pytest.raises(ValueError, match=r"lr_decay_fraction must be in \[0, 1\]"):
        TrainConfig(lr_decay_fraction=1.5)
    with pytest.raises(ValueError, match=r"lr_decay_factor must be in \(0, 1\]"):
        TrainConfig(lr_decay_factor=0.0)
    with pytest.raises(ValueError, match=r"lr_decay_factor_g must be in \(0, 1\], got 2.0"):
        TrainConfig(lr_decay_factor_g=2.0)
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\), got 1.0"):
        TrainConfig(ema_decay=1.0)


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("this object cannot be saved")


def test_save_checkpoint_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})
    with pytest.raises(RuntimeError, match="cannot be saved"):
        save_checkpoint(path, {"step": 2, "bad": Unpicklable()})
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read"):
        load_checkpoint(junk)
    torch.save({"step": 3}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a ganbook checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
