"""Checkpoint I/O and the package-level pieces of a robust run: fit's stop request, the record of
what a run trains on, damaged checkpoints, the output-folder lock and stale temporaries."""

import os
import threading

import pytest
import torch

from ganbook.checkpoint import (
    CHECKPOINT_FORMAT,
    LOCK_NAME,
    OutputLocked,
    StopOnSignal,
    TrainingStopped,
    atomic_write_bytes,
    check_fit_state,
    check_same_run,
    load_checkpoint,
    lock_folder,
    remove_stale_temporaries,
    save_checkpoint,
)
from ganbook.data import MixtureBatches, ring_mixture
from ganbook.models import MLPDiscriminator, MLPGenerator
from ganbook.train import TrainConfig, fit

CONFIG = TrainConfig(num_steps=10, batch_size=32, lr_g=1e-3, lr_d=1e-3, progress=False)
RING = {"data": "ring", "recipe": "test"}


def models(seed=0):
    torch.manual_seed(seed)
    return MLPGenerator(hidden_dim=16), MLPDiscriminator(hidden_dim=16)


def batches():
    return MixtureBatches(ring_mixture(), batch_size=32, seed=0)


def test_stop_request_saves_that_step_and_resume_finishes_exactly(tmp_path):
    path = tmp_path / "c.pt"
    G0, D0 = models()
    full = fit(G0, D0, batches(), CONFIG)
    stop = threading.Event()

    def set_at_four(step, G, D, history):
        if step == 4:
            stop.set()

    G1, D1 = models()
    with pytest.raises(TrainingStopped, match="after step 4") as info:
        fit(G1, D1, batches(), CONFIG, callbacks=[set_at_four], checkpoint_path=path,
            stop=stop.is_set, run_info=RING)
    assert info.value.step == 4 and info.value.history.step == [1, 2, 3, 4]
    state = load_checkpoint(path)
    assert state["step"] == 4 and state["run"] == RING
    G2, D2 = models(seed=5)
    resumed = fit(G2, D2, batches(), CONFIG, checkpoint_path=path, resume=True, run_info=RING)
    assert resumed.loss_d == full.loss_d and resumed.loss_g == full.loss_g
    assert all(torch.equal(a, b) for a, b in zip(G0.parameters(), G2.parameters(), strict=True))


def test_stop_without_checkpoint_path_still_stops():
    G, D = models()
    with pytest.raises(TrainingStopped, match="nothing saved") as info:
        fit(G, D, batches(), CONFIG, stop=lambda: True)
    assert info.value.step == 1 and info.value.checkpoint_path is None


def test_stop_on_the_last_step_finishes_normally(tmp_path):
    G, D = models()
    one_step = TrainConfig(**{**CONFIG.__dict__, "num_steps": 1})
    history = fit(G, D, batches(), one_step, checkpoint_path=tmp_path / "c.pt", stop=lambda: True)
    assert len(history) == 1 and load_checkpoint(tmp_path / "c.pt")["step"] == 1


def test_resume_with_other_run_info_is_refused_naming_both(tmp_path):
    path = tmp_path / "c.pt"
    G, D = models()
    fit(G, D, batches(), CONFIG, checkpoint_path=path, run_info=RING)
    with pytest.raises(ValueError, match="data=ring, recipe=test.*data=grid, recipe=test"):
        fit(G, D, batches(), CONFIG, checkpoint_path=path, resume=True,
            run_info={"data": "grid", "recipe": "test"})
    check_same_run(None, RING)  # an old checkpoint without a record is not compared
    check_same_run(RING, None)


def test_resume_past_num_steps_is_refused(tmp_path):
    path = tmp_path / "c.pt"
    G, D = models()
    fit(G, D, batches(), CONFIG, checkpoint_path=path)
    with pytest.raises(ValueError, match="at step 10, past num_steps = 5"):
        fit(G, D, batches(), TrainConfig(**{**CONFIG.__dict__, "num_steps": 5}),
            checkpoint_path=path, resume=True)


def test_damaged_checkpoints_give_value_errors(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "step": 2}, path)
    G, D = models()
    with pytest.raises(ValueError, match="format tag but lacks G, D, opt_g"):
        fit(G, D, batches(), CONFIG, checkpoint_path=path, resume=True)
    fit(G, D, batches(), CONFIG, checkpoint_path=path)
    big = MLPGenerator(hidden_dim=32)  # other shapes: load_state_dict's RuntimeError
    with pytest.raises(ValueError, match="does not fit these networks"):
        fit(big, D, batches(), CONFIG, checkpoint_path=path, resume=True)
    with pytest.raises(ValueError, match="lacks step"):
        check_fit_state({"format": CHECKPOINT_FORMAT, "G": {}})


def test_atomic_write_and_failed_saves_leave_no_temporaries(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("no")

    save_checkpoint(tmp_path / "c.pt", {"step": 1})
    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path / "c.pt", {"step": 2, "bad": Unpicklable()})
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "c.pt"]


def test_stale_temporaries_are_found_and_removed(tmp_path):
    path = tmp_path / "checkpoint.pt"
    stale = [tmp_path / ".checkpoint.pt.x1.tmp", tmp_path / ".checkpoint.pt.y2.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    other = tmp_path / ".other.pt.z.tmp"
    other.write_bytes(b"not ours")
    assert remove_stale_temporaries(path) == stale
    assert not any(p.exists() for p in stale) and other.exists()


def test_lock_is_exclusive_names_the_holder_and_is_released(tmp_path):
    with lock_folder(tmp_path) as lock_path:
        assert lock_path == tmp_path / LOCK_NAME
        with pytest.raises(OutputLocked, match=f"in use by another run \\(pid {os.getpid()}\\)"):
            with lock_folder(tmp_path):
                pass
    with lock_folder(tmp_path):  # free again
        pass


def test_lock_is_released_when_the_holder_dies(tmp_path):
    ready_read, ready_write = os.pipe()  # child -> parent: "I hold the lock"
    wait_read, _wait_write = os.pipe()  # never written: the child blocks on it until killed
    pid = os.fork()
    if pid == 0:  # holds the lock, says so, then waits to be killed
        with lock_folder(tmp_path):
            os.write(ready_write, b"x")
            os.read(wait_read, 1)
        os._exit(0)
    assert os.read(ready_read, 1) == b"x"
    with pytest.raises(OutputLocked, match=f"pid {pid}"):
        with lock_folder(tmp_path):
            pass
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    with lock_folder(tmp_path):
        pass


def test_stop_on_signal_sets_the_event_once_then_restores_the_handlers():
    import signal

    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignal() as stopper:
        assert not stopper.event.is_set()
        os.kill(os.getpid(), signal.SIGTERM)  # handled between bytecodes, right here
        assert stopper.event.is_set() and stopper.received == "SIGTERM"
        assert signal.getsignal(signal.SIGTERM) == before  # a second one would act at once
    assert signal.getsignal(signal.SIGTERM) == before
