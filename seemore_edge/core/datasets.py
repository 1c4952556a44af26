"""Benchmark sets on disk (``<root>/<Set>/HR/*``), LR made by our bicubic, and an embedded default.

Every LR image is made from its HR image here, never read from disk, so that PSNR figures depend on one bicubic only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import UserError
from .imageio import read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
DEFAULT_SETS = ("Set5", "Set14", "BSD100")
SAMPLES = "samples"  # scikit-image's bundled colour photos: the default when no data root is given
_SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


@dataclass
class Pair:
    name: str
    hr: np.ndarray  # uint8 HxWx3, mod-cropped to the scale
    lr: np.ndarray  # uint8 (H/s)x(W/s)x3, MATLAB bicubic of hr


def data_root(arg: str | None) -> Path | None:
    """``--data-root`` if given, else ``$SEEMORE_DATA``, else None (the embedded samples)."""
    value = arg or os.environ.get("SEEMORE_DATA")
    if not value:
        return None
    root = Path(value)
    if not root.is_dir():
        raise UserError(f"data root {root} is not a folder")
    return root


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def set_files(root: Path | None, name: str) -> list[Path]:
    if root is None:
        raise UserError(f"set {name}: no data root; pass --data-root or set SEEMORE_DATA")
    folder = root / name / "HR"
    if not folder.is_dir():
        raise UserError(f"set {name}: no folder {folder}")
    files = image_files(folder)
    if not files:
        raise UserError(f"set {name}: no images in {folder}")
    return files


def sample_images() -> list[tuple[str, np.ndarray]]:
    import skimage.data

    return [(n, np.ascontiguousarray(getattr(skimage.data, n)()[..., :3])) for n in _SAMPLE_PHOTOS]


def make_pair(name: str, hr: np.ndarray, scale: int) -> Pair:
    from .imresize import imresize  # torch: imported on use, so the tools' --help answers at once
    from .metrics import mod_crop

    hr = mod_crop(hr, scale)
    return Pair(name, hr, imresize(hr, 1 / scale))


def count(root: Path | None, name: str) -> int:
    return len(_SAMPLE_PHOTOS) if name == SAMPLES else len(set_files(root, name))


def load_set(root: Path | None, name: str, scale: int) -> Iterator[Pair]:
    """HR/LR pairs of one set; the name ``samples`` (or no root at all) gives the embedded photos."""
    if name == SAMPLES:
        for n, hr in sample_images():
            yield make_pair(n, hr, scale)
        return
    for f in set_files(root, name):
        yield make_pair(f.stem, read_image(f), scale)
