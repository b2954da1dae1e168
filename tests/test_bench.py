import argparse
import dataclasses

import torch

from ganbook import bench
from ganbook.cli import main
from ganbook.data import ring_mixture
from ganbook.recipes import MIXTURE_RECIPES


def test_run_once_scores_2500_samples():
    recipe = MIXTURE_RECIPES["plain"]
    short = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, num_steps=5))
    result = bench.run_once(short, ring_mixture(), seed=0, device=torch.device("cpu"))
    assert set(result) == {"modes", "high_quality", "reverse_kl", "seconds"}
    assert 0 <= result["modes"] <= 8 and 0 <= result["high_quality"] <= 100
    assert result["seconds"] > 0


def test_table_lists_published_rows_then_ours():
    runs = [{"modes": 8, "high_quality": 90.0, "reverse_kl": 0.01, "seconds": 2.0},
            {"modes": 7, "high_quality": 80.0, "reverse_kl": 0.03, "seconds": 4.0}]
    table = bench.format_table("ring", 8, {"recommended": runs}).splitlines()
    assert table[0] == "ring: 8 modes, 2,500 samples per run"
    assert "PacGAN4" in table[4] and "95.9" in table[4] and "0.07" in table[4]
    ours = table[-1]
    assert ours.startswith("ganbook recommended") and "2 seeds" in ours
    assert "7.5 ± 0.7" in ours and "85.0 ± 7.1" in ours and "0.020 ± 0.014" in ours
    assert ours.endswith("3.0")  # the median of 2 s and 4 s


def test_mean_std_reports_infinite_runs():
    assert bench.mean_std([1.0, float("inf")], 3) == "inf in 1 of 2"
    assert bench.mean_std([2.0], 1) == "2.0 ± 0.0"


def test_cli_bench_prints_a_table(capsys):
    code = main(["bench", "--seeds", "1", "--data", "ring", "--recipes", "plain", "--steps", "3"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ring: 8 modes" in out and "ganbook plain" in out and "total wall time" in out


def test_cli_bench_rejects_zero_seeds(capsys):
    assert main(["bench", "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err


def test_the_script_and_the_cli_share_their_options():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args([])
    assert args.seeds == 5 and args.data == ["ring", "grid"]
    assert args.recipes == bench.CHAPTER7 and args.threads == 1 and args.out is None
    assert {"plain", "minibatch-std", "pack", "unrolled", "recommended"} <= set(args.recipes)


def test_results_file_is_written_run_by_run_and_resumed(tmp_path, capsys):
    out = tmp_path / "results.csv"
    argv = ["bench", "--seeds", "2", "--data", "ring", "--recipes", "plain", "--steps", "2",
            "--out", str(out)]
    assert main(argv[:2] + ["1"] + argv[3:]) == 0  # seed 0 only
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# ganbook mode-coverage benchmark") and "CPU(s)" in lines[0]
    assert lines[1] == ",".join(bench.FIELDS) and len(lines) == 3
    assert main(argv) == 0  # seed 0 is in the file: only seed 1 runs
    printed = capsys.readouterr().out
    assert printed.count("ring plain seed 0") == 1 and printed.count("ring plain seed 1") == 1
    rows = bench.read_results(out)
    assert [(r["data"], r["method"], r["seed"]) for r in rows] == [("ring", "plain", 0.0),
                                                                     ("ring", "plain", 1.0)]
    assert all(0 <= r["modes"] <= 8 and r["seconds"] > 0 for r in rows)
    assert "2 seeds" in printed.splitlines()[-3]
