"""SeemoRe, written from the facts in ARCHITECTURE.md.

Attribute names mirror the authors' checkpoint layout (``official_state_dict_T_x4.txt``) so that their ``.pth`` files load
with no key mapping; that is why some names (``local_block`` for the RME, ``global_block`` for the SME) say less than
they could.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .presets import Preset

RGB_MEAN = (0.4488, 0.4371, 0.4040)


class LayerNorm2d(nn.Module):
    """Channels-first LayerNorm: every pixel is normalised over its C channels (the authors' eps 1e-6)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def depthwise(channels: int, kernel: tuple[int, int], stride: int = 1, padding: tuple[int, int] = (0, 0)) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel, stride=stride, padding=padding, groups=channels)


class StripedConv(nn.Module):
    """A depthwise 1xk followed by a depthwise kx1 conv: a kxk receptive field for 2k weights per channel."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv = nn.Sequential(depthwise(channels, (1, kernel), padding=(0, kernel // 2)),
                                  depthwise(channels, (kernel, 1), padding=(kernel // 2, 0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class GatedFFN(nn.Module):
    def __init__(self, channels: int, expansion: int = 2):
        super().__init__()
        hidden = channels * expansion // 2
        self.fn_1 = nn.Sequential(nn.Conv2d(channels, hidden * 2, 1), nn.GELU())
        self.gate = depthwise(hidden, (3, 3), padding=(1, 1))
        self.fn_2 = nn.Sequential(nn.Conv2d(hidden, channels, 1), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.fn_1(x).chunk(2, dim=1)
        return self.fn_2(a * self.gate(g))


class Expert(nn.Module):
    """One low-rank expert: project both views to rank R, multiply, project back to C."""

    def __init__(self, channels: int, rank: int):
        super().__init__()
        self.conv_1 = nn.Conv2d(channels, rank, 1)
        self.conv_2 = nn.Conv2d(channels, rank, 1)
        self.conv_3 = nn.Conv2d(rank, channels, 1)

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.conv_3(self.conv_1(x) * self.conv_2(k))


class Router(nn.Module):
    def __init__(self, channels: int, experts: int):
        super().__init__()
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, experts, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).softmax(dim=-1)


class MoELayer(nn.Module):
    """Mixture of low-rank experts with per-image top-1 routing.

    Training runs every expert and weights it by the softmax with all but the top-1 entry zeroed, so gradients reach only
    the chosen expert and, through its weight, the router. Inference runs only the chosen expert, image by image: a batch
    routes each image on its own (the authors' inference path assumed batch size 1).
    """

    def __init__(self, channels: int, ranks: tuple[int, ...]):
        super().__init__()
        self.experts = nn.ModuleList(Expert(channels, r) for r in ranks)
        self.gate = Router(channels, len(ranks))
        self.last_routes: torch.Tensor | None = None  # expert index per image of the latest forward
        self.last_weights: torch.Tensor | None = None  # and its routing probability

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        probs = self.gate(x)
        top_w, top_i = probs.max(dim=1)
        self.last_routes, self.last_weights = top_i.detach(), top_w.detach()
        if self.training:
            kept = torch.zeros_like(probs).scatter(1, top_i[:, None], top_w[:, None])
            out = x
            for i, expert in enumerate(self.experts):
                out = out + expert(x, k) * kept[:, i, None, None, None]
            return out
        out = x.clone()
        for i in top_i.unique().tolist():
            rows = (top_i == i).nonzero().flatten()
            xi, ki = x.index_select(0, rows), k.index_select(0, rows)
            w = top_w.index_select(0, rows)[:, None, None, None]
            out.index_copy_(0, rows, xi + w * self.experts[i](xi, ki))
        return out


class FixedExpertLayer(nn.Module):
    """The edge variant of MoELayer: one expert chosen ahead of time, no router, no data-dependent control flow.

    The routing weight is a constant folded into the expert's last conv, so ``x + expert(x, k)`` is all that runs. The
    expert keeps its index in the state dict (``experts.<i>.``), so a checkpoint says which expert each layer runs and
    its tensors are a subset of the full model's.
    """

    def __init__(self, channels: int, ranks: tuple[int, ...], expert: int):
        super().__init__()
        self.index = expert
        self.experts = nn.ModuleDict({str(expert): Expert(channels, ranks[expert])})

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return x + self.experts[str(self.index)](x, k)


class MoEBlock(nn.Module):
    """The MoRE block: a local view x and a multi-scale context view k, mixed by the low-rank experts."""

    def __init__(self, channels: int, ranks: tuple[int, ...], recursion: int, shuffle: bool,
                 fixed_expert: int | None = None):
        super().__init__()
        self.recursion = recursion
        self.shuffle = shuffle
        self.conv_1 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.GELU(),
                                    nn.Conv2d(channels, 2 * channels, 1))
        self.agg_conv = nn.Sequential(depthwise(channels, (4, 4), stride=4), nn.GELU())
        self.conv = nn.Sequential(depthwise(channels, (3, 3), padding=(1, 1)), nn.Conv2d(channels, channels, 1))
        self.conv_2 = nn.Sequential(StripedConv(channels, 3), nn.GELU())
        self.moe_layer = (MoELayer(channels, ranks) if fixed_expert is None
                          else FixedExpertLayer(channels, ranks, fixed_expert))
        self.proj = nn.Conv2d(channels, channels, 1)

    def context(self, k: torch.Tensor) -> torch.Tensor:
        h, w = k.shape[-2:]
        c = k
        for _ in range(self.recursion):
            c = self.agg_conv(c)
        c = self.conv(c)
        return k + F.interpolate(c, size=(h, w), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(x)
        if self.shuffle:
            b, c2, h, w = x.shape
            x = x.view(b, 2, c2 // 2, h, w).transpose(1, 2).reshape(b, c2, h, w)
        x, k = x.chunk(2, dim=1)
        x = self.conv_2(x)
        k = self.context(k)
        return self.proj(self.moe_layer(x, k))


class StripedConvFormer(nn.Module):
    """The SEE: a gated striped large-kernel depthwise conv standing in for self-attention."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, 1)
        self.to_qv = nn.Sequential(nn.Conv2d(channels, 2 * channels, 1), nn.GELU())
        self.attn = StripedConv(channels, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, v = self.to_qv(x).chunk(2, dim=1)
        return self.proj(self.attn(q) * v)


class ExpertBlock(nn.Module):
    """Pre-norm residual pair shared by the RME and SME: ``x + block(LN(x))``, then ``x + ffn(LN(x))``."""

    def __init__(self, channels: int, block: nn.Module):
        super().__init__()
        self.norm_1 = LayerNorm2d(channels)
        self.block = block
        self.norm_2 = LayerNorm2d(channels)
        self.ffn = GatedFFN(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.block(self.norm_1(x))
        return x + self.ffn(self.norm_2(x))


class ResGroup(nn.Module):
    def __init__(self, p: Preset, fixed_expert: int | None = None):
        super().__init__()
        c = p.channels
        self.local_block = ExpertBlock(c, MoEBlock(c, p.expert_ranks, p.recursion, p.channel_shuffle,
                                                   fixed_expert))  # RME
        self.global_block = ExpertBlock(c, StripedConvFormer(c, p.striped_kernel))  # SME

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_block(self.local_block(x))


class SeemoRe(nn.Module):
    """Input and output are RGB in [0, 1], NCHW; the output is ``scale`` times larger.

    ``experts=None`` routes dynamically (the paper); a tuple gives the fixed expert of each residual group (the edge
    variant).
    """

    def __init__(self, preset: Preset, scale: int, experts: tuple[int, ...] | None = None):
        super().__init__()
        if experts is not None and (len(experts) != preset.groups
                                    or not all(0 <= e < len(preset.expert_ranks) for e in experts)):
            raise ValueError(f"fixed routing needs one expert index in 0..{len(preset.expert_ranks) - 1} for each of "
                             f"the {preset.groups} residual groups, got {list(experts)}")
        self.preset = preset
        self.scale = scale
        self.experts = None if experts is None else tuple(int(e) for e in experts)
        c = preset.channels
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_1 = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(*(ResGroup(preset, None if experts is None else experts[i])
                                    for i in range(preset.groups)))
        self.norm = LayerNorm2d(c)
        self.conv_2 = nn.Conv2d(c, c, 3, padding=1)
        self.upsampler = nn.Sequential(nn.Conv2d(c, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    @property
    def min_lr_size(self) -> int:
        return self.preset.min_lr_size

    @property
    def routing(self) -> str:
        return "dynamic" if self.experts is None else "fixed"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.mean
        shallow = self.conv_1(x)
        x = self.conv_2(self.norm(self.body(shallow))) + shallow
        return self.upsampler(x) + self.mean

    def moe_layers(self) -> list[nn.Module]:
        return [g.local_block.block.moe_layer for g in self.body]

    def routes(self) -> list[torch.Tensor]:
        """Expert index per image for every residual group, as chosen in the latest forward pass (dynamic routing)."""
        return [layer.last_routes for layer in self.moe_layers()]
