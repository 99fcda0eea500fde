"""Argument checks for the kernel API: each failure names the argument and what was expected."""
import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def floats(name: str, a, dims: tuple) -> np.ndarray:
    """a as a float32/float64 array with len(dims) dimensions (dims name them for the message)."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if a.ndim != len(dims):
        raise ValueError(f"{name} must be {len(dims)}-D ({', '.join(dims)}), got shape {a.shape}")
    return a


def same_dtype(dtype: np.dtype, **arrays: np.ndarray) -> None:
    for name, a in arrays.items():
        if a.dtype != dtype:
            raise TypeError(f"{name} is {a.dtype} but the other arrays are {dtype}; pass one dtype")


def size(what: str, actual: int, expected: int) -> None:
    if actual != expected:
        raise ValueError(f"{what}: got {actual}, expected {expected}")


def blas_ready(a: np.ndarray) -> np.ndarray:
    """a itself if C- or F-contiguous, else a C-contiguous copy."""
    return a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)


def writable(name: str, a, shape: tuple, dtypes: tuple, c_contiguous: bool = False) -> np.ndarray:
    """A caller-supplied output or in-place array: exactly this shape, one of dtypes, writable."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if a.dtype not in dtypes:
        raise TypeError(f"{name} must be {' or '.join(map(str, dtypes))}, got {a.dtype}")
    if not a.flags.writeable:
        raise ValueError(f"{name} is read-only")
    if c_contiguous and not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    return a


def count(name: str, value, minimum: int) -> int:
    # type() first: the ABC check alone costs more than a small kernel call's validation
    if type(value) is not int and (isinstance(value, bool)
                                   or not isinstance(value, numbers.Integral)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def finite(name: str, value) -> float:
    if (type(value) is not float and not isinstance(value, numbers.Real)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def labels(a, n_classes: int, n_rows: int | None = None) -> np.ndarray:
    """Integer labels (n_rows,) in [0, n_classes) as contiguous int64; any length if n_rows is None."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got {a.dtype}")
    if a.ndim != 1 or n_rows not in (None, a.shape[0]):
        raise ValueError(f"labels must have shape ({n_rows if n_rows is not None else 'B'},), "
                         f"one per row, got {a.shape}")
    out_of_range = np.flatnonzero((a < 0) | (a >= n_classes))
    if out_of_range.size:
        i = out_of_range[0]
        raise ValueError(f"labels must lie in [0, {n_classes}), got {a[i]} at row {i}")
    return np.ascontiguousarray(a, dtype=np.int64)


def unit_vector(name: str, a: np.ndarray) -> np.ndarray:
    norm = math.sqrt(float(a @ a))
    if not abs(norm - 1) <= 1e-3:
        raise ValueError(f"{name} must be a unit vector, got norm {norm:.6g}")
    return np.ascontiguousarray(a)


def first_nonfinite(**arrays: np.ndarray) -> str | None:
    """'name row i' (or 'name') of the first array holding NaN or inf, else None."""
    for name, a in arrays.items():
        bad = ~np.isfinite(a)
        if bad.any():
            return f"{name} row {np.argwhere(bad)[0][0]}" if a.ndim == 2 else name
    return None
