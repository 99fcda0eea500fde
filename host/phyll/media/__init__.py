"""Media: numpy models of wave systems, found by name like pyserial's URL handlers.

`load_medium("acoustic", seed=3)` finds a medium in this order:
1. "module.path:ClassName" -- a user's own class, imported by path;
2. a built-in module `phyll.media.<name>` that defines `MEDIUM` (the class);
3. the `phyll.media` entry-point group, so other packages can register named media.
"""
from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points

from .base import Medium
from .imperfections import ImperfectMedium, Imperfections, WithImperfections

__all__ = ["Medium", "load_medium", "medium_class", "available_media"]

ENTRY_POINT_GROUP = "phyll.media"
_BUILTIN: tuple[str, ...] = ("acoustic", "loopback", "metasurface", "optical")


def available_media() -> list[str]:
    names = set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def medium_class(spec: str) -> type[Medium]:
    """Resolve a medium spec (name or "module.path:ClassName") to its class."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import medium module {module_name!r}: {exc}") from exc
        cls = getattr(module, attr, None)
        if cls is None:
            raise ValueError(f"module {module_name!r} has no medium class {attr!r}")
        return cls
    if spec in _BUILTIN:
        return importlib.import_module(f"{__name__}.{spec}").MEDIUM
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return ep.load()
    raise ValueError(f"unknown medium {spec!r}; available: {', '.join(available_media())}, "
                     "or 'module.path:ClassName'")


def load_medium(spec: str, **options) -> Medium:
    """Instantiate a medium; unknown options fail naming the medium and what it accepts.

    A medium that does not model imperfections itself (a lab's plain `Medium`) still takes the
    shared ones (drift=, perturb_at_pass=, latency=, ...): it is wrapped in `WithImperfections`.
    """
    cls = medium_class(spec)
    if not (isinstance(cls, type) and issubclass(cls, Medium)):
        raise ValueError(f"{spec!r} is not a phyll.media.Medium subclass")
    shared = {} if issubclass(cls, ImperfectMedium) else {
        key: options.pop(key) for key in Imperfections.option_names() if key in options}
    params = inspect.signature(cls.__init__).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in options if k not in params and not accepts_any]
    if unknown:
        known = [k for k in params if k != "self"]
        raise ValueError(f"medium {spec!r} has no option(s) {unknown}; it accepts "
                         f"{known + Imperfections.option_names()}")
    medium = cls(**options)
    if shared:
        return WithImperfections(medium, seed=options.get("seed", 0), **shared)
    return medium
