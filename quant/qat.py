"""INT8 quantization-aware training of the deploy-form edge model through PT2E (torchao + ExecuTorch's XNNPACK quantizer).

Scheme: weights INT8 per output channel, symmetric; activations INT8 per tensor, affine - the static W8A8 that
XNNPACK (ExecuTorch and LiteRT) and Core ML execute natively. The deploy form (quant/deploy_form.py) is what gets
quantized, so the graph that is trained is the graph that ships.
"""
from __future__ import annotations

import dataclasses
import types

import torch
import torch.nn.functional as F
from torch.export import Dim
from torchao.quantization.pt2e import (FakeQuantizeBase, disable_observer, move_exported_model_to_eval,
                                       move_exported_model_to_train)
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

from quant.fixed_routing import EXPORT_MAX_BATCH, EXPORT_MAX_SIDE, EXPORT_MIN_SIDE


# Ops left in float, chosen by measurement (trained T-x4 QAT model, Set5; each group's fake quantization switched off
# alone, as `python -m seemore_edge.sensitivity` does now): the expert blocks' 24 residual adds +0.052 dB, the final
# LayerNorm +0.047, the model-level mean subtraction/addition and long skip +0.027, and the pixel shuffle (the output's
# quantization) +0.013. Every
# convolution (all the MACs) stays INT8: every conv's weights together cost +0.000. The float residual stream is what a
# transformer-style pre-norm block wants: INT8 enters each branch at its LayerNorm and leaves at its last conv, and the
# sums stay float. XNNPACK runs the float ops inside the same partition (see one_dequantize_per_user for what it needs).
# A one-off post-training-quantization check (script not kept; 16 calibration batches, Set5, edge FP32 30.840) gave:
# residual stream INT8 30.611, float 30.755; INT8 .pte (128 tile) 577 -> 582 KB. The QAT report is the measured record.
FLOAT_MODULES = ("norm", "upsampler.1")  # final LayerNorm (with its statistics convs) and the pixel shuffle
FLOAT_OWNERS = ("ExpertBlock", "SeemoRe")  # ops written in these forwards: residual adds, mean, long skip


def keeps_float(node: torch.fx.Node) -> bool:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return False
    path, owner = list(stack.values())[-1]
    owner = owner if isinstance(owner, str) else getattr(owner, "__name__", str(owner))
    return (any(path == m or path.startswith(m + ".") for m in FLOAT_MODULES)
            or any(owner.endswith(o) for o in FLOAT_OWNERS))


def xnnpack_quantizer():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)

    class EdgeQuantizer(XNNPACKQuantizer):
        """ExecuTorch's XNNPACK quantizer with the float ops above left unannotated."""

        def annotate(self, model):
            model = super().annotate(model)
            for node in model.graph.nodes:
                if node.op == "call_function" and keeps_float(node):
                    node.meta.pop("quantization_annotation", None)
            return model

    config = get_symmetric_quantization_config(is_per_channel=True, is_qat=True)
    return EdgeQuantizer().set_global(dataclasses.replace(config, weight=symmetric_weight_fake_quant(config.weight)))


def symmetric_weight_fake_quant(spec):
    """The weight spec with a fake quantizer that trains on the grid conversion will use.

    ExecuTorch's QAT config fake-quantizes weights with the fused moving-average kernel, which for a channel whose
    weights all share one sign trains on an asymmetric grid (zero point +-127, half the step) and otherwise divides
    the range by 127.5; conversion then quantizes every channel symmetrically from the observer (range / 127, zero
    point 0), which is all INT8 weight kernels take. The plain fake quantizer asks that same observer at each step, so
    training and the shipped weights see one grid (test_qat: converted = fake-quantized)."""
    from torchao.quantization.pt2e.fake_quantize import FakeQuantize
    from torchao.quantization.pt2e.observer import MovingAveragePerChannelMinMaxObserver

    return dataclasses.replace(spec, observer_or_fake_quant_ctr=FakeQuantize.with_args(
        observer=MovingAveragePerChannelMinMaxObserver, eps=2**-12))


def training_shapes() -> dict:
    """QAT's training graph needs a dynamic batch (else it is specialised to the example's); H and W are dynamic too so
    that the converted model scores whole benchmark images."""
    return {"x": {0: Dim("batch", min=1, max=EXPORT_MAX_BATCH),
                  2: Dim("height", min=EXPORT_MIN_SIDE, max=EXPORT_MAX_SIDE),
                  3: Dim("width", min=EXPORT_MIN_SIDE, max=EXPORT_MAX_SIDE)}}


def prepare_qat(deploy: torch.nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """The deploy-form model with fake quantization inserted, ready to train."""
    graph = torch.export.export(deploy.train(), (example,), dynamic_shapes=training_shapes()).module()
    prepared = prepare_qat_pt2e(graph, xnnpack_quantizer())
    move_exported_model_to_train(prepared)
    return prepared


def freeze_observers(prepared: torch.fx.GraphModule) -> None:
    """Stop range tracking: the last part of QAT then fine-tunes weights against fixed activation scales."""
    prepared.apply(disable_observer)


def convert(prepared: torch.fx.GraphModule, fold_quantize: bool = True) -> torch.fx.GraphModule:
    """The INT8 model: quantize/dequantize pairs around INT8 weights, as the backends' lowering expects.

    ``fold_quantize=False`` keeps each weight as float followed by its quantize/dequantize pair, the form LiteRT's
    converter turns into INT8 kernels; ExecuTorch and Core ML take the folded INT8 constants.
    """
    move_exported_model_to_eval(prepared)
    convert_with_trained_grids(prepared)
    return one_dequantize_per_user(convert_pt2e(prepared, fold_quantize=fold_quantize))


def convert_with_trained_grids(prepared: torch.fx.GraphModule) -> None:
    """Make conversion quantize on the grids the fake quantizers trained with.

    Conversion asks each fake quantizer's observer for its parameters, but ExecuTorch's fused fake-quantize kernel
    computes its own while training: an activation whose values all share one sign (a LayerNorm's bias entering an
    add) gets a range without 0, and weights get range / 127.5 instead of the observer's range / 127 (0.4% coarser at
    conversion, so many weights round to a neighbouring step). Here conversion takes the trained scale and zero point.
    Weights trained by the fused kernel (checkpoints made before symmetric_weight_fake_quant) have one exception: a
    channel whose weights all share one sign trained on an asymmetric grid (zero point +-127), which INT8 weight
    kernels do not take (symmetric only: LiteRT refuses it, XNNPACK drops the zero point); those channels keep the
    observer's symmetric grid (145 of ~7,000 in the first T-x4-qat). New QAT runs train weights on the symmetric grid
    directly (:func:`symmetric_weight_fake_quant`). First T-x4-qat, Set5: 31.0037 dB converted as torchao does it,
    31.0163 here; 31.0167 fake-quantized (`python -m seemore_edge.sensitivity`)."""
    for module in prepared.modules():
        if not isinstance(module, FakeQuantizeBase):
            continue
        if module.qscheme == torch.per_channel_symmetric:
            def trained(fq):
                observed, _ = fq.activation_post_process.calculate_qparams()
                scale = torch.where(fq.zero_point == 0, fq.scale, observed.to(fq.scale.device))
                return scale, torch.zeros_like(fq.zero_point)
        else:
            def trained(fq):
                return fq.scale, fq.zero_point
        module.calculate_qparams = types.MethodType(trained, module)


def one_dequantize_per_user(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Give every consumer of a dequantized tensor its own dequantize node.

    ExecuTorch's XNNPACK lowering marks a dequantize as folded into its consumer when that consumer is an INT8 op; a
    dequantize shared by an INT8 op and a float op (the residual stream feeding a LayerNorm and a float add) then hands
    the float add an INT8 input, and the delegate fails at load ("Failed to create XNNAdd node"). Same numbers, one
    more node per extra consumer.
    """
    for node in list(graph.graph.nodes):
        if node.op == "call_function" and "dequantize" in str(node.target) and len(node.users) > 1:
            for user in list(node.users)[1:]:
                with graph.graph.inserting_after(node):
                    copy = graph.graph.node_copy(node)
                user.replace_input_with(node, copy)
    graph.graph.lint()
    graph.recompile()
    return graph


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, hr: torch.Tensor, hr_weight: float = 0.5) -> torch.Tensor:
    """L1 to the FP32 reference's output (what the edge model should reproduce) plus L1 to the HR image."""
    return F.l1_loss(student, teacher) + hr_weight * F.l1_loss(student, hr)
