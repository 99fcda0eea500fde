"""Bad inputs are refused before any device traffic: exit 2, one line naming the file, flag or
option and what would be accepted, no traceback, and no file written or left half-written.

CASES is the table the README's promise rests on; each row is (name, argv, first line)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phyll import checkpoint
from phyll.cli import main

QUIET = "sim://acoustic?seed=3&noise=0&noise_floor=0"


def prepare(work: Path) -> None:
    """The inputs the cases point at, all inside `work`."""
    (work / "a-file").write_text("not a folder\n")
    (work / "a-folder").mkdir()
    (work / "clash").mkdir()
    (work / "clash" / "split-00").write_text("a file where a split's folder goes\n")
    (work / "blobs.csv").write_text("f1,f2,kind\n" + "".join(f"{i % 3 + 0.1 * i},{i % 7},{'abc'[i % 3]}\n"
                                                              for i in range(60)))
    (work / "latin1.csv").write_bytes("x,label\n1,a\n2,caf\xe9\n".encode("latin-1"))
    (work / "huge.csv").write_text("x,label\n1,a\n1e39,b\n")
    (work / "ragged.csv").write_text("x,y,label\n1,2,a\n3,b\n")
    (work / "wide.csv").write_text(",".join(f"f{i}" for i in range(18)) + ",kind\n"
                                   + "".join(",".join(["1"] * 18) + f",{'abc'[i % 3]}\n" for i in range(30)))
    assert main(["train", "--dataset", "builtin:iris", "--device", QUIET, "--epochs", "2",
                 "--out", str(work / "run"), "--quiet"]) == 0
    good = work / "run" / "split-00" / "checkpoint.npz"
    (work / "truncated.npz").write_bytes(good.read_bytes()[:3000])
    np.savez(work / "foreign.npz", weights=np.zeros(3))
    arrays, meta = checkpoint.load(good)
    meta["config"]["layers"] = 40
    del meta["format"]
    checkpoint.save(work / "deep.npz", arrays, meta)


TRAIN = ["train", "--device", QUIET, "--epochs", "3", "--quiet"]
BLOBS = ["--dataset", "{w}/blobs.csv", "--label-column", "kind"]
# (name, argv with {w} for the work folder, what the first line of stderr holds)
CASES = [
    ("--out is a file", [*TRAIN, "--out", "{w}/a-file"], "--out {w}/a-file is a file; give a folder"),
    ("--out under a file", [*TRAIN, "--out", "{w}/a-file/run"], "--out {w}/a-file/run: {w}/a-file is a file, not a folder"),
    ("--json-out is a folder", [*TRAIN, "--json-out", "{w}/a-folder"], "--json-out {w}/a-folder is a directory; give a file path"),
    ("--json-out not writable", [*TRAIN, "--json-out", "/proc/phyll.json"], "--json-out /proc/phyll.json: cannot write in /proc"),
    ("--out's split folder is a file", [*TRAIN, "--out", "{w}/clash"],
     "--out {w}/clash/split-00 is a file; give a folder"),
    ("--epochs 0", [*TRAIN, "--epochs", "0"], "--epochs must be a whole number >= 1, got 0"),
    ("--layers 1000", [*TRAIN, "--layers", "1000"], "--layers must be a whole number in [1, 32], got 1000"),
    ("--lr nan", [*TRAIN, "--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    ("--test-fraction leaving no test rows", [*TRAIN, *BLOBS, "--test-fraction", "0.01"],
     "a test fraction of 0.01 leaves no test rows: each of the 3 classes rounds to 0"),
    ("dataset missing", [*TRAIN, "--dataset", "{w}/nothing.csv", "--label-column", "kind"],
     "dataset file {w}/nothing.csv does not exist"),
    ("dataset is a folder", [*TRAIN, "--dataset", "{w}/a-folder", "--label-column", "kind"],
     "dataset {w}/a-folder is a directory; give a CSV file"),
    ("dataset not UTF-8", [*TRAIN, "--dataset", "{w}/latin1.csv", "--label-column", "label"],
     "dataset {w}/latin1.csv is not UTF-8 text (line 3 has byte 0xe9); save it as UTF-8 CSV"),
    ("dataset value beyond float32", [*TRAIN, "--dataset", "{w}/huge.csv", "--label-column", "label"],
     "{w}/huge.csv line 3, column 'x': value '1e39' is beyond float32's range"),
    ("dataset row missing a field", [*TRAIN, "--dataset", "{w}/ragged.csv", "--label-column", "label"],
     "{w}/ragged.csv line 3 has 2 fields, header has 3"),
    ("no such label column", [*TRAIN, "--dataset", "{w}/blobs.csv", "--label-column", "nope"],
     "{w}/blobs.csv has no column 'nope'"),
    ("CSV without --label-column", [*TRAIN, "--dataset", "{w}/blobs.csv"], "a CSV dataset needs --label-column"),
    ("seed=abc in the URL", ["train", "--device", "sim://acoustic?seed=abc", "--quiet"],
     "medium 'acoustic' option seed='abc' must be a whole number"),
    ("tones=2.5 in the URL", ["train", "--device", "sim://acoustic?tones=2.5", "--quiet"],
     "medium 'acoustic' option tones=2.5 must be a whole number"),
    ("unknown medium", ["train", "--device", "sim://nosuch", "--quiet"], "unknown medium 'nosuch'"),
    ("--resume truncated", ["train", "--resume", "{w}/truncated.npz"],
     "checkpoint {w}/truncated.npz cannot be read, truncated or corrupt (BadZipFile"),
    ("--resume a folder", ["train", "--resume", "{w}/a-folder"], "checkpoint {w}/a-folder is a directory"),
    ("--resume a foreign .npz", ["train", "--resume", "{w}/foreign.npz"],
     "{w}/foreign.npz is not a phyll checkpoint (no metadata); give a .npz phyll train saved"),
    ("--resume a config out of range", ["train", "--resume", "{w}/deep.npz"],
     "checkpoint {w}/deep.npz has a config this phyll cannot train: layers must be a whole number in [1, 32]"),
    ("--resume fewer epochs", ["train", "--resume", "{w}/run/split-00/checkpoint.npz", "--epochs", "1"],
     "--epochs 1 is fewer than the 2 epochs"),
    ("--resume, --json-out a folder", ["train", "--resume", "{w}/run/split-00/checkpoint.npz", "--json-out", "{w}/a-folder"],
     "--json-out {w}/a-folder is a directory"),
    ("eval truncated", ["eval", "{w}/truncated.npz"], "checkpoint {w}/truncated.npz cannot be read"),
    ("eval --json-out a folder", ["eval", "{w}/run/split-00/checkpoint.npz", "--json-out", "{w}/a-folder"],
     "--json-out {w}/a-folder is a directory"),
    ("experiment --out a file", ["experiment", "perturbation", "--out", "{w}/a-file"], "--out {w}/a-file is a file"),
]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-inputs")
    prepare(folder)
    return folder


def files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name, argv, first_line", CASES, ids=[case[0] for case in CASES])
def test_a_bad_input_is_refused_in_one_line_with_nothing_written(work, capsys, monkeypatch, name, argv, first_line):
    monkeypatch.chdir(work)
    before = files(work)
    code = main([arg.format(w=work) for arg in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("phyll: error: ") and first_line.format(w=work) in err.splitlines()[0], err
    assert "Traceback" not in err
    assert files(work) == before  # nothing written, changed, or left half-written


def test_a_device_too_small_for_the_data_fails_after_opening_it_and_says_so_in_the_json(work, capsys, monkeypatch):
    """The device's width is known once it is open: the run is refused (exit 2) with its summary
    written, status failed."""
    monkeypatch.chdir(work)
    summary = work / "wide.json"
    code = main([*TRAIN, "--dataset", str(work / "wide.csv"), "--label-column", "kind", "--json-out", str(summary)])
    first = capsys.readouterr().err.splitlines()[0]
    assert code == 2 and "18 features + 3 label entries = 21 input values" in first
    written = json.loads(summary.read_text())
    assert written["status"] == "failed" and written["error"] in first and written["splits"] == []
    assert written["device"]["medium"] == "acoustic"
    summary.unlink()
