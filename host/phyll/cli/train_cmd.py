"""`phyll train`: train on a dataset through any device URL, over K seeded splits.

Flags, output paths, a checkpoint to resume and the data are all checked before a device is
opened (exit 2, nothing written). From then on the run's summary (--json-out, --out/metrics.json)
is written however it ends: `status` completed (exit 0), failed (1; 2 if the device or its shape
was refused) or interrupted (128 + the signal: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), with the
error, the completed splits, where the stopped split's checkpoint is, and the device's counters.
"""
from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from .. import plots
from ..data import Dataset, load_dataset, stratified_split
from ..devices import DEFAULT_URL, open_device
from ..labgrid.farm import several_places, train_over_places
from ..network import FORWARD_VECTORS, MAX_LAYERS, ConfigError, TrainConfig
from ..physical import PhysicalTransform
from ..placement import PLACEMENTS, measure_placement
from ..training import (INTERRUPTED_NAME, SplitRun, StopRequested, TrainingInterrupted, json_safe,
                        read_checkpoint, stop_signal, summarize, trained_dataset, with_controls)
from .common import (USER_ERRORS, StopSignals, check_output_file, check_output_folder,
                     checkpoint_device_url, fail, warn, write_json)

# A terminal gets a live bar; a log file gets a bar-less line now and then. Redrawn every epoch,
# one run once wrote 187 KB of progress into a log.
_TERMINAL_REDRAW_S, _LOG_REDRAW_S = 0.5, 60.0
_LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} epochs [{elapsed}<{remaining}{postfix}]"
_SPLIT_FILES = ("checkpoint.npz", "metrics.json", "curves.png", "confusion.png", INTERRUPTED_NAME)
# --controls auto trains them when training rows x epochs x layers is at most this: they cost the
# host about twice the physics run's local updates (no physical pass), seconds at this size.
CONTROLS_AUTO_LIMIT = 1 << 20

def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a physical network with PhyLL",
                              description="Train a physical neural network in situ with PhyLL.")
    p.add_argument("--dataset", help="CSV file (default: the bundled wine dataset; "
                   "'builtin:NAME' for another bundled one: wine, iris, digits, breast_cancer; "
                   "with --resume: the checkpoint's, or this if it moved)")
    p.add_argument("--label-column", help="CSV column holding the class label")
    p.add_argument("--device", help="physical system URL: sim://MEDIUM, emu://MEDIUM, a serial port or "
                   f"pyserial URL (default {DEFAULT_URL}; with --resume: the checkpoint's device)")
    p.add_argument("--layers", type=int, default=2,
                   help=f"physical layers, 1 to {MAX_LAYERS} (default 2; deeper learns nothing more)")
    p.add_argument("--epochs", type=int,
                   help="epochs in total, >= 1 (default 200; with --resume: the checkpoint's)")
    p.add_argument("--splits", type=int, default=1, help="seeded train/test splits to run, >= 1 (default 1)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="test share of each split, in (0, 1) (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of split i is SEED+i, >= 0 (default 0)")
    p.add_argument("--theta", type=float, default=4.0, help="PhyLL loss temperature, > 0 (default 4)")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate, > 0 (default 5e-4)")
    p.add_argument("--inner-steps", type=int, default=10, help="Adam steps per measured batch, >= 1 (default 10)")
    p.add_argument("--batch-size", type=int, default=0,
                   help=f"rows per batch, 0 = full batch (default); at most {FORWARD_VECTORS // 2}, "
                   "a larger batch is split (host memory grows with the batch)")
    p.add_argument("--eval-every", type=int, default=10,
                   help="epochs between accuracy checks, 0 = last epoch only (default 10)")
    p.add_argument("--no-skip", dest="skip", action="store_false",
                   help="layers without the digital skip: z = W P(h) + b, so only what the physics "
                   "measured reaches the next layer (default: z = W [P(h), h] + b, as in the paper)")
    p.add_argument("--placement", choices=PLACEMENTS, default="in-order",
                   help="which actuator each input value drives: in order (default), or labels and "
                   "first features on the actuators the physics hears best (measured first, "
                   "256 passes); with --resume: the checkpoint's")
    p.add_argument("--controls", choices=("auto", "on", "off"), default="auto",
                   help="also train, on the same splits and seeds, the network through a constant "
                   "and a noise medium of the physics' output statistics and a logistic regression, "
                   "and report the physics' contribution (test accuracy minus the constant "
                   f"medium's); auto (default): on when training rows x epochs x layers <= {CONTROLS_AUTO_LIMIT}")
    p.add_argument("--out", type=Path, help="folder for checkpoints, metrics.json and PNG plots")
    p.add_argument("--json-out", type=Path, help="write the summary JSON here (also when the run fails "
                   "or is stopped: see its status)")
    p.add_argument("--resume", type=Path, help="continue a run from its checkpoint, on the device and "
                   "data it was trained on; the other training flags are the checkpoint's")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    if several_places(args.device):  # a farm: one `phyll train` per split, spread over the places
        return train_over_places(args, args.parser, _plan)
    with StopSignals() as signals:
        try:
            plan = _plan(args)
        except USER_ERRORS as exc:
            return fail(str(exc))
        return _Run(args, plan, signals).execute()


@dataclass
class _Plan:
    """A checked run: the device URL, the data, and the split runs to make once it is open."""

    url: str
    dataset: Dataset
    # -> the runs, and how their input values were placed on the actuators (measured once the
    # device is open; a resumed run keeps its checkpoint's)
    make_runs: Callable[[PhysicalTransform], tuple[list[SplitRun], dict]]
    skip: bool


def _plan(args) -> _Plan:
    configs = _configs(args)
    if args.resume:
        return _resumed(args)
    _check_outputs(args, [c.seed for c in configs])
    dataset = load_dataset(args.dataset, args.label_column)
    stratified_split(dataset.labels, args.test_fraction, configs[0].seed)  # refuses one without test rows
    url = args.device or DEFAULT_URL

    def make_runs(device) -> tuple[list[SplitRun], dict]:
        placement, placed = measure_placement(args.placement, device)
        return [SplitRun(dataset, device, config, config.seed, args.test_fraction, url, placement)
                for config in configs], placed
    return _Plan(url, dataset, make_runs, args.skip)


def _check_outputs(args, split_seeds: list[int]) -> None:
    """Every file the run may write can be written, before any of it runs."""
    if args.json_out:
        check_output_file(args.json_out, "--json-out")
    if not args.out:
        check_output_folder(Path.cwd(), "without --out a stopped run's checkpoint goes to the current folder;")
        return
    check_output_folder(args.out, "--out")
    check_output_file(args.out / "metrics.json", "--out")
    for seed in split_seeds:
        split_dir = args.out / f"split-{seed:02d}"
        check_output_folder(split_dir, "--out")
        for name in _SPLIT_FILES:
            check_output_file(split_dir / name, "--out")


class _Run:
    """One checked run from opening the device to its summary, which is written whatever ends it."""

    def __init__(self, args, plan: _Plan, signals: StopSignals) -> None:
        self.args, self.plan, self.signals = args, plan, signals
        self.results: list[dict] = []
        self.seeds: list[int] = []
        self.current: SplitRun | None = None  # a split whose outputs are not all written yet
        self.placement: dict | None = None
        # The continuing run writes where this one did.
        self.resume_flags = (*(("--out", str(args.out)) if args.out else ()),
                             *(("--json-out", str(args.json_out)) if args.json_out else ()))

    def execute(self) -> int:
        device = None
        try:
            device = open_device(self.plan.url)
            runs, self.placement = self.plan.make_runs(device)
            self.seeds = [split_run.split_seed for split_run in runs]
            for index, split_run in enumerate(runs):
                self._train(index, split_run, len(runs))
            return self._completed(device)
        except TrainingInterrupted as stopped:  # raised by the current split's fit
            return self._stopped(device, stopped, self.current)
        except (StopRequested, KeyboardInterrupt, *USER_ERRORS) as exc:
            if (split_run := self.current) is not None:  # stopped outside an epoch: saved as it is
                stopped = split_run.interrupted(exc, self._split_dir(split_run), self.resume_flags)
                return self._stopped(device, stopped, split_run)
            if (signum := stop_signal(exc)) is not None:  # nothing trained since the last split's files
                done = f"after {len(self.results)} completed split(s)" if self.results else "before training began"
                return self._ended(device, signum, f"stopped by {signal.Signals(signum).name} {done}")
            self._summary(device, "failed", str(exc))  # the device or its shape was refused
            return fail(str(exc))
        finally:
            if device is not None:
                device.close()

    def _split_dir(self, split_run: SplitRun) -> Path | None:
        return self.args.out / f"split-{split_run.split_seed:02d}" if self.args.out else None

    def _train(self, index: int, split_run: SplitRun, n_runs: int) -> None:
        self.current = split_run
        split_dir = self._split_dir(split_run)
        rows, wanted = len(split_run.train_rows), split_run.network.config.batch_size
        if (limit := split_run.network.batch_rows(rows)) < (wanted or rows):
            asked = f"--batch-size {wanted}" if wanted else f"a full batch of {rows} rows"
            warn(f"{asked} is more than {limit} rows, half of the {FORWARD_VECTORS} vectors one "
                 f"forward carries at most: training in shuffled batches of {limit} rows")
        bar = _progress_bar(self.args, index, split_run, n_runs)

        def progress(network, logs):
            postfix = {"loss": f"{sum(logs['loss']):.3f}"}
            if "accuracy" in logs:
                postfix["test"] = f"{logs['accuracy']['test'][-1]:.1f}%"
            bar.set_postfix(postfix, refresh=False)  # update() redraws, at most every mininterval
            bar.update(1)

        with bar:
            split_run.fit(out_dir=split_dir, callbacks=[progress], resume_flags=self.resume_flags)
        result = split_run.results()
        if _controls_wanted(self.args.controls, split_run):
            result = with_controls(result, split_run.controls())
        if index + 1 == n_runs:
            self.signals.settle()  # all trained: what is left is writing it down
        with self.signals.held():  # a stop comes after this split's files are whole
            controls = (f"; constant medium {result['controls']['constant']['test_accuracy']:.2f} %, "
                        f"physics contribution {result['physics_contribution']:+.2f} points"
                        if "controls" in result else "")
            print(f"split seed {result['seed']}: train {result['train_accuracy']:.2f} %, "
                  f"test {result['test_accuracy']:.2f} %{controls}", file=sys.stderr)
            if split_dir:
                _write_split(split_run, result, split_dir)
            self.results.append(result)
            self.current = None

    def _completed(self, device) -> int:
        summary = self._summary(device, "completed")
        print(f"train accuracy {summary['train_accuracy']:.2f} %   "
              f"test accuracy {summary['test_accuracy']:.2f} % "
              f"(± {summary['test_accuracy_std']:.2f}, min {summary['test_accuracy_min']:.2f}) "
              f"over {len(self.results)} split(s); physical passes: train {summary['physical_passes']['train']}, "
              f"eval {summary['physical_passes']['eval']}")
        if "controls" in summary:
            print(controls_line(summary))
        return 0

    def _stopped(self, device, stopped: TrainingInterrupted, split_run) -> int:
        """`split_run` stopped, its last completed epoch saved (or not, as `stopped` says)."""
        network = split_run.network
        split = {"seed": split_run.split_seed, "epochs": stopped.epoch,
                 "checkpoint": str(stopped.checkpoint_path) if stopped.checkpoint_path else None,
                 "physical_passes": dict(network.passes),  # of its completed epochs
                 "evaluations": asdict(network.history)["evaluations"]}
        return self._ended(device, stopped.signum, str(stopped), split)

    def _ended(self, device, signum: int | None, message: str, stopped_split: dict | None = None) -> int:
        message += self._not_started_note()
        self._summary(device, "failed" if signum is None else "interrupted", message, stopped_split)
        return fail(message, 1 if signum is None else 128 + signum)

    def _not_started_note(self) -> str:
        started = len(self.results) + (self.current is not None)
        rest = self.seeds[started:]
        if not rest:
            return ""
        return (f"; splits not started: seeds {', '.join(map(str, rest))}; run them with the same flags "
                f"and --seed {rest[0]} --splits {len(rest)}")

    def _summary(self, device, status: str, error: str | None = None,
                 stopped_split: dict | None = None) -> dict:
        self.signals.settle()  # the run has ended, however: a signal now would only cut its report
        summary = {"status": status, "error": error, **summarize(self.results, _describe(device))}
        if stopped_split:
            summary["stopped_split"] = stopped_split
        summary["config"] = {"device": self.plan.url, "dataset": self.plan.dataset.source,
                             "label_column": self.plan.dataset.label_column, "skip": self.plan.skip,
                             "placement": self.placement, "controls": self.args.controls}
        if self.args.out:
            write_json(self.args.out / "metrics.json", summary)
        if self.args.json_out:
            write_json(self.args.json_out, summary)
        return summary


def _describe(device) -> dict | None:
    if device is None:
        return None
    try:
        return json_safe(device.describe())
    except USER_ERRORS as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def controls_line(summary: dict) -> str:
    """What the controls scored and what the physics adds, in one line."""
    controls, contribution = summary["controls"], summary["physics_contribution"]
    return (f"controls: constant medium {controls['constant']['test_accuracy']:.2f} %, "
            f"noise medium {controls['noise']['test_accuracy']:.2f} %, "
            f"logistic regression {controls['logistic_regression']['test_accuracy']:.2f} %; "
            f"physics contribution {contribution['mean']:+.2f} ± {contribution['std']:.2f} points "
            "(test accuracy minus the constant medium's)")


def _controls_wanted(mode: str, split_run: SplitRun) -> bool:
    if mode != "auto":
        return mode == "on"
    config = split_run.network.config
    return len(split_run.train_rows) * config.epochs * config.layers <= CONTROLS_AUTO_LIMIT


def _write_split(split_run: SplitRun, result: dict, split_dir: Path) -> None:
    split_dir.mkdir(parents=True, exist_ok=True)
    split_run.save(split_dir / "checkpoint.npz")
    history = asdict(split_run.network.history)
    plots.training_curves(history, split_dir / "curves.png", title=f"split seed {result['seed']}",
                          controls=result.get("controls"))
    plots.confusion_matrix(result["confusion"], split_run.dataset.class_names, split_dir / "confusion.png")
    write_json(split_dir / "metrics.json", {**result, "history": history})


def _configs(args) -> list[TrainConfig]:
    """One config per split, every flag checked before anything is loaded or opened."""
    if args.splits < 1:
        raise ValueError(f"--splits must be a whole number >= 1, got {args.splits}")
    if not 0.0 < args.test_fraction < 1.0:
        raise ValueError(f"--test-fraction must be a number in (0, 1), got {args.test_fraction}")
    try:
        return [TrainConfig(layers=args.layers, epochs=200 if args.epochs is None else args.epochs,
                            theta=args.theta, lr=args.lr, inner_steps=args.inner_steps,
                            batch_size=args.batch_size, eval_every=args.eval_every, seed=args.seed + i,
                            skip=args.skip)
                for i in range(args.splits)]
    except ConfigError as exc:
        flag = "--" + exc.field.replace("_", "-")
        raise ValueError(f"{flag} must be {exc.accepted}, got {exc.value}") from None


def _resumed(args) -> _Plan:
    _, meta = read_checkpoint(args.resume)
    _check_outputs(args, [meta["split"]["seed"]])
    if args.epochs is not None and args.epochs < meta["epoch"]:
        raise ValueError(f"--epochs {args.epochs} is fewer than the {meta['epoch']} epochs checkpoint "
                         f"{args.resume} has done; give the total to reach")
    dataset = trained_dataset(meta, args.resume, args.dataset, args.label_column)
    url = checkpoint_device_url(meta, args.resume, args.device)

    def make_runs(device) -> tuple[list[SplitRun], dict]:
        resumed = SplitRun.resume(args.resume, device, dataset, url)
        if args.epochs is not None:
            resumed.network.config.epochs = args.epochs
        placement = resumed.network.placement
        return [resumed], {"kind": "in-order" if placement is None else "from checkpoint",
                           **({} if placement is None else {"placement": placement.tolist()})}
    return _Plan(url, dataset, make_runs, meta["config"].get("skip", True))


def _progress_bar(args, index: int, split_run: SplitRun, n_runs: int) -> tqdm:
    terminal = sys.stderr.isatty()
    return tqdm(total=split_run.network.config.epochs, initial=split_run.network.epoch, disable=args.quiet,
                file=sys.stderr, desc=f"split {index + 1}/{n_runs}", unit="epoch", leave=False,
                mininterval=_TERMINAL_REDRAW_S if terminal else _LOG_REDRAW_S,
                bar_format=None if terminal else _LOG_FORMAT)
