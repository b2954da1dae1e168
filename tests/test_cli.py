import json

import pytest

from ganbook.cli import main
from ganbook.train import load_checkpoint


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
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    if data == "ring":
        assert metrics["num_modes"] == 8 and 0 <= metrics["modes"] <= 8


def test_resume_continues_to_more_steps(tmp_path):
    args = ["train", "--data", "grid", "--recipe", "plain", "--batch-size", "16", "--out",
            str(tmp_path), "--no-progress"]
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "4", "--resume"]) == 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["step"] == [1, 2, 3, 4]


def test_bad_values_give_a_clear_error(tmp_path, capsys):
    code = main(["train", "--data", "ring", "--steps", "0", "--out", str(tmp_path)])
    assert code == 2
    assert "num_steps must be a positive int" in capsys.readouterr().err


def test_unknown_dataset_is_rejected_by_the_parser(tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--data", "imagenet", "--out", str(tmp_path)])
