"""The MIL interpreter, op by op against PyTorch and against coremltools' own value inference where it has one (odd
sizes, stride 4, asymmetric and same padding, per-channel axes), then whole packages: a tiny model exported to FP16
and INT8 ``.mlpackage`` and interpreted against PyTorch FP32 and the PyTorch INT8 graph; an unknown op is refused."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from export import mil_interpreter as mil
from export.mil_interpreter import OPS, MilProgram
from seemore_edge.core.errors import UserError

RNG = np.random.default_rng(0)


def rand(*shape):
    return torch.from_numpy(RNG.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("pad_type,pad,stride,groups,k", [
    ("custom", [1, 2, 0, 3], 1, 1, (3, 3)),     # asymmetric
    ("valid", None, 4, 8, (4, 4)),              # the context branch's stride-4 depthwise conv
    ("custom", [0, 0, 5, 5], 1, 8, (1, 11)),    # striped depthwise
    ("same", None, 2, 1, (3, 3)),
    ("same_lower", None, 2, 1, (4, 4)),
])
def test_conv(pad_type, pad, stride, groups, k):
    x, w, b = rand(1, 8, 13, 17), rand(8, 8 // groups, *k), rand(8)
    got = OPS["conv"](x=x, weight=w, bias=b, strides=[stride, stride], pad_type=pad_type, pad=pad,
                      dilations=[1, 1], groups=groups)
    if pad_type == "custom":
        top, bottom, left, right = pad
    elif pad_type == "valid":
        top = bottom = left = right = 0
    else:
        top, bottom = mil.same_padding(13, k[0], stride, 1, pad_type == "same_lower")
        left, right = mil.same_padding(17, k[1], stride, 1, pad_type == "same_lower")
    want = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride, 0, 1, groups)
    torch.testing.assert_close(got, want)
    if pad_type.startswith("same"):
        assert got.shape[-2:] == (-(-13 // stride), -(-17 // stride))


@pytest.mark.parametrize("factor", [16, 4, 2])
def test_upsample_bilinear_half_pixel_is_torch_bilinear(factor):
    x = rand(1, 3, 5, 7)
    got = OPS["upsample_bilinear"](x=x, scale_factor_height=factor, scale_factor_width=factor, align_corners=False)
    torch.testing.assert_close(got, F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False))


def test_upsample_bilinear_align_corners_and_docs_grid():
    x = rand(1, 2, 4, 6)
    got = OPS["upsample_bilinear"](x=x, scale_factor_height=2, scale_factor_width=3, align_corners=True)
    torch.testing.assert_close(got, F.interpolate(x, size=(8, 18), mode="bilinear", align_corners=True))
    # The grids MIL's documentation lists for Xin = 2.
    np.testing.assert_allclose(mil._grid(2, 5, False, True).numpy(), [0, 0.1, 0.5, 0.9, 1], atol=1e-9)
    np.testing.assert_allclose(mil._grid(2, 6, True, False).numpy(), [0, 0.2, 0.4, 0.6, 0.8, 1], atol=1e-9)


def test_quantize_dequantize_per_tensor_and_per_channel():
    x = rand(2, 3, 4, 5) * 3
    q = OPS["quantize"](input=x, scale=np.float32(0.02), zero_point=np.int8(-20), output_dtype="int8")
    want = torch.quantize_per_tensor(x, 0.02, -20, torch.qint8).int_repr().float()
    torch.testing.assert_close(q, want)
    torch.testing.assert_close(OPS["dequantize"](input=q, scale=np.float32(0.02), zero_point=np.int8(-20)),
                               (want + 20) * 0.02)
    scales, zeros = np.array([0.01, 0.02, 0.05], np.float32), np.array([0, 3, -7], np.int8)
    q = OPS["quantize"](input=x, scale=scales, zero_point=zeros, axis=1, output_dtype="int8")
    want = torch.quantize_per_channel(x, torch.tensor(scales, dtype=torch.float64), torch.tensor(zeros, dtype=torch.int64),
                                      1, torch.qint8).int_repr().float()
    torch.testing.assert_close(q, want)
    u = OPS["quantize"](input=x, scale=np.float32(0.05), zero_point=np.uint8(128), output_dtype="uint8")
    assert u.min() >= 0 and u.max() <= 255
    w = OPS["constexpr_affine_dequantize"](quantized_data=np.array(want.numpy(), np.int8), zero_point=zeros,
                                           scale=scales, axis=np.int32(1))
    torch.testing.assert_close(w, (want - torch.tensor(zeros, dtype=torch.float32).view(1, 3, 1, 1))
                               * torch.tensor(scales).view(1, 3, 1, 1))


def test_elementwise_against_coremltools_value_inference():
    from coremltools.converters.mil import Builder as mb

    x = RNG.standard_normal((2, 3, 5)).astype(np.float32)
    pos = np.abs(x) + 0.1
    gamma, beta = RNG.standard_normal(3).astype(np.float32), RNG.standard_normal(3).astype(np.float32)
    mean, var = RNG.standard_normal(3).astype(np.float32), np.abs(RNG.standard_normal(3)).astype(np.float32)
    x4 = RNG.standard_normal((1, 8, 3, 5)).astype(np.float32)
    cases = {
        "rsqrt": (lambda: mb.rsqrt(x=pos, epsilon=1e-6), {"x": pos, "epsilon": 1e-6}),
        "gelu EXACT": (lambda: mb.gelu(x=x, mode="EXACT"), {"x": x, "mode": "EXACT"}),
        "gelu TANH": (lambda: mb.gelu(x=x, mode="TANH_APPROXIMATION"), {"x": x, "mode": "TANH_APPROXIMATION"}),
        "gelu SIGMOID": (lambda: mb.gelu(x=x, mode="SIGMOID_APPROXIMATION"), {"x": x, "mode": "SIGMOID_APPROXIMATION"}),
        "batch_norm": (lambda: mb.batch_norm(x=x, mean=mean, variance=var, gamma=gamma, beta=beta, epsilon=1e-3),
                       {"x": x, "mean": mean, "variance": var, "gamma": gamma, "beta": beta, "epsilon": 1e-3}),
        "pixel_shuffle": (lambda: mb.pixel_shuffle(x=x4, upscale_factor=2), {"x": x4, "upscale_factor": 2}),
        "add": (lambda: mb.add(x=x, y=pos), {"x": x, "y": pos}),
        "sub": (lambda: mb.sub(x=x, y=pos), {"x": x, "y": pos}),
        "mul": (lambda: mb.mul(x=x, y=pos), {"x": x, "y": pos}),
    }
    checked = 0
    for name, (build, args) in cases.items():
        found = {}

        @mb.program(input_specs=[])
        def prog():
            found["val"] = build().val
            return mb.const(val=np.zeros(1, np.float32))
        if found["val"] is None:  # coremltools defines no value inference for it: PyTorch is the reference above
            continue
        got = OPS[name.split()[0]](**args)
        np.testing.assert_allclose(got.numpy(), found["val"], rtol=1e-5, atol=1e-5, err_msg=name)
        checked += 1
    assert checked >= 5


def test_unknown_op_is_refused(monkeypatch, tmp_path):
    pytest.importorskip("coremltools")
    path = _package(tmp_path)
    monkeypatch.delitem(OPS, "pixel_shuffle")
    with pytest.raises(UserError, match=r"op 'pixel_shuffle' is not implemented by the MIL interpreter"):
        MilProgram(path)


def _package(tmp_path):
    """A tiny exported package (fp16) for the tests that need a real one."""
    from export import coreml_mlpackage
    from export.throughput import PtqSource

    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x):
            return F.pixel_shuffle(F.gelu(self.conv(x)), 2)
    path = tmp_path / "small.mlpackage"
    if not path.exists():
        coreml_mlpackage.export(PtqSource(Small(), (16, 16)), "fp16", (16, 16), path)
    return path


@pytest.fixture(scope="module")
def tiny_packages(tiny_qat, tmp_path_factory):
    from export import coreml_mlpackage
    from quant.int8_checkpoint import load_qat

    out, qat = tmp_path_factory.mktemp("mlpackage"), load_qat(tiny_qat)
    for precision in ("fp16", "int8"):
        coreml_mlpackage.export(qat, precision, (32, 40), out / f"{precision}.mlpackage")
    return qat, out


def test_tiny_packages_interpreted_against_pytorch(tiny_packages):
    qat, out = tiny_packages
    x = torch.from_numpy(RNG.random((1, 3, 32, 40), dtype=np.float32))
    with torch.no_grad():
        fp32, int8 = qat.fp32()(x).numpy(), qat.int8()(x).numpy()
    fp16_pkg = MilProgram(out / "fp16.mlpackage")
    assert fp16_pkg.compute_precision == fp16_pkg.mode == "float16"
    exact = MilProgram(out / "fp16.mlpackage", "float32")(lr=x.numpy())["sr"]
    half = fp16_pkg(lr=x.numpy())["sr"]
    assert exact.shape == fp32.shape == (1, 3, 128, 160)
    # float32 arithmetic: only the fp16 rounding of the weights the file holds separates it from PyTorch FP32.
    assert np.abs(exact - fp32).max() < 5e-3, np.abs(exact - fp32).max()
    assert np.abs(half - fp32).max() < 3e-2 and np.abs(half - exact).max() > 0  # float16 mode does round
    int8_pkg = MilProgram(out / "int8.mlpackage", "float32")
    got = int8_pkg(lr=x.numpy())["sr"]
    # The package holds its quantization scales in float16 (its compute precision), so its grids are PyTorch's rounded:
    # values near a grid boundary land one step away, a fraction of a step on average and a few steps at most.
    step = float([o for o in int8_pkg.operations if o.op_type == "quantize"][-1].inputs["scale"].val)
    diff = np.abs(got - int8)
    assert diff.mean() < 0.6 * step and diff.max() < 5 * step, (diff.mean() / step, diff.max() / step)


def test_runner_on_linux_is_the_interpreter(tiny_packages):
    import sys

    from export import load_runner

    if sys.platform == "darwin":
        pytest.skip("on macOS the runner is Core ML itself")
    _, out = tiny_packages
    runner = load_runner(out / "int8.mlpackage", (32, 40), 1)
    assert runner.executed_by == "mil-interpreter" and "not a Core ML latency" in runner.latency_note
    assert runner(np.zeros((1, 3, 32, 40), np.float32)).shape == (1, 3, 128, 160)
    with pytest.raises(UserError, match="unknown MIL interpreter mode"):
        load_runner(out / "int8.mlpackage", (32, 40), 1, mode="bfloat16")
