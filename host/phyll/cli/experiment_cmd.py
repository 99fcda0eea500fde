"""`phyll experiment perturbation`: in situ PhyLL versus a stale digital twin when the rig changes,
over several seeds, beside the same experiment on the constant-medium control."""
from __future__ import annotations

from pathlib import Path

from ..data import load_dataset
from ..devices import open_device
from ..experiments import perturbation
from ..network import TrainConfig
from ..placement import PLACEMENTS
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
    q.add_argument("--no-skip", dest="skip", action="store_false", help="layers without the digital skip")
    q.add_argument("--placement", choices=PLACEMENTS, default="in-order")
    q.add_argument("--epochs", type=int, default=100, help="epochs of twin training and at least of in situ training")
    q.add_argument("--perturb-epoch", type=int, default=60)
    q.add_argument("--perturb-kind", default="", help="default: the medium's physical kind (redraw, stirrer)")
    q.add_argument("--perturb-size", type=float, default=0.5, help="eps of a redraw, dB of a gain step, ...")
    q.add_argument("--recover-epochs", type=int, default=20)
    q.add_argument("--window", type=int, default=5, help="epochs averaged for before/after accuracies")
    q.add_argument("--twin", choices=("linear", "magnitude", "mlp"), default="mlp")
    q.add_argument("--twin-passes", type=int, default=3000, help="recorded passes the twin is fitted to")
    q.add_argument("--lr", type=float, default=5e-4)
    q.add_argument("--seed", type=int, default=0, help="first seed (split, network, medium noise)")
    q.add_argument("--seeds", type=int, default=5, help="seeds to run, >= 2 (default 5)")
    q.add_argument("--out", type=Path, default=Path("perturbation"), help="folder for JSON and PNG")
    q.set_defaults(run=run)


def run(args) -> int:
    try:
        check_output_folder(args.out, "--out")
        dataset = load_dataset(args.dataset, args.label_column)
        plan = perturbation.PerturbationPlan(
            perturb_epoch=args.perturb_epoch, kind=args.perturb_kind, size=args.perturb_size,
            recover_epochs=args.recover_epochs, window=args.window, twin=args.twin,
            twin_passes=args.twin_passes, seeds=args.seeds, first_seed=args.seed,
            placement=args.placement)
        config = TrainConfig(layers=args.layers, epochs=args.epochs, lr=args.lr, seed=args.seed,
                             eval_every=0, skip=args.skip)
        open_device(args.device).close()  # a wrong URL is named before anything trains
        result = json_safe(perturbation.run(dataset, lambda: open_device(args.device), config, plan))
    except USER_ERRORS as exc:
        return fail(str(exc))
    result["dataset"] = dataset.source
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "perturbation.json", result)
    perturbation.plot(result, args.out / "perturbation.png")
    for arm in perturbation.ARMS:
        print(summary_line(arm, result[arm], result["plan"]))
    return 0


def summary_line(arm: str, found: dict, plan: dict) -> str:
    def ci(value: dict) -> str:
        return f"{value['mean']:.1f} [{value['low']:.1f}, {value['high']:.1f}]"

    recovered = found["recovery_epochs"]
    return (f"{'physics' if arm == 'physics' else 'constant medium (control)'}: before: in situ "
            f"{ci(found['before'])} %, twin-trained {ci(found['twin_before'])} % (twin R^2 {found['twin_r2']['mean']:.2f}); "
            f"right after the {plan['kind']}: in situ {ci(found['right_after'])} %, stale twin "
            f"{ci(found['twin_after'])} % (in situ - twin {ci(found['in_situ_gap_right_after'])} points); "
            f"{plan['recover_epochs']} epochs later: in situ {ci(found['after'])} % (the stale twin does not "
            f"train); epochs until in situ is back within {perturbation.RECOVERED_WITHIN:g} point: {recovered} "
            "(0: never dropped, None: not back)")
