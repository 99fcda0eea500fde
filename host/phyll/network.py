"""PhyLL networks: physical layers trained one by one with local, backpropagation-free updates.

Each layer sends its input through the physical system, mixes the measurement with a skip of the
input through a digital W, b (or, with `skip=False`, feeds W the measurement alone), and learns to make cos(|z|, p) large for the true label written into
the input and small for a wrong one. Only W, b (and their Adam moments) live on the host; the
physical passes are measured once per batch and reused for all inner steps.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real

import numpy as np

from . import kernels
from .physical import PhysicalTransform


class ConfigError(ValueError):
    """A TrainConfig field out of range. `field` and `accepted` let a command line name its own flag."""

    def __init__(self, field: str, accepted: str, value) -> None:
        super().__init__(f"{field} must be {accepted}, got {value!r}")
        self.field, self.accepted, self.value = field, accepted, value


def _whole(minimum: int, maximum: int | None = None) -> tuple[str, Callable[[object], bool]]:
    accepted = f"a whole number >= {minimum}" if maximum is None else f"a whole number in [{minimum}, {maximum}]"
    return (accepted, lambda v: isinstance(v, Integral) and not isinstance(v, bool) and v >= minimum
            and (maximum is None or v <= maximum))


# nan and inf compare as numbers, so they are refused by name rather than by a comparison.
_POSITIVE = ("a finite number > 0",
             lambda v: isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0)
# Every layer costs 2 x rows passes of training per epoch and classes x rows per evaluation, and
# deep stacks learn nothing more: on wine and the vowels through sim://acoustic, accuracy using
# layers 1..k is flat from k = 2 and drops a few points past ~16 (200 epochs, 2 to 64 layers).
MAX_LAYERS = 32

# Vectors sent through the physics in one forward call, at most: a batch's host memory is float32
# arrays of this many vectors x (values + sensors), ~20 MB each and ~300 MB in all at the acoustic
# medium's 20 + 20 (measured), whatever the dataset's size. Larger batches and evaluations go
# through in blocks.
FORWARD_VECTORS = 1 << 18

_ACCEPTED = {"layers": _whole(1, MAX_LAYERS), "epochs": _whole(1), "theta": _POSITIVE, "lr": _POSITIVE,
             "inner_steps": _whole(1), "batch_size": _whole(0), "eval_every": _whole(0), "seed": _whole(0),
             "skip": ("true or false", lambda v: isinstance(v, bool))}


@dataclass
class TrainConfig:
    """PhyLL's hyper-parameters; the defaults are the paper's for its 7-vowel task."""

    layers: int = 2
    epochs: int = 200
    theta: float = 4.0
    lr: float = 5e-4
    inner_steps: int = 10
    batch_size: int = 0      # 0: full batch, as in the paper
    eval_every: int = 10     # epochs between accuracy checks, 0: last only (each costs C x layers passes per sample)
    seed: int = 0            # >= 0: numpy's generators take no negative seed
    # z = W [P(h), h] + b as in the paper; False: z = W P(h) + b, so only what the physics
    # measured reaches the next layer (on an easy task the skip alone is a linear classifier).
    skip: bool = True

    def __post_init__(self) -> None:
        for item in fields(self):
            accepted, check = _ACCEPTED[item.name]
            value = getattr(self, item.name)
            if not check(value):
                raise ConfigError(item.name, accepted, value)


class PhysicalLayer:
    """encoder -> physical transform -> [P(h), h] -> W, b (without the skip: P(h) -> W, b).
    Input and output width: `width`."""

    def __init__(self, transform: PhysicalTransform, n_classes: int, rng: np.random.Generator,
                 skip: bool = True, placement: np.ndarray | None = None) -> None:
        self.transform = transform
        self.n_classes = n_classes
        self.skip = skip
        self.width = transform.encoding.values_for(transform.n_actuators)
        # Value placement[j] of h drives actuator slot j (None: value j, in order).
        self.placement = placement
        d_in = transform.n_sensors + (self.width if skip else 0)
        self.W = (rng.standard_normal((self.width, d_in)) / np.sqrt(d_in)).astype(np.float32)
        self.b = np.zeros(self.width, dtype=np.float32)
        proto = np.abs(rng.standard_normal(self.width))
        self.proto = (proto / np.linalg.norm(proto)).astype(np.float32)
        self.adam = kernels.AdamState.zeros(self.W, self.b)

    def measure(self, h: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write the labels into h and send it through the physics: returns (h with labels, P(h))."""
        h = kernels.overlay_label(h, labels, self.n_classes)
        placed = h if self.placement is None else h[:, self.placement]
        return h, self.transform.forward(self.transform.encoding.encode(placed))

    def skipped(self, h: np.ndarray) -> np.ndarray:
        """What of the layer input W sees beside the measurement: all of it, or no column."""
        return h if self.skip else h[:, :0]

    def output(self, measured: np.ndarray, h: np.ndarray) -> np.ndarray:
        return kernels.layer_forward(measured, self.skipped(h), self.W, self.b)

    def goodness(self, z: np.ndarray) -> np.ndarray:
        return kernels.goodness(z, self.proto)

    def update(self, pos: tuple, neg: tuple, config: TrainConfig) -> float:
        (h_pos, p_pos), (h_neg, p_neg) = pos, neg
        return kernels.local_update(p_pos, self.skipped(h_pos), p_neg, self.skipped(h_neg),
                                    self.W, self.b, self.proto,
                                    self.adam, config.theta, config.lr, config.inner_steps)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        arrays = {"W": self.W, "b": self.b, "proto": self.proto, **self.adam.to_arrays()}
        return {f"{prefix}{key}": np.array(value, copy=True) for key, value in arrays.items()}

    def load_state(self, arrays: dict, prefix: str) -> None:
        self.W = np.ascontiguousarray(arrays[f"{prefix}W"], dtype=np.float32)
        self.b = np.ascontiguousarray(arrays[f"{prefix}b"], dtype=np.float32)
        self.proto = np.ascontiguousarray(arrays[f"{prefix}proto"], dtype=np.float32)
        self.adam = kernels.AdamState.from_arrays(
            {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)})


def accuracy_by_depth(predictions: np.ndarray, labels: np.ndarray) -> list[float]:
    return (100.0 * np.mean(predictions == np.asarray(labels)[:, None], axis=0)).tolist()


@dataclass
class History:
    loss: list[list[float]] = field(default_factory=list)          # [epoch][layer]
    evaluations: list[dict] = field(default_factory=list)          # {"epoch", "train": [..], "test": [..]}


class Network:
    """A stack of PhysicalLayers sharing one physical transform (the same rig, reused per layer).

    placement: which value of a layer's input drives each actuator slot (phyll.placement; None:
    in order, label entries on the first slots). A rig whose actuators are not all heard wants
    the labels and the first features on the ones that are.
    """

    def __init__(self, transform: PhysicalTransform, n_classes: int, n_features: int,
                 config: TrainConfig | None = None, placement: np.ndarray | None = None) -> None:
        self.config = config or TrainConfig()
        self.transform = transform
        self.n_classes = n_classes
        self.n_features = n_features
        width = transform.encoding.values_for(transform.n_actuators)
        if n_classes + n_features > width:
            raise ValueError(
                f"{n_features} features + {n_classes} label entries = {n_classes + n_features} input values, "
                f"but the physical system takes {width} per pass ({transform.n_actuators} actuators); "
                "use fewer features or a medium with more actuators")
        self.placement = _checked_placement(placement, width)
        self.rng = np.random.default_rng(self.config.seed)
        self.layers = [PhysicalLayer(transform, n_classes, self.rng, self.config.skip, self.placement)
                       for _ in range(self.config.layers)]
        self.epoch = 0
        self.history = History()
        self.passes = {"train": 0, "eval": 0}
        self.latest: dict[str, tuple[int, np.ndarray]] = {}  # part -> (epoch, predictions by depth)

    def attach(self, transform: PhysicalTransform) -> None:
        """Run the same weights on another physical system of the same shape (deploy a model)."""
        old, new = self.transform, transform
        if (new.n_actuators, new.n_sensors, new.encoding) != (old.n_actuators, old.n_sensors, old.encoding):
            raise ValueError(f"cannot attach a {new.n_actuators}->{new.n_sensors} system with "
                             f"{new.encoding} to a network built for {old.n_actuators}->{old.n_sensors} "
                             f"with {old.encoding}")
        self.transform = transform
        for layer in self.layers:
            layer.transform = transform

    # -- inputs -------------------------------------------------------------------------------
    def embed(self, features: np.ndarray) -> np.ndarray:
        """Layer-1 input: C zeroed label entries, then the features, zero-padded to the width."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"expected features of shape (N, {self.n_features}), got {features.shape}")
        h = np.zeros((features.shape[0], self.layers[0].width), dtype=np.float32)
        h[:, self.n_classes:self.n_classes + self.n_features] = features
        return h

    # -- training -----------------------------------------------------------------------------
    def fit(self, features: np.ndarray, labels: np.ndarray, epochs: int | None = None,
            evaluate_on: dict | None = None, callbacks=()) -> History:
        """Train until `epochs` epochs in total are done (resuming counts what was done before).

        evaluate_on: {"train": (X, y), "test": (X, y)} measured every `eval_every` epochs and at
        the configured last epoch (not at an early stop, so a stopped-and-resumed run keeps the
        same history as an uninterrupted one). An epoch and its evaluation are one step: if
        anything stops it (the physics failing, Ctrl-C, a signal), the network is rolled back to
        the last completed epoch before the error propagates, so a checkpoint written then
        resumes into the same history.
        """
        labels = np.asarray(labels, dtype=np.int64)
        target = self.config.epochs if epochs is None else epochs
        while self.epoch < target:
            snapshot = self._snapshot()
            try:
                losses = self._train_epoch(features, labels)
                self.epoch += 1
                measured = self._evaluate(evaluate_on) if evaluate_on and self._evaluation_due() else {}
            except BaseException:
                self._restore(snapshot)
                raise
            self.history.loss.append(losses)
            logs = {"epoch": self.epoch, "loss": losses}
            if measured:
                record = {"epoch": self.epoch}
                for name, (by_depth, accuracy) in measured.items():
                    self.latest[name] = (self.epoch, by_depth)
                    record[name] = accuracy
                self.history.evaluations.append(record)
                logs["accuracy"] = record
            for callback in callbacks:
                callback(self, logs)
        return self.history

    def _evaluation_due(self) -> bool:
        every = self.config.eval_every
        return bool(every and self.epoch % every == 0) or self.epoch == self.config.epochs

    def _evaluate(self, evaluate_on: dict) -> dict[str, tuple[np.ndarray, list[float]]]:
        measured = {}
        for name, (x, y) in evaluate_on.items():
            by_depth = self.predict_by_depth(x)
            measured[name] = (by_depth, accuracy_by_depth(by_depth, y))
        return measured

    def batch_rows(self, n: int) -> int:
        """Rows per training batch for `n` rows: the configured size (0: all), at most half of
        FORWARD_VECTORS, since a batch's positive and negative passes go through together."""
        return min(self.config.batch_size or n, FORWARD_VECTORS // 2)

    def _train_epoch(self, features: np.ndarray, labels: np.ndarray) -> list[float]:
        n = len(labels)
        size = self.batch_rows(n)
        order = self.rng.permutation(n) if self.config.batch_size or size < n else np.arange(n)
        losses = np.zeros(len(self.layers))
        for start in range(0, n, size):
            rows = order[start:start + size]
            b = len(rows)
            h0 = self.embed(features[rows])
            y_pos = labels[rows]
            y_neg = kernels.sample_wrong_labels(y_pos, self.n_classes, self.rng)
            # Positive and negative rows go through the physics as one batch: one round trip,
            # and one label value for both. Measured apart, each batch's own max |x| would mark
            # which pass a row came from, and deeper layers learn that cue instead of the data.
            h = np.concatenate([h0, h0])
            candidates = np.concatenate([y_pos, y_neg])
            for k, layer in enumerate(self.layers):
                h, measured = layer.measure(h, candidates)
                self.passes["train"] += 2 * b
                losses[k] += layer.update((h[:b], measured[:b]), (h[b:], measured[b:]),
                                          self.config) * b / n
                h = layer.output(measured, h)
        return losses.tolist()

    # -- inference ----------------------------------------------------------------------------
    def goodness(self, features: np.ndarray) -> np.ndarray:
        """(N, layers, C): goodness of every layer for every candidate label.

        A row's candidates travel in one batch per layer, as positive and negative passes do in
        training, so the label value written into them is the same for all. Rows go in blocks
        of at most FORWARD_VECTORS // C, each block one batch: the same rows give the same
        blocks, in training and in a later eval.
        """
        return np.concatenate([self._goodness(block) for block in self._blocks(features)])

    def _blocks(self, features: np.ndarray):
        size = max(1, FORWARD_VECTORS // self.n_classes)
        for start in range(0, max(len(features), 1), size):
            yield features[start:start + size]

    def _goodness(self, features: np.ndarray) -> np.ndarray:
        h0 = self.embed(features)
        n = h0.shape[0]
        h = np.tile(h0, (self.n_classes, 1))
        candidates = np.repeat(np.arange(self.n_classes, dtype=np.int64), n)
        scores = np.zeros((len(self.layers), self.n_classes, n), dtype=np.float32)
        for k, layer in enumerate(self.layers):
            h, measured = layer.measure(h, candidates)
            self.passes["eval"] += len(candidates)
            h = layer.output(measured, h)
            scores[k] = layer.goodness(h).reshape(self.n_classes, n)
        return scores.transpose(2, 0, 1)

    def predict_by_depth(self, features: np.ndarray) -> np.ndarray:
        """(N, layers): the label predicted using layers 1..k, for k = 1..layers."""
        return np.concatenate([np.cumsum(self._goodness(block), axis=1).argmax(axis=2)
                               for block in self._blocks(features)])

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.predict_by_depth(features)[:, -1]

    def evaluate(self, features: np.ndarray, labels: np.ndarray) -> list[float]:
        """Accuracy (%) using layers 1..k for k = 1..layers; the last entry is the network's."""
        return accuracy_by_depth(self.predict_by_depth(features), labels)

    # -- state --------------------------------------------------------------------------------
    def _layer_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for k, layer in enumerate(self.layers):
            arrays.update(layer.state(f"layer{k}."))
        return arrays

    def _load_layer_arrays(self, arrays: dict) -> None:
        for k, layer in enumerate(self.layers):
            layer.load_state(arrays, f"layer{k}.")

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = self._layer_arrays()
        meta = {
            "config": asdict(self.config),
            "n_classes": self.n_classes,
            "n_features": self.n_features,
            "epoch": self.epoch,
            "rng": self.rng.bit_generator.state,
            "history": asdict(self.history),
            "passes": dict(self.passes),
            "placement": None if self.placement is None else self.placement.tolist(),
        }
        return arrays, meta

    def load_state(self, arrays: dict, meta: dict) -> None:
        if meta["n_classes"] != self.n_classes or meta["n_features"] != self.n_features:
            raise ValueError("checkpoint was made for a different number of classes or features")
        if meta["config"]["layers"] != len(self.layers):
            raise ValueError("checkpoint has a different number of layers")
        stored = meta.get("placement")  # absent before placements existed: in order
        self.placement = _checked_placement(None if stored is None else np.asarray(stored), len(self.layers[0].b))
        for layer in self.layers:
            layer.placement = self.placement
        self._load_layer_arrays(arrays)
        self.epoch = int(meta["epoch"])
        self.rng.bit_generator.state = meta["rng"]
        self.history = History(**meta["history"])
        self.passes = dict(meta["passes"])

    def _snapshot(self):
        """What an epoch changes, copied before it: weights, moments, RNG, counters, history length.

        The history is only appended to, so its length is enough (copying it every epoch would
        cost time quadratic in the number of epochs).
        """
        return (self._layer_arrays(), self.rng.bit_generator.state, self.epoch, dict(self.passes),
                len(self.history.loss), len(self.history.evaluations))

    def _restore(self, snapshot) -> None:
        arrays, rng_state, epoch, passes, n_loss, n_evaluations = snapshot
        self._load_layer_arrays(arrays)
        self.rng.bit_generator.state = rng_state
        self.epoch, self.passes = epoch, passes
        del self.history.loss[n_loss:], self.history.evaluations[n_evaluations:]


def _checked_placement(placement: np.ndarray | None, width: int) -> np.ndarray | None:
    if placement is None:
        return None
    placement = np.asarray(placement)
    if placement.shape != (width,) or not np.array_equal(np.sort(placement), np.arange(width)):
        raise ValueError(f"a placement must order the {width} values of a layer's input "
                         f"(a permutation of 0..{width - 1}), got {placement.tolist()}")
    return placement.astype(np.intp)
