"""Checkpoints: one .npz holding every array plus a JSON document with everything else.

Weights, Adam moments, prototypes, the RNG state, the epoch, the config, the history, the data
split and standardisation -- enough that a run stopped after epoch k and resumed reaches the same
result as one that never stopped. Written to a temporary file and renamed, so a crash while
saving never destroys the previous checkpoint.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

FORMAT = "phyll-checkpoint/1"
_META_KEY = "__meta__"


def save(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps({"format": FORMAT, **meta})
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays, **{_META_KEY: np.array(document)})
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with np.load(path, allow_pickle=False) as archive:
        if _META_KEY not in archive:
            raise ValueError(f"{path} is not a phyll checkpoint (no metadata)")
        meta = json.loads(str(archive[_META_KEY]))
        arrays = {key: archive[key] for key in archive.files if key != _META_KEY}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    return arrays, meta
