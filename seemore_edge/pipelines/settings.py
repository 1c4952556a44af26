"""The settings of the long jobs (the main job, training), apart from their code, so that ``--help`` shows their
defaults without loading torch."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from seemore_edge.core.tiling import DEFAULT_TILE, Tile


@dataclass
class JobConfig:
    reference: Path  # FP32 dynamic-routing checkpoint
    out: Path
    root: Path | None  # benchmark root; None: the sample photos
    sets: list[str]
    train_dir: Path | None = None
    iters: int = 60
    batch: int = 8
    patch: int = 48
    lr: float = 1e-4
    calibration: int = 16
    formats: list[str] = dataclasses.field(default_factory=lambda: ["pte", "tflite", "mlpackage"])
    precisions: list[str] = dataclasses.field(default_factory=lambda: ["int8"])
    tile: Tile = DEFAULT_TILE  # one for every format (not each one's photo tile): the report compares them on equal work
    threads: int | None = None
    float_modules: tuple[str, ...] = ()  # deploy-form modules kept float beyond the fixed set (quant/quantizer.py)
    variant: str = "faithful"  # or "integer": quant/integer_form.py
    float_iters: int | None = None  # the integer form's FP32 distillation stage before QAT (None: iters)


@dataclass
class TrainConfig:
    preset: str = "T"
    scale: int = 4
    train_dir: Path | None = None  # HR images; None: scikit-image's photos
    iters: int = 500_000
    batch: int = 32  # total over all processes
    patch: int = 64  # LR crop size
    lr: float = 1e-3
    out: Path = Path("runs/train")
    resume: bool = False
    val_every: int = 1000
    ckpt_every: int = 1000
    log_every: int = 50
    val_sets: str = "Set5"
    data_root: str | None = None
    threads: int | None = None
    workers: int | None = None
    seed: int = 0
    device: str = "auto"
    minutes: float | None = None  # a wall-time budget: the iteration count is fixed from the measured speed
    init: str | None = None  # start from these weights (a shipped name or a file, ours or the authors')
