"""`phyll train`: train on a dataset through any device URL, over K seeded splits."""
from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from .. import checkpoint, plots
from ..data import load_dataset
from ..devices import DEFAULT_URL, open_device
from ..network import ConfigError, TrainConfig
from ..training import SplitRun, TrainingInterrupted, summarize, trained_dataset
from .common import USER_ERRORS, checkpoint_device_url, fail, write_json

# A terminal gets a live bar; a log file gets a bar-less line now and then. Redrawn every epoch,
# one run once wrote 187 KB of progress into a log.
_TERMINAL_REDRAW_S, _LOG_REDRAW_S = 0.5, 60.0
_LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} epochs [{elapsed}<{remaining}{postfix}]"


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a physical network with PhyLL",
                              description="Train a physical neural network in situ with PhyLL.")
    p.add_argument("--dataset", help="CSV file (default: the bundled wine dataset; "
                   "'builtin:NAME' for another bundled one: wine, iris, digits, breast_cancer; "
                   "with --resume: the checkpoint's, or this if it moved)")
    p.add_argument("--label-column", help="CSV column holding the class label")
    p.add_argument("--device", help="physical system URL: sim://MEDIUM, emu://MEDIUM, a serial port or "
                   f"pyserial URL (default {DEFAULT_URL}; with --resume: the checkpoint's device)")
    p.add_argument("--layers", type=int, default=2, help="physical layers, >= 1 (default 2)")
    p.add_argument("--epochs", type=int,
                   help="epochs in total, >= 1 (default 200; with --resume: the checkpoint's)")
    p.add_argument("--splits", type=int, default=1, help="seeded train/test splits to run, >= 1 (default 1)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="test share of each split, in (0, 1) (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of split i is SEED+i, >= 0 (default 0)")
    p.add_argument("--theta", type=float, default=4.0, help="PhyLL loss temperature, > 0 (default 4)")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate, > 0 (default 5e-4)")
    p.add_argument("--inner-steps", type=int, default=10, help="Adam steps per measured batch, >= 1 (default 10)")
    p.add_argument("--batch-size", type=int, default=0, help="rows per batch, 0 = full batch (default)")
    p.add_argument("--eval-every", type=int, default=10,
                   help="epochs between accuracy checks, 0 = last epoch only (default 10)")
    p.add_argument("--out", type=Path, help="folder for checkpoints, metrics.json and PNG plots")
    p.add_argument("--json-out", type=Path, help="write the summary JSON here")
    p.add_argument("--resume", type=Path, help="continue a run from its checkpoint, on the device and "
                   "data it was trained on; the other training flags are the checkpoint's")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        url, make_runs = _resumed(args) if args.resume else _fresh(args)
        device = open_device(url)
    except USER_ERRORS as exc:
        return fail(str(exc))
    with closing(device):
        try:
            runs = make_runs(device)
        except USER_ERRORS as exc:
            return fail(str(exc))
        try:
            results = [_train(args, i, split_run, len(runs)) for i, split_run in enumerate(runs)]
        except TrainingInterrupted as exc:
            return fail(str(exc), code=1)
        summary = summarize(results, device.describe())
    summary["config"] = {"device": url, "dataset": runs[0].dataset.source,
                         "label_column": runs[0].dataset.label_column}
    print(f"train accuracy {summary['train_accuracy']:.2f} %   "
          f"test accuracy {summary['test_accuracy']:.2f} % "
          f"(± {summary['test_accuracy_std']:.2f}, min {summary['test_accuracy_min']:.2f}) "
          f"over {len(results)} split(s); physical passes: train {summary['physical_passes']['train']}, "
          f"eval {summary['physical_passes']['eval']}")
    if args.out:
        write_json(args.out / "metrics.json", summary)
    if args.json_out:
        write_json(args.json_out, summary)
    return 0


def _configs(args) -> list[TrainConfig]:
    """One config per split, every flag checked before anything is loaded or opened."""
    if args.splits < 1:
        raise ValueError(f"--splits must be a whole number >= 1, got {args.splits}")
    if not 0.0 < args.test_fraction < 1.0:
        raise ValueError(f"--test-fraction must be a number in (0, 1), got {args.test_fraction}")
    try:
        return [TrainConfig(layers=args.layers, epochs=200 if args.epochs is None else args.epochs,
                            theta=args.theta, lr=args.lr, inner_steps=args.inner_steps,
                            batch_size=args.batch_size, eval_every=args.eval_every, seed=args.seed + i)
                for i in range(args.splits)]
    except ConfigError as exc:
        flag = "--" + exc.field.replace("_", "-")
        raise ValueError(f"{flag} must be {exc.accepted}, got {exc.value}") from None


def _fresh(args):
    configs = _configs(args)
    dataset = load_dataset(args.dataset, args.label_column)
    url = args.device or DEFAULT_URL

    def make_runs(device) -> list[SplitRun]:
        return [SplitRun(dataset, device, config, config.seed, args.test_fraction, url) for config in configs]
    return url, make_runs


def _resumed(args):
    _configs(args)  # the checkpoint's config is used, but a flag out of range is still an error
    _, meta = checkpoint.load(args.resume)
    if args.epochs is not None and args.epochs < meta["epoch"]:
        raise ValueError(f"--epochs {args.epochs} is fewer than the {meta['epoch']} epochs checkpoint "
                         f"{args.resume} has done; give the total to reach")
    dataset = trained_dataset(meta, args.resume, args.dataset, args.label_column)
    url = checkpoint_device_url(meta, args.resume, args.device)

    def make_runs(device) -> list[SplitRun]:
        resumed = SplitRun.resume(args.resume, device, dataset, url)
        if args.epochs is not None:
            resumed.network.config.epochs = args.epochs
        return [resumed]
    return url, make_runs


def _progress_bar(args, index: int, split_run: SplitRun, n_runs: int) -> tqdm:
    terminal = sys.stderr.isatty()
    return tqdm(total=split_run.network.config.epochs, initial=split_run.network.epoch, disable=args.quiet,
                file=sys.stderr, desc=f"split {index + 1}/{n_runs}", unit="epoch", leave=False,
                mininterval=_TERMINAL_REDRAW_S if terminal else _LOG_REDRAW_S,
                bar_format=None if terminal else _LOG_FORMAT)


def _train(args, index: int, split_run: SplitRun, n_runs: int) -> dict:
    split_dir = args.out / f"split-{split_run.split_seed:02d}" if args.out else None
    bar = _progress_bar(args, index, split_run, n_runs)

    def progress(network, logs):
        postfix = {"loss": f"{sum(logs['loss']):.3f}"}
        if "accuracy" in logs:
            postfix["test"] = f"{logs['accuracy']['test'][-1]:.1f}%"
        bar.set_postfix(postfix, refresh=False)  # update() redraws, at most every mininterval
        bar.update(1)

    with bar:
        split_run.fit(out_dir=split_dir, callbacks=[progress])
    result = split_run.results()
    print(f"split seed {result['seed']}: train {result['train_accuracy']:.2f} %, "
          f"test {result['test_accuracy']:.2f} %", file=sys.stderr)
    if split_dir:
        split_dir.mkdir(parents=True, exist_ok=True)
        split_run.save(split_dir / "checkpoint.npz")
        _, meta = split_run.network.state()
        plots.training_curves(meta["history"], split_dir / "curves.png",
                              title=f"split seed {result['seed']}")
        plots.confusion_matrix(result["confusion"], split_run.dataset.class_names,
                               split_dir / "confusion.png")
        write_json(split_dir / "metrics.json", {**result, "history": meta["history"]})
    return result
