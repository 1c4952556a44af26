"""Training patches: random HR crops, the same augmentation for all, LR made by our MATLAB bicubic.

The LR side is computed from each augmented HR crop (not read from disk) so that training sees exactly the degradation
the benchmarks use. The batch of step i is drawn from a generator seeded by (seed, process rank, i): a resumed run draws
the same patches an uninterrupted one would have drawn, with no sampler state to save, and DataLoader workers can make
any step's batch ahead of time without coordinating.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .datasets import image_files, sample_images
from .errors import UserError
from .imageio import read_image
from .imresize import imresize


def load_train_images(folder: Path | None, min_size: int) -> list[np.ndarray]:
    """Every image of ``folder`` in memory (BSDS400 is 185 MB), or scikit-image's photos when no folder is given."""
    if folder is None:
        images = [im for _, im in sample_images()]
    else:
        if not folder.is_dir():
            raise UserError(f"--train-dir {folder}: not a folder")
        files = image_files(folder)
        if not files:
            raise UserError(f"--train-dir {folder}: no images in it")
        images = [read_image(f) for f in tqdm(files, desc="loading training images", unit="img", leave=False)]
    usable = [im for im in images if min(im.shape[:2]) >= min_size]
    if not usable:
        raise UserError(f"no training image is at least {min_size}x{min_size} pixels (patch x scale)")
    return usable


class PatchBatches(torch.utils.data.Dataset):
    """Item i is the (LR, HR) float batch of training step i, NCHW in [0, 1]."""

    def __init__(self, images: list[np.ndarray], scale: int, patch: int, batch: int, seed: tuple[int, ...]):
        self.images, self.scale, self.patch, self.batch, self.seed = images, scale, patch, batch, seed

    def __len__(self) -> int:
        return 2 ** 62

    def _crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.patch * self.scale
        im = self.images[rng.integers(len(self.images))]
        y, x = rng.integers(im.shape[0] - size + 1), rng.integers(im.shape[1] - size + 1)
        hr = im[y:y + size, x:x + size]
        if rng.random() < 0.5:
            hr = hr[:, ::-1]
        if rng.random() < 0.5:
            hr = hr[::-1]
        hr = np.ascontiguousarray(np.rot90(hr, rng.integers(4)))
        return imresize(hr, 1 / self.scale), hr

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((*self.seed, step))
        lrs, hrs = zip(*(self._crop(rng) for _ in range(self.batch)))
        def to_t(a): return torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float().div_(255.0)
        return to_t(lrs), to_t(hrs)
