"""SeemoRe-Edge: the SeemoRe super-resolution network, its evaluation, and its road to phones."""
from .core.checkpoints import build_model, load_model, save_model
from .core.imresize import imresize

__all__ = ["build_model", "load_model", "save_model", "imresize"]
