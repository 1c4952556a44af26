"""Parameters and multiply-accumulates, counted by PyTorch's maintained FLOP counter rather than by hand."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_gmacs(model: torch.nn.Module, lr_height: int, lr_width: int) -> float:
    """GMACs of one eval-mode forward pass (convolutions and matrix products; the counter reports 2 FLOPs per MAC).

    Only the expert each layer routes to is run, so the figure depends a little on the input; a fixed seeded input
    keeps it reproducible.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.rand(1, 3, lr_height, lr_width, generator=torch.Generator().manual_seed(0)).to(device)
    with FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e9
