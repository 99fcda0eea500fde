"""PNG plots of a run, from what the checks measured: one figure per kind, each only if its check ran.

    noise.png       repeat noise per sensor against the envelope's noise floor
    latency.png     histogram of one-pass round trips, with p50 and p99 and their limits
    linearity.png   linear sensitivity of each sensor to each actuator, and R^2 per sensor
    drift.png       each sensor's gain over the drift check
    response.png    the effect of each actuator and of each sensor in units of the noise
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from phyll.checkpoint import replacing
from phyll.plots import pyplot

from .record import TestRecord


def write_plots(data: dict, record: TestRecord, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    title = record.rig["name"]
    envelope = record.rig["envelope"]
    written = []
    for check, draw in (("characterisation.noise_floor", _noise), ("timing.latency", _latency),
                        ("characterisation.linearity", _linearity), ("characterisation.drift", _drift),
                        ("characterisation.response", _response)):
        values = data.get(check) or {}
        if values:
            written.append(draw(values, envelope, title, folder))
    return written


def _save(fig, path: Path) -> Path:
    with replacing(path) as partial:
        fig.savefig(partial, dpi=110, format="png")
    pyplot().close(fig)
    return path


def _noise(values: dict, envelope: dict, title: str, folder: Path) -> Path:
    plt = pyplot()
    noise = values["noise"]
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    channels = np.arange(len(noise))
    ax.bar(channels, noise, color="tab:blue", label="repeat noise (std)")
    limits = [np.nan if v is None else v for v in values["noise_limit"]]
    ax.step(np.r_[channels - 0.5, channels[-1] + 0.5], np.r_[limits, limits[-1]], where="post", color="tab:red",
            label="envelope noise_floor")
    ax.set(xlabel="sensor", ylabel="sensor units", title=f"{title}: noise per channel", xticks=channels)
    ax.legend(fontsize=8)
    return _save(fig, folder / "noise.png")


def _latency(values: dict, envelope: dict, title: str, folder: Path) -> Path:
    plt = pyplot()
    times = values["round_trips_ms"]
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    ax.hist(times, bins=40, color="tab:blue")
    for q, style in ((50, "-"), (99, "--")):
        ax.axvline(np.percentile(times, q), color="k", linestyle=style, label=f"p{q} {np.percentile(times, q):.2f} ms")
        limit = envelope.get(f"latency_p{q}_ms")
        if limit is not None:
            ax.axvline(limit, color="tab:red", linestyle=style, label=f"envelope p{q} {limit:g} ms")
    ax.set(xlabel="one-pass round trip (ms)", ylabel="count", title=f"{title}: latency ({len(times)} round trips)")
    ax.legend(fontsize=8)
    return _save(fig, folder / "latency.png")


def _linearity(values: dict, envelope: dict, title: str, folder: Path) -> Path:
    plt = pyplot()
    sensitivity, r2 = values["sensitivity"], values["r2"]
    fig, (ax_map, ax_r2) = plt.subplots(1, 2, figsize=(10, 4), width_ratios=(3, 1), layout="constrained")
    image = ax_map.imshow(sensitivity.T, aspect="auto", cmap="viridis")
    ax_map.set(xlabel="actuator", ylabel="sensor", title=f"{title}: |linear sensitivity| / sensor std")
    fig.colorbar(image, ax=ax_map)
    ax_r2.barh(np.arange(len(r2)), r2, color="tab:blue")
    ax_r2.set(xlim=(min(0.0, float(np.min(r2))), 1.0), ylim=(len(r2) - 0.5, -0.5), xlabel="held-out R^2",
              title="linearity per sensor")
    return _save(fig, folder / "linearity.png")


def _drift(values: dict, envelope: dict, title: str, folder: Path) -> Path:
    plt = pyplot()
    times, gain = values["drift_times_s"], values["drift_gain"]
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    ax.plot(times, 100.0 * (gain - 1.0), linewidth=0.8)
    ax.set(xlabel="time (s)", ylabel="gain change (%)", title=f"{title}: drift of each sensor")
    return _save(fig, folder / "drift.png")


def _response(values: dict, envelope: dict, title: str, folder: Path) -> Path:
    plt = pyplot()
    fig, (ax_a, ax_s) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
    threshold = envelope.get("min_response")
    for ax, name, what in ((ax_a, "by_actuator", "actuator"), (ax_s, "by_sensor", "sensor")):
        effect = values[name]
        ax.bar(np.arange(len(effect)), effect, color="tab:blue")
        if threshold is not None:
            ax.axhline(threshold, color="tab:red", label=f"envelope min_response {threshold:g}")
        ax.set(yscale="log", xlabel=what, ylabel="effect / noise", title=f"response per {what}")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, folder / "response.png")
