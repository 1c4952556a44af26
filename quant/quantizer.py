"""Which ops of the deploy form are INT8 and on which grids: ExecuTorch's XNNPACK quantizer, with the float ops chosen
by measurement left unannotated and weights fake-quantized on the grid conversion uses.

Scheme: weights INT8 per output channel, symmetric; activations INT8 per tensor, affine - the static W8A8 that
XNNPACK (ExecuTorch and LiteRT) and Core ML execute natively.
"""
from __future__ import annotations

import dataclasses

import torch
from torchao.quantization.pt2e.fake_quantize import FakeQuantize
from torchao.quantization.pt2e.observer import MovingAveragePerChannelMinMaxObserver


# Ops left in float, chosen by measurement: `python -m seemore_edge.sensitivity --weights T-x4-qat` switches each
# group's fake quantization off alone and reports what it gains; the residual stream (the expert blocks' residual adds,
# the model-level mean and long skip), the final LayerNorm and the pixel shuffle (the output's quantization) gained
# most, every convolution's weights together almost nothing. So every convolution (all the MACs) stays INT8, and the
# residual stream stays float, as a transformer-style pre-norm block wants: INT8 enters each branch at its LayerNorm
# and leaves at its last conv. XNNPACK runs the float ops inside the same partition (see
# quant.int8_graph.one_dequantize_per_user for what it needs).
FLOAT_MODULES = ("norm", "upsampler.1")  # final LayerNorm (with its statistics convs) and the pixel shuffle
FLOAT_OWNERS = ("ExpertBlock", "SeemoRe")  # ops written in these forwards: residual adds, mean, long skip
# A model may keep more modules float (its card's ``details.float_modules``, the main job's ``--float-modules``): at x2
# the reference's error is half of x4's, so the same INT8 noise costs about four times the dB, and the scan's next
# largest groups were the three dense convs at the network's ends (conv_1, conv_2, upsampler.0): 3 of 221 convs.
END_CONVS = ("conv_1", "conv_2", "upsampler.0")


def in_modules(path: str, modules) -> bool:
    return any(path == m or path.startswith(m + ".") for m in modules)


def module_path(node: torch.fx.Node) -> tuple[str, str]:
    """(path, owner class name) of the innermost module a graph node was traced in; ("", "") for none."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, owner = list(stack.values())[-1]
    return path, owner if isinstance(owner, str) else getattr(owner, "__name__", str(owner))


def keeps_float(node: torch.fx.Node, extra: tuple[str, ...] = ()) -> bool:
    path, owner = module_path(node)
    if not path and not owner:
        return False
    return in_modules(path, FLOAT_MODULES + tuple(extra)) or any(owner.endswith(o) for o in FLOAT_OWNERS)


def annotated_by(config, amend):
    """ExecuTorch's XNNPACK quantizer with ``config`` on every op it knows, then ``amend(graph, config)`` changing its
    annotations in place (the one hook both variants need: its ``set_module_name`` takes no "leave float" config,
    and it annotates neither a resize nor a conv + ReLU6 as one op)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    class Amended(XNNPACKQuantizer):
        def annotate(self, model):
            model = super().annotate(model)
            amend(model.graph, config)
            return model

    return Amended().set_global(config)


def partly_float_quantizer(float_node, config):
    """Every op annotated except those ``float_node(node)`` picks, which stay float."""
    def leave_float(graph, _config) -> None:
        for node in graph.nodes:
            if node.op == "call_function" and float_node(node):
                node.meta.pop("quantization_annotation", None)
    return annotated_by(config, leave_float)


# Ops that interpolate values without new arithmetic: in the integer form they compute on their input's INT8 grid
# (XNNPACK and LiteRT both run them on INT8 tensors); ExecuTorch's quantizer leaves them float.
SHARED_GRID_OPS = ("aten.upsample_bilinear2d.vec",)
RELU6 = ("aten.relu6.default", "aten.hardtanh.default")  # F.relu6 and nn.ReLU6 as the QAT graph holds them


def transposed_conv_weight(spec):
    """The weight ``spec`` on a transposed convolution, whose output channels are axis 1 of its (in, out, kh, kw)
    weight (the pixel shuffle's, in the integer form)."""
    return dataclasses.replace(spec, ch_axis=1, observer_or_fake_quant_ctr=FakeQuantize.with_args(
        observer=MovingAveragePerChannelMinMaxObserver, eps=2**-12, ch_axis=1))


def integer_annotations(graph, config) -> None:
    """The integer form's amendments: :data:`SHARED_GRID_OPS` on their input's grid, a conv + ReLU6 as one op (as the
    quantizer does for ReLU; XNNPACK and LiteRT fuse the clamp into the conv), the pixel shuffle's transposed conv
    weights per output channel."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    for node in graph.nodes:
        if node.op != "call_function" or str(node.target) not in SHARED_GRID_OPS:
            continue
        source = node.args[0]
        grid = SharedQuantizationSpec(source)
        # the input edge's grid, not the source's: a grid shared with a node inserts no quantizer at the output
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map={source: grid}, output_qspec=SharedQuantizationSpec((source, node)), _annotated=True)
        for user in node.users:  # a consumer's own input quantizer would otherwise observe a new grid
            annotation = user.meta.get("quantization_annotation")
            if annotation is not None and node in annotation.input_qspec_map:
                annotation.input_qspec_map[node] = grid
    for node in graph.nodes:
        conv = node.args[0] if str(node.target) in RELU6 else None
        if conv is not None and str(conv.target) == "aten.conv2d.default" and len(conv.users) == 1:
            conv.meta["quantization_annotation"].output_qspec = None
            node.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=config.output_activation,
                                                                          _annotated=True)
        if str(node.target) == "aten.conv_transpose2d.input":
            node.meta["quantization_annotation"].input_qspec_map[node.args[1]] = transposed_conv_weight(config.weight)


def xnnpack_quantizer(float_modules: tuple[str, ...] = (), integer: bool = False):
    """The QAT quantizer; ``float_modules``: module paths of the deploy form kept float beyond the fixed set above.
    ``integer``: the integer form (quant/integer_form.py), where nothing is kept float, residual stream included."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config

    config = get_symmetric_quantization_config(is_per_channel=True, is_qat=True)
    config = dataclasses.replace(config, weight=symmetric_weight_fake_quant(config.weight))
    if integer:
        if float_modules:
            raise ValueError("the integer form keeps nothing float")
        return annotated_by(config, integer_annotations)
    return partly_float_quantizer(lambda node: keeps_float(node, float_modules), config)


def symmetric_weight_fake_quant(spec):
    """The weight spec with a fake quantizer that trains on the grid conversion will use.

    ExecuTorch's QAT config fake-quantizes weights with the fused moving-average kernel, which for a channel whose
    weights all share one sign trains on an asymmetric grid (zero point +-127, half the step) and otherwise divides
    the range by 127.5; conversion then quantizes every channel symmetrically from the observer (range / 127, zero
    point 0), which is all INT8 weight kernels take. The plain fake quantizer asks that same observer at each step, so
    training and the shipped weights see one grid (test_qat: converted = fake-quantized)."""
    return dataclasses.replace(spec, observer_or_fake_quant_ctr=FakeQuantize.with_args(
        observer=MovingAveragePerChannelMinMaxObserver, eps=2**-12))
