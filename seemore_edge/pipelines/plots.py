"""Figures people would rather look at than read."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

from seemore_edge.core.imageio import atomic_write  # noqa: E402


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


def plot_psnr_latency(records: list[dict], png: Path) -> None:
    """Quality against speed: one point per contender (720p frame), PSNR from its card on the first set it has.

    Contenders sit close together (INT8 files differ by thousandths of a dB), so they are told apart by marker and
    colour in a legend with their latency rather than by labels that would overlap."""
    pts = sorted((r for r in records if r["input"] == "frame720p" and r.get("psnr")), key=lambda r: r["median_ms"])
    markers = {"eager": "o", "pte": "s", "tflite": "^"}
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, r in enumerate(pts):
        s = "BSD100" if "BSD100" in r["psnr"] else next(iter(r["psnr"]))
        ax.scatter(r["median_ms"], r["psnr"][s], s=55, marker=markers.get(r.get("format"), "o"), color=f"C{i % 10}",
                   label=f"{r['contender']} ({r['threads']}t): {r['median_ms']:.0f} ms, {r['psnr'][s]:.3f} dB {s}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("median latency of a 1280x720 output frame (ms, log scale)")
    ax.set_ylabel("PSNR (dB), from each contender's card")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, frameon=False)
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight"))
    plt.close(fig)


def plot_crop_grid(panels: list[tuple[str, "np.ndarray"]], png: Path, title: str) -> None:
    """Side-by-side crops (HR, bicubic, models), where looking beats reading numbers."""
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0))
    for ax, (label, img) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(label, fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
