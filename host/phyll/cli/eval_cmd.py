"""`phyll eval`: measure a saved model again, on the device and data split it was trained on."""
from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from ..devices import open_device
from ..network import accuracy_by_depth
from ..training import SplitRun, json_safe, read_checkpoint, trained_dataset
from .common import USER_ERRORS, check_output_file, checkpoint_device_url, fail, write_json
from .train_cmd import controls_line

# Parts measured for each --rows, in the order training measures them.
ROWS = {"test": ("test",), "train": ("train",), "all": ("train", "test")}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate a saved checkpoint",
        description="Measure a checkpoint again through the device it was trained on, on its own "
                    "test split (the split's seed and test fraction are in the checkpoint).")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--dataset", help="CSV file or builtin:NAME with the same classes and features "
                   "(default: the dataset it was trained on; if given, the checkpoint's split is drawn from it)")
    p.add_argument("--label-column", help="CSV label column (default: the one it was trained with)")
    p.add_argument("--device", help="physical system URL (default: the device it was trained on; "
                   "another one is measured with a warning)")
    p.add_argument("--rows", choices=tuple(ROWS), default="test",
                   help="the split's test rows (default), its training rows, or all rows "
                   "(both parts, each measured as in training)")
    p.add_argument("--json-out", type=Path,
                   help="write the result JSON here (test_accuracy, train_accuracy, rows, ...)")
    p.add_argument("--controls", action="store_true",
                   help="train the controls again on the checkpoint's split, config and seed (a "
                   "constant and a noise medium of the physics' recorded output statistics, a "
                   "logistic regression) and report the physics' contribution: the test accuracy "
                   "measured now minus the constant medium's")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        if args.json_out:
            check_output_file(args.json_out, "--json-out")
        _, meta = read_checkpoint(args.checkpoint)
        dataset = trained_dataset(meta, args.checkpoint, args.dataset, args.label_column)
        url = checkpoint_device_url(meta, args.checkpoint, args.device)
        device = open_device(url)
    except USER_ERRORS as exc:
        return fail(str(exc))
    with closing(device):
        try:
            split_run = SplitRun.resume(args.checkpoint, device, dataset, url)
            split_run.network.passes = {"train": 0, "eval": 0}
            result = _measure(split_run, ROWS[args.rows])
            if args.controls:
                result.update(_controls(split_run, result))
        except USER_ERRORS as exc:
            return fail(str(exc))
        result.update({"checkpoint": str(args.checkpoint.resolve()), "epoch": split_run.network.epoch,
                       "dataset": dataset.source, "device_url": url,
                       "physical_passes": split_run.network.passes,
                       "device": json_safe(device.describe())})
    for name, rows in result["rows"].items():
        by_depth = result["accuracy_by_depth"][name]
        print(f"{name} accuracy {by_depth[-1]:.2f} % on {rows} rows "
              f"({', '.join(f'{a:.1f}' for a in by_depth)} % using 1..{len(by_depth)} layers)")
    if args.controls:
        print(controls_line({"controls": result["controls"],
                             "physics_contribution": {"mean": result["physics_contribution"], "std": 0.0}}))
    if args.json_out:
        write_json(args.json_out, result)
    return 0


def _measure(split_run: SplitRun, parts: tuple[str, ...]) -> dict:
    """{NAME_accuracy, rows: {NAME: n}, accuracy_by_depth: {NAME: [...]}} per part, plus "all"
    when both parts are measured. Each part goes in the blocks training measured it in (one
    batch up to FORWARD_VECTORS vectors): the label value written into a batch is its largest
    |x|, so other batches would be other measurements."""
    predicted, labels = {}, {}
    for name in parts:
        features, labels[name] = split_run.part(name)
        predicted[name] = split_run.network.predict_by_depth(features)
    if len(parts) > 1:
        predicted["all"] = np.concatenate([predicted[name] for name in parts])
        labels["all"] = np.concatenate([labels[name] for name in parts])
    by_depth = {name: accuracy_by_depth(predicted[name], labels[name]) for name in predicted}
    return {**{f"{name}_accuracy": accuracy[-1] for name, accuracy in by_depth.items()},
            "rows": {name: len(labels[name]) for name in predicted}, "accuracy_by_depth": by_depth}


def _controls(split_run: SplitRun, result: dict) -> dict:
    """The controls trained again; the physics' contribution needs the test rows measured."""
    if "test_accuracy" not in result:
        test_features, test_labels = split_run.part("test")
        result["test_accuracy"] = accuracy_by_depth(
            split_run.network.predict_by_depth(test_features), test_labels)[-1]
    controls = split_run.controls()
    for measured in (controls["constant"], controls["noise"]):
        del measured["evaluations"]
    return {"controls": controls,
            "physics_contribution": result["test_accuracy"] - controls["constant"]["test_accuracy"]}
