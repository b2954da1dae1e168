"""Command line: `python -m ganbook train --data ring --steps 2000 --out runs/ring`.

`train` checks every argument, the device and the output folder before it trains, locks the
folder against a second run, trains with `fit` (a checkpoint every `--checkpoint-every` steps, and
one on SIGTERM or Ctrl-C before it exits with code 75), and writes `samples.png`, `history.png`,
`history.json`, `metrics.json` and `checkpoint.pt` to `--out`. `--resume` continues a checkpoint
exactly. When the training curves show a known symptom (`ganbook.diagnose`), it is printed to
stderr with its likely cause and fix. Errors in the input are one line on stderr with exit code
2. `bench` prints the mode-coverage table of `ganbook.bench`. Nothing is downloaded: the data
are the embedded 2-D mixtures and bundled digits, or with `--data folder --root PATH` your own
images (`ganbook.folder`); for digits and folders a grid of samples goes to `samples/` at every
checkpoint. Under `torchrun --nproc_per_node=N -m ganbook train ...` each process trains on its
slice of every batch (`ganbook.distributed`) and process 0 alone writes to `--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import NoReturn

import torch

from ganbook import bench
from ganbook.checkpoint import (
    OutputLocked,
    StopOnSignal,
    TrainingStopped,
    check_fit_state,
    check_same_run,
    load_checkpoint,
    lock_folder,
    remove_stale_temporaries,
)
from ganbook.cli_runs import IMAGE_DATA, build_run, sample_grids, write_outputs
from ganbook.diagnose import DiagnoseConfig, diagnose, format_findings
from ganbook.distributed import (
    RankSlice,
    cleanup_distributed,
    launched_by_torchrun,
    setup_distributed,
    world_size,
)
from ganbook.folder import MEMORY_LIMIT
from ganbook.losses import LOSSES
from ganbook.models import SUPPORTED_IMAGE_SIZES
from ganbook.recipes import MIXTURE_RECIPES
from ganbook.train import fit
from ganbook.utils import get_device, seed_everything

EXIT_USAGE = 2  # a problem with the arguments, the output folder or the checkpoint
EXIT_STOPPED = 75  # stopped by SIGTERM/SIGINT with a checkpoint saved (EX_TEMPFAIL: try again)
MAX_STEPS = 10**7  # about 17 hours at 6 ms a step, the recommended recipe's pace on a laptop CPU
# 500 steps took 25 s (ring, recommended recipe) and 32 s (digits) on a 2-core CPU under a load
# of 16, about 3 s unloaded: a SIGKILLed default run loses well under a minute of work.
DEFAULT_CHECKPOINT_EVERY = 500
CHECKPOINT = "checkpoint.pt"
FOLDER_IMAGE_SIZE, FOLDER_CHANNELS = 64, 3  # --data folder: 64x64 colour, as DCGAN


class UsageError(Exception):
    """A problem the user can fix; `main` prints it as one line and exits with code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block (`--help` still shows the usage)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _number(kind: type, low: float, high: float, low_open: bool = False):
    """An argparse type: a finite `kind` in [low, high] (or (low, high] with `low_open`)."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        finite = kind is int or math.isfinite(value)  # int: no float() of a huge value
        if not finite or value < low or (low_open and value == low) or value > high:
            interval = f"{'(' if low_open else '['}{kind(low)}, {kind(high)}]"
            shown = text if len(text) <= 24 else f"{text[:10]}...({len(text)} characters)"
            raise argparse.ArgumentTypeError(f"{shown} is outside {interval}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m ganbook`."""
    parser = _Parser(prog="python -m ganbook", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a GAN on an embedded dataset")
    train.add_argument("--data", choices=["ring", "grid", "digits", "folder"], default="ring",
                       help="an embedded data set, or 'folder': your images below --root")
    train.add_argument("--root", type=Path,
                       help="with --data folder: the folder of images (sub-folders searched)")
    train.add_argument("--image-size", type=int, choices=SUPPORTED_IMAGE_SIZES,
                       help="with --data folder: side of the square the images are cropped to "
                            f"(default {FOLDER_IMAGE_SIZE})")
    train.add_argument("--channels", type=int, choices=(1, 3),
                       help=f"with --data folder: 3 for colour, 1 for grey (default "
                            f"{FOLDER_CHANNELS})")
    train.add_argument("--memory-limit", type=_number(int, 0, 2**40), metavar="MIB",
                       help="with --data folder: MiB of images kept in memory; a larger folder "
                            f"is streamed from disk (default {MEMORY_LIMIT // 2**20}, 0: stream)")
    train.add_argument("--recipe", choices=sorted(MIXTURE_RECIPES), default="recommended",
                       help="settings for the 2-D mixtures (ignored for digits and folder)")
    train.add_argument("--loss", choices=sorted(LOSSES), help="override the recipe's loss")
    train.add_argument("--steps", type=_number(int, 1, MAX_STEPS),
                       help="generator updates (recipe default if omitted)")
    train.add_argument("--batch-size", type=_number(int, 1, 65536))
    train.add_argument("--lr-g", type=_number(float, 0, 10, low_open=True))
    train.add_argument("--lr-d", type=_number(float, 0, 10, low_open=True))
    train.add_argument("--n-critic", type=_number(int, 1, 100))
    train.add_argument("--lambda-gp", type=_number(float, 0, 1e6))
    train.add_argument("--r1-gamma", type=_number(float, 0, 1e6))
    train.add_argument("--seed", type=_number(int, 0, 2**32 - 1), default=0)
    train.add_argument("--device", help="cpu, cuda, cuda:N, mps (default: the best available)")
    train.add_argument("--out", type=Path, required=True, help="output folder")
    train.add_argument("--checkpoint-every", type=_number(int, 0, MAX_STEPS),
                       default=DEFAULT_CHECKPOINT_EVERY,
                       help="steps between checkpoints, 0 for only at the end (default "
                            f"{DEFAULT_CHECKPOINT_EVERY}); SIGTERM and Ctrl-C also save one")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    bench.add_arguments(commands.add_parser(
        "bench", help="mode coverage of the mixture recipes, beside the published rows"))
    return parser


def _device(name: str | None) -> torch.device:
    try:
        return get_device(name)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"--device: {exc}") from None


def _prepare_out(out: Path) -> None:
    """Create `out` or fail with a message: it must be a folder in which we can write."""
    for parent in [out, *out.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                where = "is a file" if parent == out else f"lies under the file {parent}"
                raise UsageError(f"--out {out} {where}; choose a folder")
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".ganbook-probe.")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise UsageError(f"--out {out} is not writable ({exc.strerror}); choose a folder you "
                         "can write to") from None


def _checkpoint_bytes(modules: list[torch.nn.Module], num_steps: int) -> int:
    """A generous size of the checkpoint: weights of every module, Adam's two moments of G and D,
    the per-step history (9 numbers a step), and a little room for the rest."""
    params = [sum(p.numel() * p.element_size() for p in m.parameters()) for m in modules]
    return 3 * sum(params[:2]) + sum(params[2:]) + 100 * num_steps + 2**20


def _check_free_space(out: Path, need: int) -> None:
    free = shutil.disk_usage(out).free
    if free < need:
        raise UsageError(f"--out {out} has {free / 2**20:.1f} MiB free, the run needs about "
                         f"{need / 2**20:.1f} MiB for its checkpoint and figures; free some space "
                         "or choose another folder")


def _check_data_arguments(args: argparse.Namespace) -> None:
    """--root, --image-size and --channels go with --data folder, which needs --root."""
    if args.data == "folder":
        if args.root is None:
            raise UsageError("--data folder needs --root, the folder that holds your images")
        args.image_size = args.image_size or FOLDER_IMAGE_SIZE
        args.channels = args.channels or FOLDER_CHANNELS
        if args.memory_limit is None:
            args.memory_limit = MEMORY_LIMIT // 2**20
        return
    for flag, value in (("--root", args.root), ("--image-size", args.image_size),
                        ("--channels", args.channels), ("--memory-limit", args.memory_limit)):
        if value is not None:
            raise UsageError(f"{flag} is for --data folder; --data {args.data} has its own")


def _check_resume(args: argparse.Namespace, path: Path, run_info: dict, num_steps: int) -> None:
    """Validate what `--resume` (or its absence) finds at `path` before anything trains."""
    if not args.resume:
        if path.exists():
            raise UsageError(f"{path} already holds a run; pass --resume to continue it, or "
                             "choose another --out (or delete it) to start a new one")
        return False
    if not path.exists():
        raise UsageError(f"--resume: there is no checkpoint at {path}; drop --resume to start a "
                         "new run there")
    state = load_checkpoint(path)
    check_fit_state(state, path)
    check_same_run(state.get("run"), run_info, path)
    step = int(state["step"])
    if step > num_steps:
        raise UsageError(f"{path} is at step {step}, past --steps {num_steps}; pass --steps "
                         f"{step} or more")
    if step == num_steps:
        print(f"note: {path} already holds all {step} steps; nothing to train, writing the "
              f"outputs again from it (pass --steps > {step} to train further)", file=sys.stderr)


def train(args: argparse.Namespace) -> dict:
    """Run the `train` command; returns the metrics written to `metrics.json` (an empty dict on
    the processes other than the first when torchrun starts several: process 0 writes)."""
    _check_data_arguments(args)
    device = _device(args.device)
    main_process = not launched_by_torchrun() or int(os.environ.get("RANK", "0")) == 0
    if main_process:
        _prepare_out(args.out)
    with contextlib.ExitStack() as stack:
        if main_process:
            try:
                stack.enter_context(lock_folder(args.out))
            except OutputLocked as exc:
                raise UsageError(str(exc)) from None
            except OSError as exc:
                raise UsageError(f"--out {args.out} is not writable ({exc.strerror})") from None
            remove_stale_temporaries(args.out / CHECKPOINT)  # from killed writes; we hold the lock
        if launched_by_torchrun():
            device = setup_distributed(device)
            stack.callback(cleanup_distributed)
        path = args.out / CHECKPOINT
        seed_everything(args.seed)
        run = build_run(args, device)
        config = run["config"]
        _check_resume(args, path, run["run_info"], config.num_steps)
        if main_process:
            modules = [m for m in (run["G"], run["D"], run["G_ema"]) if m is not None]
            _check_free_space(args.out, 2 * _checkpoint_bytes(modules, config.num_steps))
        stopper = stack.enter_context(StopOnSignal())
        batches = run["batches"]
        if world_size() > 1 and not run.get("per_process"):
            batches = RankSlice(batches)  # every process draws the global batch, keeps its slice
        grids = [sample_grids(args, run["G"], device, config.num_steps)] \
            if args.data in IMAGE_DATA else []
        run["history"] = fit(run["G"], run["D"], batches, config, checkpoint_path=path,
                             resume=args.resume, G_ema=run["G_ema"], stop=stopper.event.is_set,
                             run_info=run["run_info"], callbacks=grids)
        if not main_process:
            return {}
        findings = diagnose(run["history"], DiagnoseConfig(
            probabilities=config.loss in ("nonsaturating", "saturating")))
        if findings:  # the curves show a known symptom: say what it is and what to try
            print(format_findings(findings), file=sys.stderr)
        return write_outputs(args, run, device)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. unreadable image files) as one line, without Python's source line, from
    process 0 alone under torchrun."""
    if os.environ.get("RANK", "0") == "0":
        print(f"warning: {_one_line(message)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ganbook`; returns the process exit code."""
    with warnings.catch_warnings():
        return _main(sys.argv[1:] if argv is None else list(argv))


def _main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a one-line parser error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        import matplotlib

        matplotlib.use("Agg")  # the CLI writes files; it never opens a window
        warnings.showwarning = _show_warning  # restored by catch_warnings below
        if args.command == "train":
            metrics = train(args)
            if metrics:
                print(json.dumps(metrics, indent=2))
        else:
            bench.run(args)
    except TrainingStopped as stop:
        if os.environ.get("RANK", "0") != "0":
            return EXIT_STOPPED  # process 0 says how to resume
        again = argv if "--resume" in argv else [*argv, "--resume"]
        print(f"stopped after step {stop.step}; checkpoint saved to {stop.checkpoint_path}. "
              f"Resume with: python -m ganbook {shlex.join(again)}", file=sys.stderr)
        return EXIT_STOPPED
    except (UsageError, ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. the disk filled up during the run: the last checkpoint stands
        print(f"error: {_one_line(exc)}; the last checkpoint in --out is intact, resume with "
              "--resume once the problem is fixed", file=sys.stderr)
        return 1
    return 0
