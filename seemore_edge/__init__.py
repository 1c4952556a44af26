"""SeemoRe-Edge: the SeemoRe super-resolution network, its evaluation, and its road to phones.

The public names are imported on first use, so ``python -m seemore_edge.<tool> --help`` answers before torch loads."""
from __future__ import annotations

import importlib

_PUBLIC = {"build_model": ".core.checkpoints", "load_model": ".core.checkpoints", "save_model": ".core.checkpoints",
           "imresize": ".core.imresize"}
__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'seemore_edge' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
