"""The INT8 graph of the deploy-form edge model through PT2E: the training graph with fake quantization, and its
conversion to the quantize/dequantize form the backends lower.

Scheme: weights INT8 per output channel, symmetric; activations INT8 per tensor, affine - the static W8A8 that
XNNPACK (ExecuTorch and LiteRT) and Core ML execute natively. The deploy form (quant/deploy_form.py) is what gets
quantized, so the graph that is trained is the graph that ships.
"""
from __future__ import annotations

import types

import torch
from torch.export import Dim
from torchao.quantization.pt2e import (FakeQuantizeBase, disable_observer, move_exported_model_to_eval,
                                       move_exported_model_to_train)
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

from quant.fixed_routing import EXPORT_MAX_BATCH, EXPORT_MAX_SIDE, EXPORT_MIN_SIDE
from quant.quantizer import xnnpack_quantizer


def training_shapes() -> dict:
    """QAT's training graph needs a dynamic batch (else it is specialised to the example's); H and W are dynamic too so
    that the converted model scores whole benchmark images."""
    return {"x": {0: Dim("batch", min=1, max=EXPORT_MAX_BATCH),
                  2: Dim("height", min=EXPORT_MIN_SIDE, max=EXPORT_MAX_SIDE),
                  3: Dim("width", min=EXPORT_MIN_SIDE, max=EXPORT_MAX_SIDE)}}


def unknown_modules(deploy: torch.nn.Module, modules) -> list[str]:
    """The names among ``modules`` that are not modules of ``deploy`` (the empty name included)."""
    names = {name for name, _ in deploy.named_modules() if name}
    return [m for m in modules if m not in names]


def prepare_qat(deploy: torch.nn.Module, example: torch.Tensor,
                float_modules: tuple[str, ...] = (), integer: bool = False) -> torch.fx.GraphModule:
    """The deploy-form model with fake quantization inserted, ready to train; ``float_modules`` stay float;
    ``integer``: ``deploy`` is the integer form, quantized throughout."""
    unknown = unknown_modules(deploy, float_modules)
    if unknown:
        raise ValueError(f"float modules {unknown} are not modules of the deploy form")
    graph = torch.export.export(deploy.train(), (example,), dynamic_shapes=training_shapes()).module()
    prepared = prepare_qat_pt2e(graph, xnnpack_quantizer(tuple(float_modules), integer))
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
    observer's symmetric grid. New QAT runs train weights on the symmetric grid
    directly (:func:`~quant.quantizer.symmetric_weight_fake_quant`); test_qat holds converted = fake-quantized."""
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
