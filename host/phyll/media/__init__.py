"""Media: numpy models of wave systems, found by name like pyserial's URL handlers.

`load_medium("acoustic", seed=3)` finds a medium in this order:
1. "module.path:ClassName" -- a user's own class, imported by path;
2. a built-in module `phyll.media.<name>` that defines `MEDIUM` (the class);
3. the `phyll.media` entry-point group, so other packages can register named media.
"""
from __future__ import annotations

import importlib
import inspect
import types
import typing
from importlib.metadata import entry_points

from .base import Medium
from .imperfections import ImperfectMedium, Imperfections, WithImperfections

__all__ = ["Medium", "load_medium", "medium_class", "available_media"]

ENTRY_POINT_GROUP = "phyll.media"
_BUILTIN: tuple[str, ...] = ("acoustic", "loopback", "metasurface", "optical", "twin")


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
    _check_option_types(spec, cls, {**options, **shared})
    medium = cls(**options)
    if shared:
        return WithImperfections(medium, seed=options.get("seed", 0), **shared)
    return medium


# URL values arrive typed by their look (phyll.urls.parse_value): "seed=abc" is a str. An option
# annotated int, float or bool must have that type, or the medium would fail deep inside numpy.
_KINDS = {int: ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
          float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
          bool: ("true or false", lambda v: isinstance(v, bool))}


def _check_option_types(spec: str, cls: type, options: dict) -> None:
    hints = _option_hints(cls)
    for name, value in options.items():
        hint = hints.get(name)
        allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) or \
            typing.get_origin(hint) is typing.Union else (hint,)
        if any(kind not in _KINDS for kind in allowed if kind is not type(None)):
            continue  # a str, or a type this check does not know: the medium checks it
        kinds = [kind for kind in allowed if kind in _KINDS]
        if not any(_KINDS[kind][1](value) for kind in kinds):
            raise ValueError(f"medium {spec!r} option {name}={value!r} must be "
                             f"{' or '.join(_KINDS[kind][0] for kind in kinds)}")
        if name == "seed" and value < 0:
            raise ValueError(f"medium {spec!r} option seed={value} must be a whole number >= 0 "
                             "(numpy's generators take no negative seed)")


def _option_hints(cls: type) -> dict:
    """Annotated option types of the medium and of the shared imperfections ({} if unreadable)."""
    hints = {}
    for owner in (Imperfections, cls.__init__):
        try:
            hints.update(typing.get_type_hints(owner))
        except (NameError, TypeError, AttributeError):  # e.g. a user's annotation naming an unimported type
            pass
    return hints
