"""The paper's training loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def sr_loss(sr: torch.Tensor, hr: torch.Tensor, fft_weight: float = 0.1) -> torch.Tensor:
    """L1 in pixels plus ``fft_weight`` x L1 between the real and imaginary parts of the 2-D FFTs (in float32: the FFT
    of a bf16 tensor is not supported everywhere and loses the small high-frequency terms the loss is there for)."""
    sr, hr = sr.float(), hr.float()
    fs, fh = torch.fft.fft2(sr), torch.fft.fft2(hr)
    fft_l1 = F.l1_loss(torch.view_as_real(fs), torch.view_as_real(fh))
    return F.l1_loss(sr, hr) + fft_weight * fft_l1
