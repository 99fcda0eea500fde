"""`phyll experiment perturbation`: in situ PhyLL versus a stale digital twin when the rig changes."""
from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

from ..data import load_dataset
from ..devices import open_device
from ..experiments import perturbation
from ..network import TrainConfig
from ..training import json_safe
from .common import USER_ERRORS, check_output_folder, fail, write_json


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="run a reproducible experiment",
                              description="Reproducible experiments.")
    names = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    q = names.add_parser("perturbation", help="perturb the medium mid-training: PhyLL vs a stale twin",
                         description=perturbation.__doc__)
    q.add_argument("--device", default="sim://acoustic", help="in-process medium URL (default sim://acoustic)")
    q.add_argument("--dataset", help="CSV file or builtin:NAME (default: bundled wine)")
    q.add_argument("--label-column")
    q.add_argument("--layers", type=int, default=2)
    q.add_argument("--epochs", type=int, default=100, help="epochs of twin training and at least of in situ training")
    q.add_argument("--perturb-epoch", type=int, default=60)
    q.add_argument("--perturb-kind", default="", help="default: the medium's physical kind (redraw, stirrer)")
    q.add_argument("--perturb-size", type=float, default=0.5, help="eps of a redraw, dB of a gain step, ...")
    q.add_argument("--recover-epochs", type=int, default=20)
    q.add_argument("--window", type=int, default=5, help="epochs averaged for before/after accuracies")
    q.add_argument("--twin", choices=("linear", "mlp"), default="mlp")
    q.add_argument("--twin-passes", type=int, default=3000, help="recorded passes the twin is fitted to")
    q.add_argument("--lr", type=float, default=5e-4)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", type=Path, default=Path("perturbation"), help="folder for JSON and PNG")
    q.set_defaults(run=run)


def run(args) -> int:
    try:
        check_output_folder(args.out, "--out")
        dataset = load_dataset(args.dataset, args.label_column)
        plan = perturbation.PerturbationPlan(
            perturb_epoch=args.perturb_epoch, kind=args.perturb_kind, size=args.perturb_size,
            recover_epochs=args.recover_epochs, window=args.window, twin=args.twin,
            twin_passes=args.twin_passes, split_seed=args.seed)
        config = TrainConfig(layers=args.layers, epochs=args.epochs, lr=args.lr, seed=args.seed,
                             eval_every=0)
        device = open_device(args.device)
    except USER_ERRORS as exc:
        return fail(str(exc))
    with closing(device):
        try:
            result = json_safe(perturbation.run(dataset, device, config, plan))
        except USER_ERRORS as exc:
            return fail(str(exc))
    result["dataset"] = dataset.source
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "perturbation.json", result)
    perturbation.plot(result, args.out / "perturbation.png")
    ph, tw = result["phyll"], result["twin_model"]
    print(json.dumps({"phyll": {k: ph[k] for k in ("before", "right_after", "after",
                                                   "recovered_within_2_points_at_epoch")},
                      "twin_model": tw, "twin_r2": result["twin"]["held_out_r2"]}, indent=1))
    return 0
