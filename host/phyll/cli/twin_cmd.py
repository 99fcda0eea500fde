"""`phyll twin fit`: a digital twin of a rig from its recorded passes, served by sim://twin?path=."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..media.calibration import LIVE_SHARE, held_out_split, load_recordings
from ..media.twin import TWIN_KINDS, fit_twin, inferred_encoding, save_twin
from ..physical import ActuatorEncoding
from .common import USER_ERRORS, check_output_file, fail, write_json


def register(subparsers) -> None:
    p = subparsers.add_parser("twin", help="fit a digital twin of a rig from recorded passes",
                              description="Digital twins from recordings (docs/media.md).")
    actions = p.add_subparsers(dest="twin_action", required=True, metavar="ACTION")
    q = actions.add_parser(
        "fit", help="fit and save a twin with its noise from x (drives) and y (readings) CSV files",
        description="Fit a model of a rig to recorded passes -- each row of X the drive sent, the "
                    "same row of Y what the sensors read (a first row of zeros in both is a header) -- "
                    "on all but the last 20 %% of the rows, report the held-out R^2 and residual noise, "
                    "and save it. Train through it with --device 'sim://twin?path=OUT' (or emu://).")
    q.add_argument("--x", type=Path, required=True, help="CSV of drives, one pass per row")
    q.add_argument("--y", type=Path, required=True, help="CSV of readings, the same rows")
    q.add_argument("--out", type=Path, required=True, help="twin file to write (.npz)")
    q.add_argument("--model", choices=TWIN_KINDS, default="magnitude",
                   help="linear; magnitude: |complex affine in x|, a rig reading field magnitudes "
                   "(default); mlp: a small neural network")
    q.add_argument("--sensors", type=int, help="use the first N columns of Y (default: all)")
    q.add_argument("--encoding", choices=("minmax", "l2"), default="minmax",
                   help="how training drives the twin: min-max onto the recorded range (default), "
                   "or l2 onto [-1, 1]")
    q.add_argument("--seed", type=int, default=0, help="seed of the MLP's initialisation")
    q.add_argument("--json-out", type=Path, help="write the fit report here")
    q.set_defaults(run=run)


def run(args) -> int:
    try:
        for path, flag in ((args.out, "--out"), *(((args.json_out, "--json-out"),) if args.json_out else ())):
            check_output_file(path, flag)
        x, y = load_recordings(args.x, args.y)
        if args.sensors is not None:
            if not 1 <= args.sensors <= y.shape[1]:
                raise ValueError(f"--sensors must be in [1, {y.shape[1]}] (the columns of {args.y}), "
                                 f"got {args.sensors}")
            y = y[:, :args.sensors]
        encoding = inferred_encoding(x) if args.encoding == "minmax" else ActuatorEncoding("l2", -1.0, 1.0)
        model = fit_twin(x, y, args.model, args.seed)
        source = {"x": str(args.x.resolve()), "y": str(args.y.resolve()), "rows": len(x),
                  "fitted_rows": held_out_split(len(x)), "drive_entries": x.shape[1],
                  "sensors": y.shape[1]}
        save_twin(args.out, model, y, encoding, source)
    except USER_ERRORS as exc:
        return fail(str(exc))
    report = fit_report(model, y, source, args.out)
    if args.json_out:
        write_json(args.json_out, report)
    print(f"twin ({model.kind}) of {source['sensors']} readings from {source['drive_entries']} drive "
          f"entries, fitted to {source['fitted_rows']} of {source['rows']} passes; on the "
          f"{source['rows'] - source['fitted_rows']} held out: R^2 median {report['held_out_r2_median']:.3f} "
          f"over all outputs, {report['held_out_r2_live_median']:.3f} over the {report['live_outputs']} live "
          f"ones; residual noise {100 * report['residual_noise_live_median']:.1f} % of a live output's mean "
          f"(median); saved to {args.out}")
    print(f"train through it: --device {json.dumps('sim://twin?path=' + str(args.out))}")
    return 0


def fit_report(model, y: np.ndarray, source: dict, out: Path) -> dict:
    means = y.mean(axis=0)
    live = means >= LIVE_SHARE * np.abs(means).max()
    relative = model.residual_std / np.where(np.abs(means) > 0, np.abs(means), np.inf)
    return {"twin": str(out.resolve()), "kind": model.kind, **source,
            "live_outputs": int(live.sum()),
            "held_out_r2": model.held_out_r2.tolist(), "residual_std": model.residual_std.tolist(),
            "held_out_r2_median": float(np.median(model.held_out_r2)),
            "held_out_r2_live_median": float(np.median(model.held_out_r2[live])),
            "residual_noise_live_median": float(np.median(relative[live]))}
