"""`fit` on any iterable of batches: epochs cycled, samplers told the epoch, batches moved to the
device, exact resume where the order can be re-drawn, and clear errors otherwise."""

import dataclasses

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from ganbook.data import ring_mixture
from ganbook.loaders import EpochBatches, batch_stream
from ganbook.models import MLPDiscriminator, MLPGenerator
from ganbook.train import TrainConfig, fit

CONFIG = TrainConfig(num_steps=10, batch_size=8, lr_g=1e-3, lr_d=1e-3, progress=False)
POINTS = ring_mixture().sample(20, torch.Generator().manual_seed(0))  # 20 rows: 2 batches of 8


def models():
    torch.manual_seed(0)
    return (MLPGenerator(latent_dim=2, out_shape=(2,), hidden_dim=16),
            MLPDiscriminator(in_shape=(2,), hidden_dim=16))


def seeded_loader(seed: int = 0) -> DataLoader:
    dataset = TensorDataset(POINTS)
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=seed,
                                 drop_last=True)
    return DataLoader(dataset, batch_size=8, sampler=sampler, drop_last=True)


def test_epochs_cycle_and_the_sampler_hears_each_epoch():
    loader = seeded_loader()
    stream = EpochBatches(loader, device="cpu")
    orders = []
    for _ in range(3):  # 2 batches an epoch: epochs 0, 0, 1, 1, 2, 2
        orders.append((torch.cat([next(stream)[0] for _ in range(2)]), stream.epoch))
    assert [epoch for _, epoch in orders] == [0, 1, 2] and loader.sampler.epoch == 2
    assert not torch.equal(orders[0][0], orders[1][0])  # reshuffled each epoch
    assert stream.exact_resume


def test_a_list_of_batches_is_cycled_in_order():
    batches = [torch.full((2, 2), float(i)) for i in range(3)]
    stream = EpochBatches(batches)
    assert [next(stream)[0, 0].item() for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert (stream.epoch, stream.position, stream.exact_resume) == (2, 1, False)


def test_resume_with_a_set_epoch_sampler_is_exact():
    stream = EpochBatches(seeded_loader())
    for _ in range(3):
        next(stream)
    state = stream.state_dict()
    expected = [next(stream)[0] for _ in range(4)]
    resumed = EpochBatches(seeded_loader())
    resumed.load_state_dict(state)
    for a, b in zip(expected, [next(resumed)[0] for _ in range(4)], strict=True):
        assert torch.equal(a, b)


def test_resume_of_a_plain_shuffling_loader_warns_and_restarts_the_epoch():
    loader = DataLoader(TensorDataset(POINTS), batch_size=8, shuffle=True)
    stream = EpochBatches(loader)
    for _ in range(3):
        next(stream)
    with pytest.warns(UserWarning, match="cannot be restored"):
        EpochBatches(loader).load_state_dict(stream.state_dict())


def test_empty_epochs_non_iterables_tensors_and_finite_iterators_are_clear_errors():
    tiny = DataLoader(TensorDataset(POINTS[:3]), batch_size=8, drop_last=True)
    with pytest.raises(ValueError, match="fewer examples than one batch"):
        next(EpochBatches(tiny))
    with pytest.raises(TypeError, match="infinite_batches"):
        batch_stream(POINTS, torch.device("cpu"))
    with pytest.raises(TypeError, match="iterable of batches"):
        batch_stream(42, torch.device("cpu"))
    with pytest.raises(TypeError, match="re-iterable"):
        EpochBatches(iter([POINTS]))
    G, D = models()
    with pytest.raises(ValueError, match="ran out before training ended"):
        fit(G, D, iter([POINTS[:8], POINTS[8:16]]), CONFIG)


def test_fit_on_a_loader_equals_fit_on_the_same_batches_as_an_endless_iterator():
    G1, D1 = models()
    history = fit(G1, D1, seeded_loader(), CONFIG)  # 10 steps: five epochs of 2 batches
    stream = EpochBatches(seeded_loader())
    replay = [next(stream) for _ in range(CONFIG.num_steps)]
    G2, D2 = models()
    again = fit(G2, D2, iter(replay), CONFIG)
    assert history.loss_d == again.loss_d and history.loss_g == again.loss_g


class Interrupt(Exception):
    pass


def test_fit_on_a_loader_resumes_exactly(tmp_path):
    G, D = models()
    full = fit(G, D, seeded_loader(), CONFIG)
    path = tmp_path / "ckpt.pt"
    config = dataclasses.replace(CONFIG, checkpoint_every=3)

    def crash_at_five(step, G, D, history):  # the checkpoint of step 3 is mid-epoch (epoch 1)
        if step == 5:
            raise Interrupt

    G, D = models()
    with pytest.raises(Interrupt):
        fit(G, D, seeded_loader(), config, checkpoint_path=path, callbacks=[crash_at_five])
    G, D = models()
    resumed = fit(G, D, seeded_loader(), config, checkpoint_path=path, resume=True)
    assert resumed.loss_d == full.loss_d and resumed.loss_g == full.loss_g
