"""`phyll eval`: measure a saved model on a dataset through a device."""
from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..data import Standardizer, load_dataset
from ..devices import DEFAULT_URL, open_device
from ..network import Network, TrainConfig
from ..training import json_safe
from .common import USER_ERRORS, fail, write_json


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a saved checkpoint",
                              description="Evaluate a checkpoint on a dataset (all its rows by default).")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--dataset", help="CSV file or builtin:NAME (default: the dataset it was trained on)")
    p.add_argument("--label-column", help="CSV label column (default: the one it was trained with)")
    p.add_argument("--device", default=DEFAULT_URL, help=f"physical system URL (default {DEFAULT_URL})")
    p.add_argument("--json-out", type=Path, help="write the result JSON here")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        arrays, meta = checkpoint.load(args.checkpoint)
        trained = meta["dataset"]
        dataset = load_dataset(args.dataset or trained["source"],
                               args.label_column or trained["label_column"])
        if dataset.class_names != trained["class_names"]:
            return fail(f"dataset classes {dataset.class_names} differ from the checkpoint's "
                        f"{trained['class_names']}")
        device = open_device(args.device)
    except USER_ERRORS as exc:
        return fail(str(exc))
    with closing(device):
        try:
            network = Network(device, len(trained["class_names"]), meta["n_features"],
                              TrainConfig(**meta["config"]))
            network.load_state(arrays, meta)
            network.passes = {"train": 0, "eval": 0}
            scaler = Standardizer.from_arrays(arrays)
            accuracy = network.evaluate(scaler.transform(dataset.features), dataset.labels)
        except USER_ERRORS as exc:
            return fail(str(exc))
        result = {"accuracy": accuracy[-1], "accuracy_by_depth": accuracy, "rows": len(dataset.labels),
                  "physical_passes": network.passes, "device": json_safe(device.describe())}
    print(f"accuracy {accuracy[-1]:.2f} % on {len(dataset.labels)} rows "
          f"({', '.join(f'{a:.1f}' for a in accuracy)} % using 1..{len(accuracy)} layers)")
    if args.json_out:
        write_json(args.json_out, result)
    return 0
