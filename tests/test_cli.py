import json
from collections import namedtuple

import pytest
import torch

from ganbook import cli, cli_runs
from ganbook.checkpoint import CHECKPOINT_FORMAT
from ganbook.cli import EXIT_USAGE, build_parser, main
from ganbook.train import load_checkpoint

QUICK = ["train", "--data", "grid", "--recipe", "plain", "--batch-size", "16", "--no-progress"]


@pytest.mark.parametrize("data", ["ring", "digits"])
def test_train_writes_every_output(tmp_path, data, capsys):
    out = tmp_path / data
    code = main(["train", "--data", data, "--steps", "3", "--batch-size", "16", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    for name in ("samples.png", "history.png", "history.json", "metrics.json", "checkpoint.pt"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == data and metrics["steps"] == 3
    assert json.loads(capsys.readouterr().out) == metrics
    assert len(json.loads((out / "history.json").read_text())["loss_d"]) == 3
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 3
    assert state["run"]["data"] == data
    assert not list(out.glob(".*.tmp"))
    if data == "ring":
        assert metrics["num_modes"] == 8 and 0 <= metrics["modes"] <= 8


def test_resume_continues_to_more_steps(tmp_path):
    args = [*QUICK, "--out", str(tmp_path)]
    assert main([*args, "--steps", "2"]) == 0
    assert main([*args, "--steps", "4", "--resume"]) == 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["step"] == [1, 2, 3, 4]


def test_checkpoint_every_is_passed_to_fit(tmp_path):
    args = [*QUICK, "--out", str(tmp_path), "--steps", "5", "--checkpoint-every", "2"]
    assert main(args) == 0
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"]["checkpoint_every"] == 2
    assert build_parser().parse_args(["train", "--out", "x"]).checkpoint_every == 500


def _error(argv, capsys) -> str:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_resume_without_a_checkpoint_says_so(tmp_path, capsys):
    err = _error([*QUICK, "--steps", "2", "--out", str(tmp_path), "--resume"], capsys)
    assert "there is no checkpoint at" in err and "drop --resume" in err


def test_resume_whose_steps_are_reached_says_so(tmp_path, capsys):
    args = [*QUICK, "--out", str(tmp_path)]
    assert main([*args, "--steps", "4"]) == 0
    capsys.readouterr()
    err = _error([*args, "--steps", "3", "--resume"], capsys)
    assert "is at step 4, past --steps 3" in err
    (tmp_path / "metrics.json").unlink()
    assert main([*args, "--steps", "4", "--resume"]) == 0  # nothing to train: outputs again
    assert "already holds all 4 steps; nothing to train" in capsys.readouterr().err
    assert (tmp_path / "metrics.json").is_file()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 4


def test_resume_on_other_data_is_refused_naming_both(tmp_path, capsys):
    args = ["--batch-size", "16", "--no-progress", "--out", str(tmp_path), "--steps", "2"]
    assert main(["train", "--data", "ring", "--recipe", "plain", *args]) == 0
    capsys.readouterr()
    err = _error(["train", "--data", "grid", "--recipe", "plain", *args, "--resume"], capsys)
    assert "data=ring, recipe=plain" in err and "data=grid, recipe=plain" in err


def test_a_new_run_does_not_overwrite_an_old_one(tmp_path, capsys):
    args = [*QUICK, "--out", str(tmp_path), "--steps", "2"]
    assert main(args) == 0
    before = (tmp_path / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert "pass --resume to continue it" in _error(args, capsys)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_stale_temporaries_are_removed_at_start(tmp_path):
    stale = tmp_path / ".checkpoint.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert main([*QUICK, "--out", str(tmp_path), "--steps", "2"]) == 0
    assert not stale.exists()


def test_checkpoint_with_the_tag_but_missing_keys_is_a_clear_error(tmp_path, capsys):
    torch.save({"format": CHECKPOINT_FORMAT, "step": 3}, tmp_path / "checkpoint.pt")
    err = _error([*QUICK, "--out", str(tmp_path), "--steps", "5", "--resume"], capsys)
    assert "has the ganbook format tag but lacks G, D, opt_g" in err
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    assert "could not be read" in _error([*QUICK, "--out", str(tmp_path), "--resume"], capsys)


def test_too_little_free_space_is_refused_before_training(tmp_path, capsys, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    err = _error([*QUICK, "--out", str(tmp_path), "--steps", "2"], capsys)
    assert "MiB free" in err and not (tmp_path / "checkpoint.pt").exists()


def test_progress_follows_the_environment_unless_switched_off():
    base = cli_runs.DigitsRecipe().train
    args = build_parser().parse_args(["train", "--out", "x"])
    assert cli_runs.run_config(args, base).progress is None  # fit reads $GANBOOK_PROGRESS
    args = build_parser().parse_args(["train", "--out", "x", "--no-progress"])
    assert cli_runs.run_config(args, base).progress is False


def test_parser_errors_are_one_line_and_help_exits_0(tmp_path, capsys):
    assert "invalid choice" in _error(["train", "--data", "imagenet", "--out", str(tmp_path)],
                                      capsys)
    assert main(["train", "--help"]) == 0
    assert "--checkpoint-every" in capsys.readouterr().out


FOLDER = ["train", "--data", "folder", "--image-size", "16", "--batch-size", "4",
          "--no-progress", "--checkpoint-every", "2"]


def test_folder_run_writes_grids_during_training_and_reports_skipped_files(tmp_path,
                                                                          image_folder, capsys):
    root, readable = image_folder
    out = tmp_path / "run"
    assert main([*FOLDER, "--root", str(root), "--steps", "3", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: skipped 1 of" in err and "corrupt.jpg" in err and "Warning" not in err
    assert f"data: {readable} images of {root} at 16x16 RGB" in err and "in memory" in err
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.png",
                                                                   "step_000003.png"]
    for name in ("samples.png", "history.png", "metrics.json", "checkpoint.pt"):
        assert (out / name).is_file(), name
    run = load_checkpoint(out / "checkpoint.pt")["run"]
    assert run["data"] == "folder" and run["images"] == readable and run["image_size"] == 16
    from PIL import Image

    with Image.open(out / "samples" / "step_000003.png") as grid:  # 8 x 8 images of 16 px
        assert grid.size == (8 * 16 + 9 * 2, 8 * 16 + 9 * 2)


def test_streamed_folder_run_resumes_exactly(tmp_path, image_folder):
    root, _ = image_folder
    common = [*FOLDER, "--root", str(root), "--memory-limit", "0", "--channels", "1"]
    assert main([*common, "--steps", "6", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--steps", "3", "--out", str(tmp_path / "parts")]) == 0
    assert main([*common, "--steps", "6", "--out", str(tmp_path / "parts"), "--resume"]) == 0
    whole, parts = (json.loads((tmp_path / name / "history.json").read_text())
                    for name in ("whole", "parts"))
    assert parts["step"] == list(range(1, 7)) and parts["loss_d"] == whole["loss_d"]


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "folder"], "--data folder needs --root"),
    (["--data", "ring", "--root", "."], "--root is for --data folder"),
    (["--data", "digits", "--image-size", "32"], "--image-size is for --data folder"),
    (["--data", "folder", "--root", "EMPTY"], "no image files in"),
    (["--data", "folder", "--root", "MISSING"], "does not exist"),
])
def test_folder_arguments_are_checked(tmp_path, capsys, args, message):
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / a) if a in ("EMPTY", "MISSING") else a for a in args]
    assert main(["train", *args, "--out", str(tmp_path / "out"), "--no-progress"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
