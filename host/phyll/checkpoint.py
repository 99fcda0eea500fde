"""Checkpoints: one .npz holding every array plus a JSON document with everything else.

Weights, Adam moments, prototypes, the RNG state, the epoch, the config, the history, the data
split and standardisation -- enough that a run stopped after epoch k and resumed reaches the same
result as one that never stopped. Written to a temporary file and renamed (`replacing`, which
every file a run writes goes through), so a crash while saving never destroys the previous one.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

FORMAT = "phyll-checkpoint/1"
_META_KEY = "__meta__"
# What a corrupt or truncated .npz raises, depending on where it is cut.
_UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


@contextmanager
def replacing(path: str | Path):
    """A temporary path beside `path`, renamed over it once the block has written it: a reader
    (or a run stopped while writing) finds the old file or the new one, never part of one."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps({"format": FORMAT, **meta})
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays, **{_META_KEY: np.array(document)})
    return path


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"checkpoint {path} is a directory; give the .npz file a run saved")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except _UNREADABLE as exc:
        raise _unreadable(path, exc) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is a numpy array file, not a phyll checkpoint; give a .npz phyll train saved")
    try:
        with loaded as archive:
            document = str(archive[_META_KEY]) if _META_KEY in archive.files else None
            arrays = {key: archive[key] for key in archive.files if key != _META_KEY}
        meta = json.loads(document) if document is not None else None
    except _UNREADABLE as exc:
        raise _unreadable(path, exc) from None
    if meta is None:
        raise ValueError(f"{path} is not a phyll checkpoint (no metadata); give a .npz phyll train saved")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path} has checkpoint format {found!r}, expected {FORMAT!r}")
    return arrays, meta


def _unreadable(path: Path, exc: Exception) -> ValueError:
    return ValueError(f"checkpoint {path} cannot be read, truncated or corrupt "
                      f"({type(exc).__name__}: {exc}); use another checkpoint of the run")
