"""Training on several processes: slicing global batches, and a 2-process torchrun run of `fit`
that gives the one-process result on the same global batch (gloo, CPU)."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganbook.cli import main
from ganbook.data import MixtureBatches, infinite_batches, ring_mixture
from ganbook.distributed import RankSlice, is_main_process, local_slice, rank, world_size
from ganbook.recipes import MIXTURE_RECIPES
from ganbook.train import fit

WORKER = Path(__file__).parent / "distributed" / "fit_worker.py"


def test_one_process_is_rank_zero_of_one():
    assert (rank(), world_size(), is_main_process()) == (0, 1, True)


def test_local_slices_partition_the_global_batch():
    batch = torch.arange(12).reshape(6, 2)
    parts = [local_slice(batch, world=3, index=i) for i in range(3)]
    assert torch.equal(torch.cat(parts), batch)
    with pytest.raises(ValueError, match="does not split evenly over 4"):
        local_slice(batch, world=4, index=0)


def test_rank_slice_slices_pairs_and_keeps_the_wrapped_state():
    x, y = torch.arange(8.0).reshape(8, 1), torch.arange(8)
    whole = infinite_batches((x, y), 4, seed=3)
    second = RankSlice(infinite_batches((x, y), 4, seed=3), world=2, index=1)
    for _ in range(3):
        xw, yw = next(whole)
        xs, ys = next(second)
        assert torch.equal(xs, xw[2:]) and torch.equal(ys, yw[2:])
    state, expected = second.state_dict(), whole.state_dict()
    assert state.keys() == expected.keys()
    for key in state:
        assert torch.equal(torch.as_tensor(state[key]), torch.as_tensor(expected[key])), key


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANBOOK_PROGRESS": "0"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_give_the_one_process_gradients_and_weights(tmp_path):
    steps = 3
    done = _torchrun(str(WORKER), str(tmp_path / "two.pt"), str(steps))
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(tmp_path / "two.pt", weights_only=True)

    recipe = MIXTURE_RECIPES["recommended"]
    config = dataclasses.replace(recipe.train, num_steps=steps, lr_decay_fraction=0.0,
                                 ema_decay=0.0, progress=False)
    G, D = recipe.build(seed=0)
    fit(G, D, MixtureBatches(ring_mixture(), config.batch_size, seed=0), config)
    for name, module in (("G", G), ("D", D)):
        grads = [p.grad for p in module.parameters()]
        for a, b in zip(two[f"grad_{name}"], grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        for key, value in module.state_dict().items():
            torch.testing.assert_close(two[name][key], value, rtol=1e-5, atol=1e-6)


def test_two_process_cli_run_resumes_and_matches_one_process(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    common = ["-m", "ganbook", "train", "--data", "ring", "--recipe", "plain", "--device", "cpu"]
    first = _torchrun(*common, "--steps", "20", "--out", str(two))
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (two / "checkpoint.pt.tmp").exists()
    again = _torchrun(*common, "--steps", "40", "--out", str(two), "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((two / "metrics.json").read_text())["steps"] == 40
    assert main([*common[2:], "--steps", "40", "--out", str(one)]) == 0
    a = torch.load(two / "checkpoint.pt", weights_only=True)
    b = torch.load(one / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 40
    for name in ("G", "D"):
        for key, value in b[name].items():
            torch.testing.assert_close(a[name][key], value, rtol=1e-4, atol=1e-5)


def test_two_process_dcgan_streams_a_folder_and_resumes(tmp_path, image_folder):
    """The DCGAN (batch norm, which has no synchronised CPU version) on two CPU processes, each
    reading its own share of a streamed image folder, then resumed."""
    root, _ = image_folder
    out = tmp_path / "run"
    common = ["-m", "ganbook", "train", "--data", "folder", "--root", str(root), "--device",
              "cpu", "--image-size", "16", "--batch-size", "4", "--memory-limit", "0",
              "--checkpoint-every", "2", "--out", str(out)]
    first = _torchrun(*common, "--steps", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr.count("warning: skipped 1 of") == 1  # process 0 alone reports
    again = _torchrun(*common, "--steps", "5", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 5
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "step_000002.png", "step_000003.png", "step_000004.png", "step_000005.png"]
