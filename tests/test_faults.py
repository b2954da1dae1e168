"""Fault injection: the CLI killed (SIGKILL) and stopped (SIGTERM, SIGINT) at random steps and in
the middle of checkpoint writes, then resumed; concurrent runs; a full and a read-only disk; a
malicious CIFAR-10 file; and every bad input, each answered by a one-line error with exit code 2.

Runs are forked from this process (which has imported torch once), so each one is a real process
killed by a real signal, without paying the interpreter start-up for each of the many kills.
`GANBOOK_FAULT_SEED` changes the random kill points (default 12).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import os
import pickle
import random
import select
import signal
import sys
import time
import traceback
from pathlib import Path

import pytest
import torch

from ganbook import checkpoint as ckpt
from ganbook.cli import EXIT_STOPPED, EXIT_USAGE, main
from ganbook.data import load_images
from ganbook.models import DCGANDiscriminator, DCGANGenerator, MLPGenerator
from ganbook.train import TrainConfig

SEED = int(os.environ.get("GANBOOK_FAULT_SEED", "12"))
EVERY = 5  # --checkpoint-every in the kill chains
STEPS = 200
ARGS = ["train", "--data", "ring", "--recipe", "plain", "--steps", str(STEPS),
        "--batch-size", "16", "--checkpoint-every", str(EVERY), "--no-progress"]


# ------------------------------------------------------------------ forked CLI runs


class Run:
    """`main(argv)` in a forked child. With `slow`, every checkpoint write announces itself on a
    pipe ("save STEP", then "saved") and trickles its bytes out in 32 KiB chunks `slow` seconds
    apart, so a kill can land inside a write."""

    def __init__(self, argv: list[str], log: Path, slow: float = 0.0) -> None:
        read_fd, write_fd = os.pipe()
        self.log, self.returncode = log, None
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(read_fd)
            _child(argv, log, write_fd, slow)
        os.close(write_fd)
        self._pipe, self._buffer = read_fd, b""

    def expect(self, prefix: str, timeout: float = 60.0) -> str | None:
        """The next announced line starting with `prefix`, or None if the child ended first."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if line.decode().startswith(prefix):
                    return line.decode()
            left = deadline - time.monotonic()
            assert left > 0, f"no {prefix!r} within {timeout} s; log: {self.output()}"
            if select.select([self._pipe], [], [], left)[0]:
                chunk = os.read(self._pipe, 4096)
                if not chunk:
                    return None
                self._buffer += chunk

    def kill(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = 120.0) -> int:
        """Exit code, or -N when signal N ended the child."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                os.close(self._pipe)
            elif time.monotonic() > deadline:
                self.kill(signal.SIGKILL)
            else:
                time.sleep(0.005)
        return self.returncode

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _child(argv: list[str], log: Path, announce: int, slow: float) -> None:
    code = 99
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        torch_save = torch.save

        def announced_save(obj, f, *args, **kwargs):
            buffer = io.BytesIO()
            torch_save(obj, buffer, *args, **kwargs)
            os.write(announce, f"save {obj.get('step')}\n".encode())
            data = buffer.getvalue()
            for i in range(0, len(data), 2**15):
                f.write(data[i:i + 2**15])
                f.flush()
                time.sleep(slow)
            os.write(announce, b"saved\n")

        torch.save = announced_save
        code = main(argv)
    except BaseException:  # noqa: BLE001 - report anything, then leave without pytest's cleanup
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run of `ARGS`, shared by the tests that compare with it."""
    return _reference(tmp_path_factory.mktemp("plain"), ARGS)


def _reference(tmp_path: Path, args: list[str]) -> Path:
    """The uninterrupted run, in this process: it also performs the lazy imports (the optimiser's,
    the figures') once, so the forked runs do not each repeat them."""
    out = tmp_path / "reference"
    assert main([*args, "--out", str(out)]) == 0
    return out


def _same_result(out: Path, reference: Path) -> bool:
    a, b = (json.loads((p / "history.json").read_text()) for p in (out, reference))
    a.pop("time"), b.pop("time")
    m, n = (json.loads((p / "metrics.json").read_text()) for p in (out, reference))
    m.pop("seconds"), n.pop("seconds")
    s, t = (ckpt.load_checkpoint(p / "checkpoint.pt") for p in (out, reference))
    weights = all(torch.equal(s[k][name], t[k][name]) for k in ("G", "D", "G_ema") if k in t
                  for name in t[k])
    return a == b and m == n and weights and s["step"] == t["step"]


def _kill_chain(tmp_path: Path, args: list[str], signals: list[int], rng: random.Random,
                reference: Path) -> dict[str, int]:
    """Start the run, stop it with each of `signals` at a random moment (half of them inside a
    checkpoint write), resume after each, then let it finish. Counts what happened."""
    out, stats = tmp_path / "chain", {"kills": 0, "mid_write": 0, "corrupt": 0, "stopped": 0}
    for i, sig in enumerate(signals):
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
        run = Run([*args, "--out", str(out), *resume], tmp_path / f"run{i}.log", slow=0.002)
        if run.expect("saved") is None:  # the run ended before its first checkpoint
            break
        if rng.random() < 0.5:  # inside the next write (each takes several chunks)
            run.expect("save ")
            time.sleep(rng.uniform(0, 0.004))
        else:  # somewhere among the next few steps and writes
            time.sleep(rng.uniform(0, 0.1))
        run.kill(sig)
        code = run.wait()
        stats["kills"] += code == -signal.SIGKILL
        stats["stopped"] += code == EXIT_STOPPED
        if code == EXIT_STOPPED:
            assert "Resume with: python -m ganbook" in run.output() and "--resume" in run.output()
        else:
            assert code in (-signal.SIGKILL, 0), run.output()
        stats["mid_write"] += bool(list(out.glob(".checkpoint.pt.*.tmp")))  # cut short
        if (out / "checkpoint.pt").exists():
            try:
                state = ckpt.load_checkpoint(out / "checkpoint.pt")
                ckpt.check_fit_state(state)
                assert code == EXIT_STOPPED or state["step"] % EVERY == 0 or state["step"] == STEPS
            except (ValueError, AssertionError):
                stats["corrupt"] += 1
    final = Run([*args, "--out", str(out), "--resume"], tmp_path / "final.log")
    assert final.wait() == 0, final.output()
    assert not list(out.glob(".checkpoint.pt.*.tmp")), "stale temporaries were not removed"
    stats["same"] = _same_result(out, reference)
    print(f"kill chain (seed {SEED}): {stats}")
    return stats


def test_sigkill_at_random_steps_and_mid_write_resumes_to_the_same_result(tmp_path, reference):
    stats = _kill_chain(tmp_path, ARGS, [signal.SIGKILL] * 16, random.Random(SEED), reference)
    assert stats["kills"] >= 14 and stats["corrupt"] == 0 and stats["same"], (SEED, stats)
    assert stats["mid_write"] >= 1, (SEED, stats)  # at least one write was cut short


def test_sigterm_and_sigint_save_stop_with_code_75_and_resume_exactly(tmp_path):
    args = [a if a != "plain" else "recommended" for a in ARGS]  # lr decay and EMA state too
    reference = _reference(tmp_path, args)
    stats = _kill_chain(tmp_path, args, [signal.SIGTERM, signal.SIGINT] * 3, random.Random(SEED),
                        reference)
    assert stats["stopped"] >= 5 and stats["corrupt"] == 0 and stats["same"], (SEED, stats)


def test_a_second_run_into_a_busy_folder_is_refused_and_a_killed_one_frees_it(
        tmp_path, capsys, reference):  # reference: the lazy imports happen before forking
    out = tmp_path / "busy"
    first = Run([*ARGS, "--out", str(out)], tmp_path / "first.log", slow=0.01)
    first.expect("saved")
    while not (out / "checkpoint.pt").exists():  # "saved": written, and renamed just after
        time.sleep(0.01)
    assert main([*ARGS, "--out", str(out), "--resume"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "in use by another run" in err and f"pid {first.pid}" in err and err.count("\n") == 1
    first.kill(signal.SIGKILL)
    first.wait()
    assert main([*ARGS, "--steps", str(2 * EVERY), "--out", str(out), "--resume"]) == 0


# ------------------------------------------------------------------ full and read-only disks


def _private_mount_namespace() -> bool:
    """Enter a new user and mount namespace (as `unshare -Urm` does); False if not allowed."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
        return False
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    return True


def _mount_tmpfs(target: Path, size_kib: int, read_only: bool = False) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    target.mkdir(parents=True, exist_ok=True)
    flags = 1 if read_only else 0  # MS_RDONLY
    if libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", flags,
                  f"size={size_kib}k".encode()) != 0:
        raise OSError(ctypes.get_errno(), "mount tmpfs")


def _in_namespace(tmp_path: Path, scenario) -> dict:
    """Run `scenario(result)` in a forked child inside a private mount namespace; returns the
    dict it filled, or skips the test where namespaces are not allowed."""
    result_file = tmp_path / "result.json"
    pid = os.fork()
    if pid == 0:
        result: dict = {}
        try:
            if _private_mount_namespace():
                scenario(result)
            else:
                result["skip"] = "user namespaces are not allowed here"
        except BaseException:  # noqa: BLE001
            result["error"] = traceback.format_exc()
        result_file.write_text(json.dumps(result))
        os._exit(0)
    os.waitpid(pid, 0)
    result = json.loads(result_file.read_text())
    if "skip" in result:
        pytest.skip(result["skip"])
    assert "error" not in result, result["error"]
    return result


def test_full_disk_before_and_during_a_run(tmp_path, reference):

    def scenario(result: dict) -> None:
        small, disk = tmp_path / "small", tmp_path / "disk"
        _mount_tmpfs(small, 256)
        log = tmp_path / "small.log"
        result["small"] = Run([*ARGS, "--out", str(small / "run")], log).wait()
        result["small_log"] = log.read_text()
        _mount_tmpfs(disk, 6 * 1024)
        out = disk / "run"
        run = Run([*ARGS, "--out", str(out)], tmp_path / "full.log", slow=0.005)
        run.expect("saved")
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # take every free byte
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        result["full"] = run.wait()
        result["full_log"] = run.output()
        result["tmp_left"] = len(list(out.glob(".checkpoint.pt.*.tmp")))
        result["step"] = ckpt.load_checkpoint(out / "checkpoint.pt")["step"]
        filler.unlink()
        resumed = Run([*ARGS, "--out", str(out), "--resume"], tmp_path / "resumed.log")
        result["resumed"] = resumed.wait()
        result["same"] = _same_result(out, reference)

    r = _in_namespace(tmp_path, scenario)
    assert r["small"] == EXIT_USAGE and "MiB free" in r["small_log"], r["small_log"]
    assert r["small_log"].count("\n") == 1 and "Traceback" not in r["small_log"]
    assert r["full"] == 1 and "No space left on device" in r["full_log"], r["full_log"]
    assert "Traceback" not in r["full_log"] and r["tmp_left"] == 0 and r["step"] % EVERY == 0
    assert r["resumed"] == 0 and r["same"], r


def test_read_only_output_folder_is_refused_before_training(tmp_path, reference):

    def scenario(result: dict) -> None:
        _mount_tmpfs(tmp_path / "ro", 64, read_only=True)
        log = tmp_path / "ro.log"
        result["code"] = Run([*ARGS, "--out", str(tmp_path / "ro" / "run")], log).wait()
        result["log"] = log.read_text()

    r = _in_namespace(tmp_path, scenario)
    assert r["code"] == EXIT_USAGE and "Read-only file system" in r["log"], r["log"]
    assert r["log"].count("\n") == 1


# ------------------------------------------------------------------ a hostile CIFAR-10 file


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalExploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


@pytest.mark.parametrize("exploit", [_Exploit, _EvalExploit])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_malicious_cifar_batch_does_not_run(tmp_path, exploit, protocol):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    payload = {"data": exploit(marker), "labels": [0]}
    (folder / "test_batch").write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(ValueError, match="is not a CIFAR-10 batch file.*refused"):
        load_images("cifar10", root=tmp_path, split="test")
    assert not marker.exists()


# ------------------------------------------------------------------ every bad input


def _cli_error(argv: list[str], capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("extra,message", [
    (["--device", "bogus"], "not a device name"),
    (["--device", "cuda:99" if torch.cuda.is_available() else "cuda"], "--device"),
    (["--steps", str(10**400)], "--steps"),
    (["--steps", "0"], "outside [1,"),
    (["--steps", "-5"], "outside"),
    (["--steps", "1e3"], "not an integer"),
    (["--lr-g", "nan"], "--lr-g"),
    (["--lr-d", "inf"], "--lr-d"),
    (["--lr-g", "0"], "outside (0"),
    (["--r1-gamma", "-1"], "--r1-gamma"),
    (["--lambda-gp", "nan"], "--lambda-gp"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", str(2**40)], "--batch-size"),
    (["--n-critic", "0"], "--n-critic"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--checkpoint-every", "-1"], "--checkpoint-every"),
    (["--data", "imagenet"], "invalid choice"),
])
def test_bad_arguments_are_one_line_errors_with_code_2(tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    err = _cli_error([*ARGS, "--out", str(out), *extra], capsys)
    assert message in err
    assert not out.exists() or not any(out.iterdir())  # nothing trained or written


def test_bad_output_folders(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    assert "is a file" in _cli_error([*ARGS, "--out", str(file)], capsys)
    assert f"lies under the file {file}" in _cli_error([*ARGS, "--out", str(file / "a/b")], capsys)


def test_bad_model_and_config_arguments_are_value_errors():
    with pytest.raises(ValueError, match="image_size 32.0 is not supported"):
        DCGANGenerator(image_size=32.0)
    with pytest.raises(ValueError, match="channels must be an int >= 1, got 0"):
        DCGANGenerator(image_size=32, channels=0)
    with pytest.raises(ValueError, match="ndf"):
        DCGANDiscriminator(image_size=32, ndf=2.5)
    with pytest.raises(ValueError, match="num_hidden"):
        MLPGenerator(num_hidden=-1)
    for field in ("lr_g", "lr_d", "lambda_gp", "r1_gamma", "lr_decay_fraction",
                  "lr_decay_factor", "lr_decay_factor_g", "ema_decay"):
        for bad in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ValueError, match=f"TrainConfig.{field} must be"):
                TrainConfig(**{field: bad})
    with pytest.raises(ValueError, match="betas"):
        TrainConfig(betas=(0.5, float("nan")))
