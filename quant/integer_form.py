"""The integer edge model (``T-x4-int``): the deploy form with nothing an INT8 accelerator would hand back to the CPU.

The faithful deploy form keeps three kinds of float island (``docs/bench/report.md``; the cards' ``float_ops``): the
25 LayerNorms (per-pixel statistics over channels: a subtract, a square, an rsqrt, a multiply), GELU (LiteRT's
XNNPACK delegate has no INT8 GELU) and the residual stream (kept float by the sensitivity scan). Here:
- every LayerNorm becomes a per-channel affine, fitted by least squares to what the norm outputs on calibration
  images, and folded into the convolutions that read it, so it costs no op at all. Into a 1x1 conv the fold is exact;
  into a 3x3 conv (the RME's first conv, the final ``conv_2``) the shift is exact away from the border only, which the
  distillation that follows absorbs;
- GELU becomes ReLU6, which every runtime fuses into the conv before it (an output clamp, no op of its own). The
  bound matters: the gated products (FFN, striped conv former, expert) square their input's size, and without the
  LayerNorms nothing else stops that compounding block after block; with plain ReLU two Set14 images (ppt3,
  zebra) reached 1e22 by the third group and came out NaN in FP32 (INT8's clipping hid it). With ReLU6 each
  branch's output is bounded by its weights, so the residual stream can only grow additively;
- the RGB mean moves into the first and last convs' biases (:class:`IntegerSeemoRe`), and the pixel shuffle becomes
  the transposed convolution it equals (:class:`PixelShuffleConv`);
- the quantizer annotates everything, residual stream and long skip included, and the context branch's resize shares
  its input's INT8 grid (``quant.quantizer`` ``integer=True``).

The function this computes differs from the reference's (no normalisation, another activation), so it is trained by
distillation from the reference before and during QAT; the structure alone (``calibration=None``) is what a
checkpoint's state is loaded into.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from quant.deploy_form import (ChannelNorm, DeployMoEBlock, SplitGatedFFN, SplitStripedConvFormer,
                               to_deploy_form)
from seemore_edge.core.model import SeemoRe

VARIANTS = ("faithful", "integer")


class IntegerSeemoRe(SeemoRe):
    """SeemoRe without the RGB mean's subtract and add (a float op each side of the graph, since the quantizer leaves
    an op on a constant float): the mean lives in ``conv_1``'s bias (exact away from the border) and in the
    upsampler's bias (exact: each of its outputs lands in one colour of the pixel shuffle)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.conv_1(x)
        return self.upsampler(self.conv_2(self.norm(self.body(shallow))) + shallow)


class PixelShuffleConv(nn.ConvTranspose2d):
    """``nn.PixelShuffle`` as the stride-r transposed convolution it equals: each input channel c r^2 + i r + j
    writes, with weight 1, to pixel (i, j) of each r x r output block of channel c. ExecuTorch decomposes a pixel shuffle
    (or its reshape-permute-reshape) into a copy and a reshape that XNNPACK's partitioner takes only in float, so the
    graph's last op left INT8 for it; XNNPACK runs a transposed conv in INT8. LiteRT's converter does the opposite
    (a float TRANSPOSE_CONV, INT8 reshapes for a pixel shuffle), so the ``.tflite`` export turns it back
    (:func:`pixel_shuffles_back`). Its weights of 0 and 1 are exact on the INT8 weight grid, and it is not trained."""

    def __init__(self, channels: int, factor: int):
        super().__init__(channels * factor * factor, channels, factor, stride=factor, bias=False)
        weight = torch.zeros_like(self.weight)  # (in = c r^2, out = c, r, r)
        for k in range(weight.shape[0]):
            c, i, j = k // (factor * factor), (k // factor) % factor, k % factor
            weight[k, c, i, j] = 1.0
        self.weight.data.copy_(weight)
        self.weight.requires_grad_(False)


def pixel_shuffles_back(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """The converted INT8 graph with each :class:`PixelShuffleConv` computing as the pixel shuffle it equals, for
    LiteRT: its converter keeps an INT8 transposed conv in float (dequantize, float TRANSPOSE_CONV, quantize) but turns
    a pixel shuffle between a dequantize and a quantize into INT8 reshapes and transposes. The same values: the
    transposed conv's weights are exactly 0 and 1 on their grid, and the quantize after it is kept."""
    for node in list(graph.graph.nodes):
        stack = node.meta.get("nn_module_stack") or {}
        owner = list(stack.values())[-1][1] if stack else ""
        owner = owner if isinstance(owner, str) else getattr(owner, "__qualname__", "")
        if str(node.target) == "aten.conv_transpose2d.input" and owner.endswith("PixelShuffleConv"):
            factor = node.args[3][0] if len(node.args) > 3 else 1
            with graph.graph.inserting_after(node):
                shuffle = graph.graph.call_function(torch.ops.aten.pixel_shuffle.default, (node.args[0], factor))
            shuffle.meta = dict(node.meta)
            node.replace_all_uses_with(shuffle)
            graph.graph.erase_node(node)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    return graph


@torch.no_grad()
def fold_mean(model: SeemoRe) -> None:
    mean = model.mean.view(-1)
    model.conv_1.bias.data -= model.conv_1.weight.data.sum(dim=(2, 3)) @ mean
    model.upsampler[0].bias.data += mean.repeat_interleave(model.scale * model.scale)
    model.__class__ = IntegerSeemoRe  # the main job's --variant: the deploy form as it is, or this integer form


def norm_sites(model: SeemoRe) -> list[tuple[nn.Module, str, list[nn.Conv2d]]]:
    """(owner, attribute, the convs that read the norm) for every LayerNorm of a deploy-form model."""
    sites = []
    for group in model.body:
        for eb in (group.local_block, group.global_block):
            block = eb.block
            readers = ([block.to_q, block.to_v] if isinstance(block, SplitStripedConvFormer)
                       else [block.conv_in] if isinstance(block, DeployMoEBlock) else None)
            if readers is None:
                raise TypeError(f"no integer form for {type(block).__name__}")
            sites += [(eb, "norm_1", readers), (eb, "norm_2", [eb.ffn.fn_a, eb.ffn.fn_g])]
    sites.append((model, "norm", [model.conv_2]))
    return sites


@torch.no_grad()
def fit_affine(inputs: torch.Tensor, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel, the scale a and shift d minimising mean (y - (a x + d))^2 over every pixel of a norm's ``inputs``
    x and ``outputs`` y: the best a LayerNorm can be stood in for by something that folds into a conv."""
    x = inputs.transpose(0, 1).flatten(1).double()           # (C, pixels)
    y = outputs.transpose(0, 1).flatten(1).double()
    mx, my = x.mean(1, keepdim=True), y.mean(1, keepdim=True)
    var = ((x - mx) ** 2).mean(1)
    a = ((x - mx) * (y - my)).mean(1) / var.clamp_min(1e-12)
    d = my.squeeze(1) - a * mx.squeeze(1)
    return a.float(), d.float()


@torch.no_grad()
def fold_into(convs: list[nn.Conv2d], a: torch.Tensor, d: torch.Tensor) -> None:
    """conv(a x + d) as one conv of x: W' = W diag(a), b' = b + (sum of W's taps) d; exact for a 1x1 conv, and for a
    larger one wherever the kernel sees no zero padding."""
    for conv in convs:
        conv.bias.data += conv.weight.data.sum(dim=(2, 3)) @ d
        conv.weight.data *= a.view(1, -1, 1, 1)


def _fit_in_one_pass(model: SeemoRe, norms: list[nn.Module], images: torch.Tensor) -> list:
    """Each norm's affine fit, in one forward pass: each norm's hook fits on its input and hands the affine's output
    on in place of the norm's, so every later fit sees what the integer model computes upstream."""
    fits: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def stand_in(i):
        def hook(_norm, args, out):
            a, d = fit_affine(args[0], out)
            fits[i] = (a, d)
            return args[0] * a.view(1, -1, 1, 1) + d.view(1, -1, 1, 1)
        return hook

    hooks = [norm.register_forward_hook(stand_in(i)) for i, norm in enumerate(norms)]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
    return [fits[i] for i in range(len(norms))]


def to_integer_form(edge: SeemoRe, calibration: torch.Tensor | None = None) -> SeemoRe:
    """The integer form of a fixed-routing model. With ``calibration`` (LR images, N x 3 x H x W) each LayerNorm's
    affine stand-in is fitted site by site in order, after the activations are swapped, so each fit sees the inputs
    the integer model itself produces upstream; without, the structure only (identity affines)."""
    model = to_deploy_form(edge)
    for module in list(model.modules()):
        if isinstance(module, (SplitGatedFFN, SplitStripedConvFormer, DeployMoEBlock)):
            module.act = F.relu6
        for child_name, child in module.named_children():
            if isinstance(child, nn.GELU):
                setattr(module, child_name, nn.ReLU6())
    sites = norm_sites(model)
    for owner, name, _ in sites:
        if not isinstance(getattr(owner, name), ChannelNorm):
            raise TypeError(f"{name}: expected the deploy form's ChannelNorm, got {type(getattr(owner, name)).__name__}")
    if calibration is not None:
        fits = _fit_in_one_pass(model, [getattr(owner, name) for owner, name, _ in sites], calibration)
        for (_, _, readers), (a, d) in zip(sites, fits):
            fold_into(readers, a, d)
    for owner, name, _ in sites:
        setattr(owner, name, nn.Identity())
    model.upsampler[1] = PixelShuffleConv(3, model.scale)
    if calibration is not None:
        fold_mean(model)
    else:
        model.__class__ = IntegerSeemoRe
    return model.eval()
