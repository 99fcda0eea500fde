"""Adam moments for one layer's (W, b), with torch.optim.Adam's semantics and defaults."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ARRAYS = ("m_W", "v_W", "m_b", "v_b")
_SCALARS = ("step", "beta1", "beta2", "eps")


@dataclass
class AdamState:
    """First/second moments of W and b, the step count and the hyper-parameters.

    step counts the updates taken; bias correction uses it after incrementing, as torch does.
    Plain attributes, so it pickles; to_arrays()/from_arrays() round-trip it through np.savez.
    """

    m_W: np.ndarray
    v_W: np.ndarray
    m_b: np.ndarray
    v_b: np.ndarray
    step: int = 0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    @classmethod
    def zeros(cls, W: np.ndarray, b: np.ndarray, **hyper) -> AdamState:
        """Fresh state for parameters shaped like W, b (in W's dtype)."""
        return cls(np.zeros_like(W, order="C"), np.zeros_like(W, order="C"),
                   np.zeros_like(b, dtype=W.dtype), np.zeros_like(b, dtype=W.dtype), **hyper)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays.update({name: np.asarray(getattr(self, name)) for name in _SCALARS})
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> AdamState:
        """Inverse of to_arrays(); `arrays` may be the mapping np.load returns."""
        missing = [name for name in _ARRAYS + _SCALARS if name not in arrays]
        if missing:
            raise KeyError(f"AdamState arrays lack {missing}")
        return cls(*(np.array(arrays[name], order="C") for name in _ARRAYS),
                   step=int(arrays["step"]), beta1=float(arrays["beta1"]),
                   beta2=float(arrays["beta2"]), eps=float(arrays["eps"]))
