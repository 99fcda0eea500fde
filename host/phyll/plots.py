"""PNG figures of a training run: accuracy and loss per layer (with the controls' test accuracy
beside it when they ran), and the test confusion matrix."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint import replacing


def pyplot():
    """matplotlib.pyplot, imported on first use with the file-only backend.

    Importing it takes about half a second; every `phyll` command loads this module, and only
    runs that write figures should pay for it. Files only: phyll runs on headless lab machines
    and CI.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def training_curves(history: dict, path: Path, title: str = "", controls: dict | None = None) -> Path:
    """controls: a split's controls (SplitRun.controls); their test accuracy is drawn beside the
    physics' and the title says what the physics adds over the constant medium."""
    plt = pyplot()
    loss = np.asarray(history["loss"])
    evaluations = history["evaluations"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for k in range(loss.shape[1] if loss.ndim == 2 else 0):
        ax_loss.plot(np.arange(1, len(loss) + 1), loss[:, k], label=f"layer {k + 1}")
    ax_loss.set(xlabel="epoch", ylabel="PhyLL loss", title="loss per layer")
    ax_loss.legend()
    if evaluations:
        epochs = [e["epoch"] for e in evaluations]
        for part, style in (("train", "--"), ("test", "-")):
            if part not in evaluations[0]:
                continue
            acc = np.asarray([e[part] for e in evaluations])
            for k in range(acc.shape[1]):
                ax_acc.plot(epochs, acc[:, k], style, label=f"{part}, layers 1..{k + 1}")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy by depth")
        if controls:
            _draw_controls(ax_acc, controls, evaluations[-1].get("test", [None])[-1])
        ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def _draw_controls(ax, controls: dict, physics_test: float | None) -> None:
    for name, colour in (("constant", "C7"), ("noise", "C8")):
        evaluations = controls.get(name, {}).get("evaluations") or []
        if evaluations:
            ax.plot([e["epoch"] for e in evaluations], [e["test"][-1] for e in evaluations], ":",
                    color=colour, linewidth=2, label=f"test, {name} medium (control)")
    if "logistic_regression" in controls:
        ax.axhline(controls["logistic_regression"]["test_accuracy"], color="k", linestyle="-.",
                   linewidth=1, label="test, logistic regression")
    if physics_test is not None and "constant" in controls:
        contribution = physics_test - controls["constant"]["test_accuracy"]
        ax.set_title(f"accuracy by depth; physics adds {contribution:+.1f} points")


def confusion_matrix(confusion, class_names: list[str], path: Path, title: str = "") -> Path:
    plt = pyplot()
    confusion = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(class_names),) * 2)
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title or "test confusion matrix")
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > confusion.max() / 2 else "black")
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
