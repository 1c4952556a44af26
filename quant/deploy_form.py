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
  so two INT8 elementwise ops and their rounding per LayerNorm disappear (exact: a 1x1 conv sees no padding).
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
    def __init__(self, ffn: GatedFFN):
        super().__init__()
        self.fn_a, self.fn_g = _split_conv(ffn.fn_1[0], torch.arange(ffn.fn_1[0].out_channels))
        self.gate = copy.deepcopy(ffn.gate)
        self.fn_2 = copy.deepcopy(ffn.fn_2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn_2(F.gelu(self.fn_a(x)) * self.gate(F.gelu(self.fn_g(x))))


class SplitStripedConvFormer(nn.Module):
    def __init__(self, see: StripedConvFormer):
        super().__init__()
        self.to_q, self.to_v = _split_conv(see.to_qv[0], torch.arange(see.to_qv[0].out_channels))
        self.attn = copy.deepcopy(see.attn)
        self.proj = copy.deepcopy(see.proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attn(F.gelu(self.to_q(x))) * F.gelu(self.to_v(x)))


class DeployMoEBlock(nn.Module):
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
        h = F.gelu(self.conv_in(x))
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
