"""The integer edge model (quant/integer_form.py): its rewrites compute what they replace, and its INT8 files hold no
float op in any runtime (the graph audit every card carries, read from the files the export tool writes)."""
import numpy as np
import pytest
import torch
from torch import nn

from export import export_artifact, float_ops, load_runner
from quant.integer_form import (IntegerSeemoRe, PixelShuffleConv, fit_affine, fold_into, fold_mean,
                                pixel_shuffles_back, to_integer_form)
from quant.int8_checkpoint import load_qat, prepare_for, save_qat
from quant.int8_graph import freeze_observers
from seemore_edge import build_model


def test_pixel_shuffle_conv_is_the_pixel_shuffle():
    x = torch.rand(2, 3 * 16, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(PixelShuffleConv(3, 4)(x), nn.PixelShuffle(4)(x), atol=0, rtol=0)
    assert not PixelShuffleConv(3, 2).weight.requires_grad


def test_affine_fit_recovers_an_affine_and_folds_exactly_into_a_1x1_conv():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 9, 9)
    a, d = torch.rand(6) + 0.5, torch.randn(6)
    fitted_a, fitted_d = fit_affine(x, x * a.view(1, -1, 1, 1) + d.view(1, -1, 1, 1))
    torch.testing.assert_close((fitted_a, fitted_d), (a, d), atol=1e-5, rtol=0)
    conv = nn.Conv2d(6, 5, 1)
    want = conv(x * a.view(1, -1, 1, 1) + d.view(1, -1, 1, 1))
    fold_into([conv], a, d)
    torch.testing.assert_close(conv(x), want, atol=1e-5, rtol=0)


def test_mean_folds_into_the_end_convs():
    """conv_1 sees x - mean exactly away from its zero padding; the upsampler's bias adds the mean exactly."""
    torch.manual_seed(0)
    model = build_model("tiny", 4, routing="fixed", experts=(1,)).eval()
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        first = model.conv_1(x - model.mean)
        body = torch.rand(1, model.preset.channels, 24, 24)
        last = model.upsampler(body) + model.mean
        fold_mean(model)
        torch.testing.assert_close(model.conv_1(x)[..., 1:-1, 1:-1], first[..., 1:-1, 1:-1], atol=1e-5, rtol=0)
        torch.testing.assert_close(model.upsampler(body), last, atol=1e-5, rtol=0)
    assert isinstance(model, IntegerSeemoRe)


def test_integer_form_has_no_norm_no_gelu_and_loads_its_own_state():
    torch.manual_seed(0)
    edge = build_model("tiny", 4, routing="fixed", experts=(1,)).eval()
    fitted = to_integer_form(edge, torch.rand(4, 3, 32, 32))
    kinds = {type(m).__name__ for m in fitted.modules()}
    assert not kinds & {"ChannelNorm", "LayerNorm2d", "GELU", "PixelShuffle"}, kinds
    bare = to_integer_form(edge)
    bare.load_state_dict(fitted.state_dict(), strict=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(bare(x), fitted(x))


def test_every_branch_saturates_so_no_input_can_blow_up_the_residual_stream():
    """Without normalisation the gated products square their input's size, block after block: a ReLU form turned
    Set14's ppt3 and zebra into NaN (1e22 by the third group). With ReLU6 every branch's output is bounded by its
    weights alone: past saturation an input a thousand times larger gives the same output, and the stream grows
    at most additively."""
    torch.manual_seed(0)
    model = to_integer_form(build_model("tiny", 4, routing="fixed", experts=(1,)).eval(), torch.rand(4, 3, 32, 32))
    x = torch.randn(1, model.preset.channels, 16, 16)
    branches = [(f"{i}.{name}.{part}", getattr(getattr(group, name), part)) for i, group in enumerate(model.body)
                for name in ("local_block", "global_block") for part in ("block", "ffn")]
    with torch.no_grad():
        for name, branch in branches:
            big, bigger = branch(1e6 * x), branch(1e9 * x)
            torch.testing.assert_close(bigger, big, rtol=1e-3, atol=1e-3, msg=name)
        assert torch.isfinite(model(1e3 * torch.rand(1, 3, 16, 16))).all()


@pytest.fixture(scope="module")
def integer_export(tmp_path_factory):
    """A tiny integer QAT checkpoint (observers fed three random batches) and its INT8 files in all three formats, as
    the export tool writes them (export_artifact; the tool's own run is tests/test_export.py's): (checkpoint,
    folder)."""
    torch.manual_seed(0)
    prepared = prepare_for("tiny", 4, (2,), variant="integer")
    with torch.no_grad():
        for _ in range(3):
            prepared(torch.rand(2, 3, 48, 48))
    freeze_observers(prepared)
    folder = tmp_path_factory.mktemp("integer")
    path = folder / "tiny-int.safetensors"
    save_qat(prepared, "tiny", 4, (2,), path, {"recipe": {"training": "none: observers fed, for tests"}},
             variant="integer")
    qat = load_qat(path)
    for suffix in ("pte", "tflite", "mlpackage"):
        export_artifact(qat, suffix, "int8", (32, 32), folder / f"tiny-int-int8.{suffix}")
    return path, folder


@pytest.mark.parametrize("suffix", ["pte", "tflite", "mlpackage"])
def test_integer_int8_files_hold_no_float_op(integer_export, suffix):
    audit = float_ops(integer_export[1] / f"tiny-int-int8.{suffix}")
    assert audit["total"] == 0, audit["by_kind"]


@pytest.mark.parametrize("suffix", ["pte", "tflite", "mlpackage"])
def test_integer_int8_files_compute_the_pytorch_int8_graph(integer_export, suffix):
    path, out = integer_export
    qat = load_qat(path)
    assert qat.variant == "integer" and qat.kept_float == ()
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        want = qat.int8()(torch.from_numpy(x)).numpy()
        # LiteRT gets the pixel shuffle back in place of its transposed conv: the same values
        torch.testing.assert_close(pixel_shuffles_back(qat.int8())(torch.from_numpy(x)).numpy(), want, atol=0,
                                   rtol=0)
    got = load_runner(out / f"tiny-int-int8.{suffix}", (32, 32))(x)
    assert np.abs(got - want).max() < 0.05  # a few output steps: the runtimes' integer kernels round their own way


def test_integer_tflite_has_float_ends_as_the_browser_needs(integer_export):
    """The converter leaves the integer graph's input and output INT8, which LiteRT.js can neither feed nor read and
    the card's float32 input would not describe; the float-io pass gives them one QUANTIZE and one DEQUANTIZE: float32
    at both ends, the same values as the INT8 file run with its own parameters, no float op counted, one XNNPACK
    partition."""
    from export import litert_tflite

    path, folder = integer_export
    converted = litert_tflite.convert(load_qat(path), "int8", (32, 32))
    raw = folder / "raw.tflite"
    raw.write_bytes(converted)
    passed = folder / "float-io.tflite"
    passed.write_bytes(litert_tflite.float_io(converted))
    before, after = litert_tflite.audit(raw), litert_tflite.audit(passed)
    assert before["input"]["dtype"] == before["output"]["dtype"] == "int8"
    assert after["input"]["dtype"] == after["output"]["dtype"] == "float32"
    assert after["partitions"] == 1 and float_ops(passed)["total"] == 0
    assert after["ops"]["DEQUANTIZE float32"] == before["ops"].get("DEQUANTIZE float32", 0) + 1
    assert after["ops"]["QUANTIZE int8"] == before["ops"].get("QUANTIZE int8", 0) + 1
    x = np.random.default_rng(2).random((1, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(load_runner(passed, (32, 32))(x), load_runner(raw, (32, 32))(x), atol=1e-6)
    exported = litert_tflite.audit(folder / "tiny-int-int8.tflite")  # the export's file: the pass is on by default
    assert exported["input"]["dtype"] == exported["output"]["dtype"] == "float32"


@pytest.mark.parametrize("name,suffix", [("T-x4-int", "pte"), ("T-x2-int", "tflite")])
def test_shipped_integer_models_hold_no_float_op(tmp_path, name, suffix):
    """The shipped integer models themselves, exported as the export tool does: no float op between input and output.
    Each runtime once and each upsampler stride once (the pixel shuffle becomes a transposed conv of the scale's
    stride); the tiny integer checkpoint above covers every runtime at every run, within CI's time."""
    from seemore_edge.core.checkpoints import resolve_weights

    qat = load_qat(resolve_weights(name))
    assert qat.variant == "integer" and qat.kept_float == ()
    path = tmp_path / f"{name}-int8.{suffix}"
    export_artifact(qat, suffix, "int8", (32, 32), path)
    audit = float_ops(path)
    assert audit["total"] == 0, audit["by_kind"]
