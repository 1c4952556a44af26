"""Scoring an upscaler on benchmark sets: the one routine behind ``evaluate``, training validation and reports."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from .datasets import count, load_set
from .imresize import imresize
from .metrics import psnr_y, ssim_y
from .tiling import to_uint8, upscale_tiled

Upscaler = Callable[[np.ndarray], np.ndarray]  # uint8 HxWx3 LR -> uint8 (sH)x(sW)x3 SR


def bicubic_upscaler(scale: int) -> Upscaler:
    return lambda lr: imresize(lr, scale)


def _device(model: torch.nn.Module) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@torch.no_grad()
def run_model(model: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    """Whole-image inference: uint8 LR in, uint8 SR out (rounded to 8 bits before any scoring)."""
    x = torch.from_numpy(lr).to(_device(model), torch.float32).permute(2, 0, 1)[None] / 255.0
    return to_uint8(model(x)[0].permute(1, 2, 0).float().cpu().numpy())


def model_upscaler(model: torch.nn.Module) -> Upscaler:
    """``model`` must be in eval mode already when it is an exported graph (those refuse ``.eval()``)."""
    if not isinstance(model, torch.fx.GraphModule):
        model.eval()
    return lambda lr: run_model(model, lr)


def tiled_upscaler(run: Callable[[np.ndarray], np.ndarray], scale: int, tile: tuple[int, int], overlap: int) -> Upscaler:
    """``run`` (float32 1x3xThxTw tile -> SR tile: a runtime's runner or :func:`torch_runner`) over whole images, tiled
    and blended as the artifacts' cards tell apps to do; ``progress(n)`` is called as tiles finish."""
    return lambda lr, progress=None: upscale_tiled(run, lr, scale, tile, overlap, progress)


def torch_runner(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """float32 NCHW tile in, float32 NCHW tile out: the runner interface every backend provides. An exported graph
    must be in eval mode already (those refuse ``.eval()``)."""
    if not isinstance(model, torch.fx.GraphModule):
        model.eval()

    @torch.no_grad()
    def run(tile: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(tile)).numpy()
    return run


def evaluate_sets(upscale: Upscaler, root: Path | None, sets: list[str], scale: int,
                  progress: bool = True) -> dict:
    """``{"scale": s, "sets": {name: {"psnr", "ssim", "images"}}}``, PSNR/SSIM averaged over the images of each set."""
    result = {"scale": scale, "sets": {}}
    for name in sets:
        psnrs, ssims = [], []
        bar = tqdm(load_set(root, name, scale), total=count(root, name), desc=f"{name} x{scale}", unit="img",
                   disable=not progress, leave=False)
        for pair in bar:
            sr = upscale(pair.lr)
            psnrs.append(psnr_y(sr, pair.hr, scale))
            ssims.append(ssim_y(sr, pair.hr, scale))
            bar.set_postfix(psnr=f"{np.mean(psnrs):.2f}")
        result["sets"][name] = {"psnr": round(float(np.mean(psnrs)), 4), "ssim": round(float(np.mean(ssims)), 5),
                                "images": len(psnrs)}
    return result


def format_table(result: dict, label: str) -> str:
    rows = [f"{'set':<10} {'images':>6} {'PSNR (dB)':>10} {'SSIM':>8}   {label} x{result['scale']}"]
    for name, r in result["sets"].items():
        rows.append(f"{name:<10} {r['images']:>6} {r['psnr']:>10.2f} {r['ssim']:>8.4f}")
    return "\n".join(rows)
