"""The private names we stand on resolve in the pinned ExecuTorch and LiteRT (an upgrade that renames one fails here,
by our hook's name), and each named export pass is optional: without it the file is bigger (or, for the GELU/RSQRT
rewrite, in more delegate partitions) and computes the same."""
import numpy as np
import pytest

from export import executorch_pte, litert_tflite, load_runner, private_hooks
from quant.int8_checkpoint import load_qat
from seemore_edge.core.errors import UserError

TILE = (32, 32)


@pytest.mark.parametrize("hook", sorted(private_hooks.HOOKS))
def test_hook_resolves_in_the_pinned_version(hook):
    assert private_hooks.need(hook) is not None


def test_a_missing_private_name_is_one_line(monkeypatch):
    monkeypatch.setitem(private_hooks.HOOKS, "example", ("executorch", "executorch.exir", "no_such_function"))
    with pytest.raises(UserError, match=r"executorch \S+ has no executorch.exir.no_such_function, which our 'example'"):
        private_hooks.need("example")


@pytest.fixture(scope="module")
def variants(tiny_qat, tmp_path_factory):
    """INT8 files with every pass, and with each pass left out in turn: {(suffix, left_out or None): path}."""
    qat, out = load_qat(tiny_qat), tmp_path_factory.mktemp("passes")
    made = {}
    for left_out in [None, *executorch_pte.PASSES]:  # .pte passes act during the lowering: one lowering each
        path = out / f"{left_out or 'all'}.pte"
        passes = tuple(p for p in executorch_pte.PASSES if p != left_out)
        audit = executorch_pte.export(qat, "int8", TILE, path, passes)
        assert audit["passes"] == list(passes)
        made[(".pte", left_out)] = (path, audit)
    converted = litert_tflite.convert(qat, "int8", TILE)  # .tflite passes act on the converted file: one conversion
    for left_out in [None, *litert_tflite.PASSES]:
        path = out / f"{left_out or 'all'}.tflite"
        path.write_bytes(litert_tflite.apply_passes(converted, tuple(p for p in litert_tflite.PASSES if p != left_out)))
        made[(".tflite", left_out)] = (path, litert_tflite.audit(path))
    full = out / "exported.tflite"
    assert litert_tflite.export(qat, "int8", TILE, full)["passes"] == list(litert_tflite.PASSES)
    assert full.read_bytes() == made[(".tflite", None)][0].read_bytes()  # export is conversion, then every pass
    return made


def _run(path):
    x = np.random.default_rng(5).random((1, 3, *TILE), dtype=np.float32)
    return load_runner(path, TILE, 1)(x)


@pytest.mark.parametrize("suffix,name", [(".pte", n) for n in executorch_pte.PASSES] +
                         [(".tflite", n) for n in litert_tflite.PASSES])
def test_each_pass_is_optional_and_pays(variants, suffix, name):
    full, full_audit = variants[(suffix, None)]
    without, audit = variants[(suffix, name)]
    np.testing.assert_allclose(_run(without), _run(full), atol=1e-6)
    if name == "float-gelu-rsqrt":  # not a size pass: LiteRT's XNNPACK then takes the whole graph
        assert full_audit["partitions"] == 1 < audit["partitions"], (full_audit["partitions"], audit["partitions"])
    elif name == "float-io":  # the faithful model's ends are float: nothing to do (the integer one: test_integer_form)
        assert without.read_bytes() == full.read_bytes()
        assert audit["input"]["dtype"] == audit["output"]["dtype"] == "float32"
    else:
        assert without.stat().st_size > full.stat().st_size, (name, without.stat().st_size, full.stat().st_size)


def test_unknown_pass_is_refused(tiny_qat, tmp_path):
    with pytest.raises(UserError, match="unknown .pte pass 'zip'"):
        executorch_pte.export(load_qat(tiny_qat), "int8", TILE, tmp_path / "x.pte", ("zip",))
    assert not (tmp_path / "x.pte").exists()
