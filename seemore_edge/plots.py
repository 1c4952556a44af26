"""Figures people would rather look at than read."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .imageio import atomic_write  # noqa: E402


def plot_training(log_path: Path, png: Path) -> None:
    """Loss and validation PSNR against iterations from a training log (JSONL)."""
    records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line]
    train = [r for r in records if "loss" in r]
    val = [r for r in records if "val" in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot([r["step"] for r in train], [r["loss"] for r in train])
    a.set(xlabel="iteration", ylabel="loss (L1 + 0.1 FFT-L1)", yscale="log", title="training loss")
    for name in (val[0]["val"] if val else {}):
        b.plot([r["step"] for r in val], [r["val"][name]["psnr"] for r in val], marker="o", label=name)
    b.set(xlabel="iteration", ylabel="PSNR (dB, Y)", title="validation")
    if val:
        b.legend()
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def plot_routes(counts, ranks, png: Path, title: str) -> None:
    """Per residual group, how often the reference's router picked each expert (one bar per expert rank)."""
    import numpy as np

    counts = np.asarray(counts, dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    groups = np.arange(counts.shape[0])
    fig, ax = plt.subplots(figsize=(1.2 * len(groups) + 3, 3.5))
    width = 0.8 / len(ranks)
    for e, rank in enumerate(ranks):
        ax.bar(groups + (e - (len(ranks) - 1) / 2) * width, share[:, e], width, label=f"rank {rank}")
    ax.set(xlabel="residual group", ylabel="share of images", xticks=groups, ylim=(0, 1), title=title)
    ax.legend()
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
