import json

import pytest

from phyll.cli import main


def test_train_writes_checkpoint_metrics_plots_and_json(blobs_csv, tmp_path, capsys):
    out, summary_path = tmp_path / "run", tmp_path / "summary.json"
    code = main(["train", "--dataset", str(blobs_csv), "--label-column", "kind",
                 "--device", "sim://acoustic?seed=3", "--epochs", "20", "--lr", "3e-3",
                 "--splits", "2", "--out", str(out), "--json-out", str(summary_path), "--quiet"])
    assert code == 0
    summary = json.loads(summary_path.read_text())
    assert [s["seed"] for s in summary["splits"]] == [0, 1]
    assert summary["test_accuracy"] == pytest.approx(
        sum(s["test_accuracy"] for s in summary["splits"]) / 2)
    assert summary["physical_passes"]["train"] > 0 and summary["physical_passes"]["eval"] > 0
    assert summary["device"]["medium"] == "acoustic" and summary["device"]["runtime"] == "cpython"
    for split in ("split-00", "split-01"):
        for name in ("checkpoint.npz", "curves.png", "confusion.png", "metrics.json"):
            assert (out / split / name).stat().st_size > 0
    assert "test accuracy" in capsys.readouterr().out

    code = main(["eval", str(out / "split-00" / "checkpoint.npz"), "--device", "sim://acoustic?seed=3"])
    assert code == 0
    assert "accuracy" in capsys.readouterr().out


def test_bad_data_fails_before_training(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,x\n3,nan,y\n")
    assert main(["train", "--dataset", str(path), "--label-column", "label", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "column 'b'" in err and "not finite" in err


def test_unknown_medium_and_option_are_named(capsys):
    assert main(["train", "--device", "sim://nosuch", "--epochs", "1", "--quiet"]) == 2
    assert "unknown medium 'nosuch'" in capsys.readouterr().err
    assert main(["train", "--device", "sim://acoustic?colour=red", "--epochs", "1", "--quiet"]) == 2
    assert "colour" in capsys.readouterr().err


@pytest.mark.parametrize("query, message", [
    ("seed=abc", "option seed='abc' must be a whole number"), ("tones=2.5", "option tones=2.5 must be a whole number"),
    ("drift=abc", "option drift='abc' must be a number"), ("seed=-1", "option seed=-1 must be a whole number >= 0"),
])
def test_a_media_option_of_the_wrong_type_is_named_with_what_it_takes(query, message, capsys):
    assert main(["train", "--device", f"sim://acoustic?{query}", "--epochs", "1", "--quiet"]) == 2
    assert f"medium 'acoustic' {message}" in capsys.readouterr().err


def test_help_everywhere(capsys):
    for argv in (["--help"], ["train", "--help"], ["eval", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    assert "--label-column" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["two", "0", "-1", ""])
def test_bad_blas_thread_count_is_named(monkeypatch, capsys, value):
    monkeypatch.setenv("PHYLL_BLAS_THREADS", value)
    assert main(["train", "--epochs", "1", "--quiet"]) == 2
    assert "PHYLL_BLAS_THREADS" in capsys.readouterr().err


def test_commands_start_without_matplotlib():
    # pyplot takes ~0.5 s to import; only runs that write figures load it.
    import subprocess
    import sys
    code = ("import sys; from phyll.cli import build_parser; build_parser(); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_progress_in_a_log_stays_small(blobs_csv, capsys):
    # capsys's stderr is no terminal, as a log file is; redrawn every epoch, these 200 wrote 18 KB.
    code = main(["train", "--dataset", str(blobs_csv), "--label-column", "kind",
                 "--device", "sim://acoustic?seed=3", "--epochs", "200", "--eval-every", "20"])
    assert code == 0
    err = capsys.readouterr().err
    assert "split seed 0" in err and len(err.encode()) < 1000, len(err.encode())


@pytest.mark.parametrize("flag, value, accepted", [
    ("--lr", "-1", "> 0"), ("--lr", "nan", "> 0"), ("--theta", "0", "> 0"),
    ("--test-fraction", "1", "(0, 1)"), ("--test-fraction", "0", "(0, 1)"),
    ("--eval-every", "-1", ">= 0"), ("--batch-size", "-2", ">= 0"), ("--splits", "0", ">= 1"),
    ("--layers", "0", "in [1, 32]"), ("--layers", "1000", "in [1, 32]"), ("--epochs", "0", ">= 1"),
    ("--inner-steps", "0", ">= 1"), ("--seed", "-1", ">= 0"),
])
def test_out_of_range_flags_are_named_before_a_device_is_opened(flag, value, accepted, capsys):
    # sim://nosuch fails when opened: an error about the flag shows nothing was opened first.
    assert main(["train", "--device", "sim://nosuch", flag, value, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{flag} must be" in err and accepted in err and "nosuch" not in err
