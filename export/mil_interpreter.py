"""A Core ML ML program (``.mlpackage``) executed op by op with PyTorch, so its pixels can be seen where Core ML does
not run (Linux): the Linux runner behind export/coreml_mlpackage.py.

What it proves: the converted program computes what we meant (layout, weights, quantization parameters, op
semantics, tiling), following the MIL op definitions as coremltools documents them
(``coremltools.converters.mil.mil.ops.defs``). What it cannot: Apple's kernels, the Neural Engine's numerics (its
accumulation order and intermediate precision), or speed; its time is not a Core ML latency and is never reported as
one.

Two numeric modes. ``float32``: every float op computes and keeps float32 (float16 constants keep the values the file
holds). ``float16``: every float op's result is rounded to float16, the precision Core ML's GPU and Neural Engine
compute in; the default for a package whose compute precision is float16. An op outside :data:`OPS` is refused with
one line naming the op and the package.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from seemore_edge.core.errors import UserError

MODES = ("float32", "float16")
OPS: dict[str, Callable] = {}


class _CoremltoolsNotices(logging.Filter):
    """coremltools logs, at import, one line per macOS-only library it cannot load off macOS (we never predict through
    them), that it has not been tested with our torch (the tests here are what test the pair), and that it disables
    its scikit-learn converter (we do not use it): nothing a user can act on. Every other message passes."""
    NOTICES = ("Failed to load _ML", "has not been tested with coremltools", "scikit-learn version")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in self.NOTICES)


logging.getLogger("coremltools").addFilter(_CoremltoolsNotices())  # this module is where the export floor meets it


def op(name: str):
    def register(fn):
        OPS[name] = fn
        return fn
    return register


# --- ops: each takes the op's inputs by name (tensors, or Python/NumPy values of const parameters) -------------------

@op("const")
def _const(val):
    return val


def _f(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))


@op("add")
def _add(x, y):
    return _f(x) + _f(y)


@op("sub")
def _sub(x, y):
    return _f(x) - _f(y)


@op("mul")
def _mul(x, y):
    return _f(x) * _f(y)


@op("real_div")
def _real_div(x, y):
    return _f(x) / _f(y)


@op("rsqrt")
def _rsqrt(x, epsilon=1e-12):
    """``1 / sqrt(x + epsilon)`` (MIL adds epsilon before the square root)."""
    return torch.rsqrt(_f(x) + float(epsilon))


@op("gelu")
def _gelu(x, mode="EXACT"):
    x = _f(x)
    if mode == "EXACT":
        return F.gelu(x)
    if mode == "TANH_APPROXIMATION":
        return F.gelu(x, approximate="tanh")
    if mode == "SIGMOID_APPROXIMATION":
        return x * torch.sigmoid(1.702 * x)
    raise UserError(f"gelu mode {mode!r} is not one MIL defines")


@op("relu")
def _relu(x):
    return F.relu(_f(x))


@op("relu6")
def _relu6(x):
    return F.relu6(_f(x))


@op("clip")
def _clip(x, alpha, beta):
    return torch.clamp(_f(x), float(alpha), float(beta))


@op("cast")
def _cast(x, dtype):
    """Float casts are the interpreter's numeric mode's business (see :class:`MilProgram`); integer casts round toward
    zero as MIL's cast does for float to int."""
    x = _f(x)
    if dtype in ("fp16", "fp32", "fp64"):
        return x.float()
    if dtype in ("int32", "int16", "int8", "uint8"):
        return torch.trunc(x.float()).to(torch.int32)
    if dtype == "bool":
        return x != 0
    raise UserError(f"cast to {dtype!r} is not implemented")


def _along(value, rank: int, axis: int | None) -> torch.Tensor:
    """A scale or zero point broadcast as MIL does: a scalar everywhere, a vector along ``axis`` of a rank-``rank``
    tensor."""
    v = _f(value).float()
    if v.ndim == 0 or v.numel() == 1 and axis is None:
        return v.reshape(())
    if v.ndim == rank:
        return v
    axis = axis if axis is not None else 0
    axis = axis % rank
    shape = [1] * rank
    shape[axis] = v.numel()
    return v.reshape(shape)


_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


@op("quantize")
def _quantize(input, scale, output_dtype, zero_point=None, axis=None):
    """``clip(round(x / scale) + zero_point)``, rounding half to even as coremltools' own value inference does."""
    x = _f(input).float()
    q = torch.round(x / _along(scale, x.ndim, axis))
    if zero_point is not None:
        q = q + _along(zero_point, x.ndim, axis)
    low, high = _RANGE[output_dtype]
    return torch.clamp(q, low, high)


@op("dequantize")
def _dequantize(input, scale, zero_point=None, axis=None):
    """``scale * (q - zero_point)``."""
    q = _f(input).float()
    if zero_point is not None:
        q = q - _along(zero_point, q.ndim, axis)
    return q * _along(scale, q.ndim, axis)


@op("constexpr_affine_dequantize")
def _constexpr_affine_dequantize(quantized_data, zero_point, scale, axis):
    """The constant ``scale * (quantized_data - zero_point)``, scale and zero point along ``axis``."""
    q = _f(quantized_data).float()
    return (q - _along(zero_point, q.ndim, int(axis))) * _along(scale, q.ndim, int(axis))


def same_padding(size: int, kernel: int, stride: int, dilation: int, lower: bool) -> tuple[int, int]:
    """MIL's ``same`` and ``same_lower``: the output is ceil(size / stride); the odd pixel of padding goes after
    (``same``) or before (``same_lower``)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


@op("conv")
def _conv(x, weight, strides=None, pad_type="valid", pad=None, dilations=None, groups=1, bias=None):
    x, w = _f(x).float(), _f(weight).float()
    kh, kw = w.shape[-2:]
    strides = [int(s) for s in (strides if strides is not None else (1, 1))]
    dilations = [int(d) for d in (dilations if dilations is not None else (1, 1))]
    if pad_type == "custom":
        top, bottom, left, right = (int(p) for p in pad)
    elif pad_type == "valid":
        top = bottom = left = right = 0
    elif pad_type in ("same", "same_lower"):
        top, bottom = same_padding(x.shape[-2], kh, strides[0], dilations[0], pad_type == "same_lower")
        left, right = same_padding(x.shape[-1], kw, strides[1], dilations[1], pad_type == "same_lower")
    else:
        raise UserError(f"conv pad_type {pad_type!r} is not one MIL defines")
    x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, w, None if bias is None else _f(bias).float(), tuple(strides), 0, tuple(dilations),
                    int(groups))


@op("conv_transpose")
def _conv_transpose(x, weight, strides=None, pad_type="valid", pad=None, dilations=None, groups=1, bias=None,
                    output_shape=None):
    """MIL's conv_transpose for the padding the integer form's pixel shuffle uses (valid, or custom and symmetric);
    its weight is (C_in, C_out / groups, kh, kw), PyTorch's layout."""
    x, w = _f(x).float(), _f(weight).float()
    strides = tuple(int(s) for s in (strides if strides is not None else (1, 1)))
    dilations = tuple(int(d) for d in (dilations if dilations is not None else (1, 1)))
    top = bottom = left = right = 0
    if pad_type == "custom":
        top, bottom, left, right = (int(p) for p in pad)
    elif pad_type != "valid":
        raise UserError(f"conv_transpose pad_type {pad_type!r} is not implemented by the MIL interpreter")
    if top != bottom or left != right:
        raise UserError("conv_transpose with asymmetric padding is not implemented by the MIL interpreter")
    y = F.conv_transpose2d(x, w, None if bias is None else _f(bias).float(), strides, (top, left), 0, int(groups),
                           dilations)
    if output_shape is not None and list(y.shape) != [int(d) for d in output_shape]:
        raise UserError(f"conv_transpose output_shape {list(output_shape)} differs from {list(y.shape)}")
    return y


def _grid(size_in: int, size_out: int, align_corners: bool, half_pixel: bool) -> torch.Tensor:
    """Source coordinates of the output samples along one axis, as MIL's upsample_bilinear Notes define them."""
    i = torch.arange(size_out, dtype=torch.float64)
    if align_corners:
        g = i * ((size_in - 1) / (size_out - 1)) if size_out > 1 else torch.zeros(size_out, dtype=torch.float64)
    elif half_pixel:
        spacing = size_in / size_out
        g = i * spacing + 0.5 * spacing - 0.5
    else:
        g = i * (size_in / size_out)
    return g.clamp(0, size_in - 1)


def _lerp(x: torch.Tensor, grid: torch.Tensor, dim: int) -> torch.Tensor:
    low = grid.floor().long()
    high = torch.clamp(low + 1, max=x.shape[dim] - 1)
    frac = (grid - low).to(x.dtype)
    shape = [1] * x.ndim
    shape[dim] = -1
    a, b = x.index_select(dim, low), x.index_select(dim, high)
    return a + (b - a) * frac.reshape(shape)


@op("upsample_bilinear")
def _upsample_bilinear(x, scale_factor_height=1, scale_factor_width=1, align_corners=True, half_pixel_centers=None):
    """Output size floor(size * factor) (the scale is then recomputed from the sizes, as MIL says); sample positions by
    ``align_corners`` and ``half_pixel_centers`` (default: not ``align_corners``)."""
    x = _f(x).float()
    align = bool(align_corners)
    half = (not align) if half_pixel_centers is None else bool(half_pixel_centers)
    h, w = x.shape[-2:]
    oh, ow = int(math.floor(h * float(scale_factor_height))), int(math.floor(w * float(scale_factor_width)))
    x = _lerp(x, _grid(h, oh, align, half), x.ndim - 2)
    return _lerp(x, _grid(w, ow, align, half), x.ndim - 1)


@op("batch_norm")
def _batch_norm(x, mean, variance, gamma=None, beta=None, epsilon=1e-5):
    x = _f(x).float()
    shape = [1, -1] + [1] * (x.ndim - 2)
    y = (x - _f(mean).float().reshape(shape)) / torch.sqrt(_f(variance).float().reshape(shape) + float(epsilon))
    if gamma is not None:
        y = y * _f(gamma).float().reshape(shape)
    if beta is not None:
        y = y + _f(beta).float().reshape(shape)
    return y


@op("pixel_shuffle")
def _pixel_shuffle(x, upscale_factor):
    """PyTorch's PixelShuffle, which MIL's op is defined to equal."""
    return F.pixel_shuffle(_f(x), int(upscale_factor))


# --- the program ----------------------------------------------------------------------------------------------------

def _load(path: Path):
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load

    spec = ct.utils.load_spec(str(path))
    if spec.WhichOneof("Type") != "mlProgram":
        raise UserError(f"{path}: not an ML program (the interpreter runs .mlpackage ML programs)")
    weights = path / "Data" / "com.apple.CoreML" / "weights"
    return spec, load(spec, specification_version=spec.specificationVersion, file_weights_dir=str(weights))


class MilProgram:
    """The main function of an ``.mlpackage``, ready to run: constants materialised once, ops checked against
    :data:`OPS`. ``mode``: "float32" or "float16"; None takes the package's compute precision."""

    def __init__(self, path: Path, mode: str | None = None):
        self.path = Path(path)
        spec, program = _load(self.path)
        main = program.functions["main"]
        self.operations = list(main.operations)
        unknown = sorted({o.op_type for o in self.operations} - set(OPS))
        if unknown:
            raise UserError(f"{self.path}: op {unknown[0]!r} is not implemented by the MIL interpreter "
                            f"(export/mil_interpreter.py implements {', '.join(sorted(OPS))})")
        self.inputs = list(main.inputs)  # names
        self.outputs = [v.name for v in main.outputs]
        self.compute_precision = "float16" if self._computes_in_fp16() else "float32"
        if mode is not None and mode not in MODES:
            raise UserError(f"unknown MIL interpreter mode {mode!r}; available: {', '.join(MODES)}")
        self.mode = mode or self.compute_precision
        self.consts: dict[str, object] = {}
        for o in self.operations:
            if o.op_type == "const":
                value = o.outputs[0].val
                self.consts[o.outputs[0].name] = (torch.from_numpy(np.array(value, dtype=np.float32))
                                                  if isinstance(value, np.ndarray) and value.dtype.kind == "f"
                                                  else value)
        self._steps = [o for o in self.operations if o.op_type != "const"]

    def _computes_in_fp16(self) -> bool:
        from coremltools.converters.mil.mil import types

        return any(v.dtype == types.fp16 for o in self.operations for v in o.outputs if hasattr(v, "dtype"))

    def _value(self, var, env):
        if isinstance(var, (list, tuple)):
            return [self._value(v, env) for v in var]
        if var.name in env:
            return env[var.name]
        if var.name in self.consts:
            return self.consts[var.name]
        return var.val

    @torch.no_grad()
    def __call__(self, **feeds: np.ndarray) -> dict[str, np.ndarray]:
        env: dict[str, object] = {}
        for name in self.inputs:
            if name not in feeds:
                raise UserError(f"{self.path}: input {name!r} not given")
            env[name] = torch.from_numpy(np.ascontiguousarray(feeds[name], np.float32))
        half = self.mode == "float16"
        for o in self._steps:
            args = {k: self._value(v, env) for k, v in o.inputs.items()}
            out = OPS[o.op_type](**args)
            if half and isinstance(out, torch.Tensor) and out.is_floating_point():
                out = out.to(torch.float16).to(torch.float32)
            env[o.outputs[0].name] = out
        return {name: _f(env[name]).float().numpy() for name in self.outputs}
