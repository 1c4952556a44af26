"""The edge model rewritten into ops every phone runtime takes whole, with the same function.

Each rewrite is exact in FP32 (tests hold it to 1e-5) and removes a graph node that a backend would not delegate:
- LayerNorm over channels: ``mean(dim=1)`` is not an XNNPACK op (it only averages H and W), so the channel statistics
  become a 1x1 convolution with fixed weights 1/C;
- ``chunk`` after a 1x1 conv becomes two 1x1 convs (``split_with_sizes`` was not delegated), and the MoRE block's
  channel shuffle, a fixed permutation of that conv's outputs, is folded into which weights go where, so no transpose
  is left for LiteRT to quantize;
- the context branch's stride-4 conv, applied t times with one weight, becomes t modules with copied weights (XNNPACK
  refused one quantized depthwise weight feeding two nodes);
- a LayerNorm read only by 1x1 convs (the SME's and every FFN's) hands its per-channel scale and shift to those convs,
  so two INT8 elementwise ops and their rounding per LayerNorm disappear (exact: a 1x1 conv sees no padding);
- the SME's 11-tap striped depthwise convs become a 9-tap conv plus a dilated 2-tap conv, summed (see SplitTaps):
  XNNPACK has depthwise kernels of 3, 9 and 25 taps only, and its INT8 25-tap one took 6-7 ms where the pair takes
  1.2-2.1 ms on one 180x320x36 tensor (ETDump, AVX-512 VNNI host; the sum is exact up to float summation order).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from seemore_edge.core.model import (ExpertBlock, FixedExpertLayer, GatedFFN, LayerNorm2d, MoEBlock, SeemoRe,
                                StripedConvFormer)


class ChannelNorm(nn.Module):
    """LayerNorm over channels, its statistics computed by 1x1 convs whose weights stay 1/C; the variance conv's bias
    is eps, so no lone add of a constant remains (LiteRT wrapped that add in reshapes its XNNPACK delegate refused).
    Without ``affine`` the scale and shift live in the convs that read the output (see fold_affine)."""

    def __init__(self, norm: LayerNorm2d, affine: bool = True):
        super().__init__()
        c = norm.weight.numel()
        self.mean = nn.Conv2d(c, 1, 1, bias=False)
        self.variance = nn.Conv2d(c, 1, 1, bias=True)
        for conv in (self.mean, self.variance):
            conv.weight.data.fill_(1.0 / c)
            conv.requires_grad_(False)
        self.variance.bias.data.fill_(norm.eps)
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(norm.weight.detach().clone().view(1, c, 1, 1))
            self.bias = nn.Parameter(norm.bias.detach().clone().view(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - self.mean(x)
        y = d * torch.rsqrt(self.variance(d * d))
        return y * self.weight + self.bias if self.affine else y


def fold_affine(norm: LayerNorm2d, convs: list[nn.Conv2d]) -> ChannelNorm:
    """The LayerNorm without its affine part, which moves into the 1x1 convs reading it: conv(w * n + b) = conv'(n)
    with W' = W diag(w) and b' = b_conv + W b."""
    w, b = norm.weight.detach(), norm.bias.detach()
    for conv in convs:
        if conv.kernel_size != (1, 1):
            raise ValueError("only a 1x1 conv takes a LayerNorm's shift exactly (padding would not see it)")
        conv.bias.data += conv.weight.data[:, :, 0, 0] @ b
        conv.weight.data *= w.view(1, -1, 1, 1)
    return ChannelNorm(norm, affine=False)


class SplitTaps(nn.Module):
    """An 11-tap striped depthwise conv (1x11 or 11x1, zero padding 5) as the sum of two depthwise convs on the same
    input: its 9 central taps (padding 4) and its two end taps as one 2-tap conv dilated by 10 (padding 5), which
    reads offsets -5 and +5. Both see the same zero padding as the original at every border, so the sum is its output;
    both are small enough for XNNPACK's 9- and 3-tap kernels. The end taps get a conv of their own (not a 3-tap conv
    with a zero middle weight) so training cannot move a tap the original does not have."""

    TAPS = 11

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        c, along_width = conv.in_channels, conv.kernel_size[0] == 1
        if (conv.groups != c or conv.out_channels != c or max(conv.kernel_size) != self.TAPS
                or min(conv.kernel_size) != 1 or conv.stride != (1, 1) or conv.dilation != (1, 1)
                or max(conv.padding) != self.TAPS // 2 or min(conv.padding) != 0):
            raise ValueError(f"SplitTaps takes a stride-1 depthwise 1x{self.TAPS} or {self.TAPS}x1 conv with "
                             f"'same' padding, got {conv}")

        def oriented(pair):  # (along the stripe, across it) -> (height, width)
            return (pair[1], pair[0]) if along_width else pair
        reach = self.TAPS // 2
        self.inner = nn.Conv2d(c, c, oriented((self.TAPS - 2, 1)), padding=oriented((reach - 1, 0)), groups=c)
        self.outer = nn.Conv2d(c, c, oriented((2, 1)), padding=oriented((reach, 0)),
                               dilation=oriented((2 * reach, 1)), groups=c, bias=False)
        w = conv.weight.data.flatten(1)  # (C, 11), taps in order along the stripe
        self.inner.weight.data.copy_(w[:, 1:-1].view_as(self.inner.weight))
        self.outer.weight.data.copy_(w[:, [0, -1]].view_as(self.outer.weight))
        self.inner.bias.data.copy_(conv.bias.data)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + self.outer(x)


def _split_conv(conv: nn.Conv2d, order: torch.Tensor) -> tuple[nn.Conv2d, nn.Conv2d]:
    """Two convs giving the first and second half of ``conv``'s outputs taken in ``order``."""
    half = conv.out_channels // 2
    parts = []
    for rows in (order[:half], order[half:]):
        part = nn.Conv2d(conv.in_channels, half, conv.kernel_size, conv.stride, conv.padding)
        part.weight.data.copy_(conv.weight.data[rows])
        part.bias.data.copy_(conv.bias.data[rows])
        parts.append(part)
    return parts[0], parts[1]


class SplitGatedFFN(nn.Module):
    act = staticmethod(F.gelu)  # the integer form (quant/integer_form.py) swaps it per instance

    def __init__(self, ffn: GatedFFN):
        super().__init__()
        self.fn_a, self.fn_g = _split_conv(ffn.fn_1[0], torch.arange(ffn.fn_1[0].out_channels))
        self.gate = copy.deepcopy(ffn.gate)
        self.fn_2 = copy.deepcopy(ffn.fn_2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn_2(self.act(self.fn_a(x)) * self.gate(self.act(self.fn_g(x))))


class SplitStripedConvFormer(nn.Module):
    act = staticmethod(F.gelu)

    def __init__(self, see: StripedConvFormer):
        super().__init__()
        self.to_q, self.to_v = _split_conv(see.to_qv[0], torch.arange(see.to_qv[0].out_channels))
        self.attn = nn.Sequential(*(SplitTaps(conv) for conv in see.attn.conv))
        self.proj = copy.deepcopy(see.proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attn(self.act(self.to_q(x))) * self.act(self.to_v(x)))


class DeployMoEBlock(nn.Module):
    act = staticmethod(F.gelu)

    def __init__(self, block: MoEBlock):
        super().__init__()
        if not isinstance(block.moe_layer, FixedExpertLayer):
            raise ValueError("the deploy form is made from the fixed-routing edge model")
        pw = block.conv_1[2]
        c2 = pw.out_channels
        # Shuffle in 2 groups: output j of the shuffled tensor is input (j % 2) * C + j // 2.
        order = torch.arange(c2).view(2, c2 // 2).t().reshape(-1) if block.shuffle else torch.arange(c2)
        self.conv_in = copy.deepcopy(block.conv_1[0])
        self.to_x, self.to_k = _split_conv(pw, order)
        self.local = copy.deepcopy(block.conv_2)
        self.down = nn.ModuleList(copy.deepcopy(block.agg_conv) for _ in range(block.recursion))
        self.refine = copy.deepcopy(block.conv)
        self.expert = copy.deepcopy(block.moe_layer.experts[str(block.moe_layer.index)])
        self.proj = copy.deepcopy(block.proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv_in(x))
        x, k = self.local(self.to_x(h)), self.to_k(h)
        c = k
        for down in self.down:
            c = down(c)
        k = k + F.interpolate(self.refine(c), size=k.shape[-2:], mode="bilinear", align_corners=False)
        return self.proj(x + self.expert(x, k))


def _deploy_block(block: nn.Module) -> nn.Module:
    if isinstance(block, MoEBlock):
        return DeployMoEBlock(block)
    if isinstance(block, StripedConvFormer):
        return SplitStripedConvFormer(block)
    raise TypeError(f"no deploy form for {type(block).__name__}")


@torch.no_grad()
def to_deploy_form(edge: SeemoRe) -> SeemoRe:
    """A copy of the fixed-routing model with every rewrite above applied; weights shared by value, not reference."""
    if edge.routing != "fixed":
        raise ValueError("the deploy form is made from the fixed-routing edge model")
    model = copy.deepcopy(edge)
    for group in model.body:
        for name in ("local_block", "global_block"):
            eb: ExpertBlock = getattr(group, name)
            eb.block = _deploy_block(eb.block)
            eb.ffn = SplitGatedFFN(eb.ffn)
            # The RME's first conv is 3x3: its zero padding would not see a folded shift, so that LayerNorm keeps it.
            eb.norm_1 = (fold_affine(eb.norm_1, [eb.block.to_q, eb.block.to_v])
                         if isinstance(eb.block, SplitStripedConvFormer) else ChannelNorm(eb.norm_1))
            eb.norm_2 = fold_affine(eb.norm_2, [eb.ffn.fn_a, eb.ffn.fn_g])
    model.norm = ChannelNorm(model.norm)
    return model.eval()
