"""A QAT model that keeps more modules float (T-x2-qat keeps the three convs at the network's ends): its card names
them, it loads back into the same graph, the INT8 graph has those convs on float weights, and both runtimes take the
file in one XNNPACK partition and compute what PyTorch does."""
import json

import numpy as np
import pytest
import torch

from export import executorch_pte, litert_tflite, load_runner
from quant.int8_checkpoint import check_float_modules, load_qat, prepare_for, save_qat
from quant.int8_graph import freeze_observers
from quant.quantizer import END_CONVS
from seemore_edge.core.checkpoints import card_path
from seemore_edge.core.errors import UserError


def float_weight_convs(graph: torch.fx.GraphModule) -> int:
    """Convolutions whose weight is a float constant, not the dequantize of an INT8 one."""
    convs = [n for n in graph.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.conv2d.default]
    return sum(1 for n in convs if "dequantize" not in str(getattr(n.args[1], "target", "")))


@pytest.fixture(scope="module")
def float_ends(tmp_path_factory):
    torch.manual_seed(0)
    prepared = prepare_for("tiny", 2, (2,), END_CONVS)
    with torch.no_grad():
        for _ in range(3):
            prepared(torch.rand(2, 3, 48, 48))
    freeze_observers(prepared)
    path = tmp_path_factory.mktemp("qat") / "tiny-x2-ends.safetensors"
    save_qat(prepared, "tiny", 2, (2,), path, {"recipe": {"training": "none, for tests"}}, END_CONVS)
    return path


def test_card_names_float_modules_and_loads_back(float_ends):
    card = json.loads(card_path(float_ends).read_text())
    assert card["details"]["float_modules"] == list(END_CONVS)
    qat = load_qat(float_ends)
    assert qat.float_modules == END_CONVS
    default = float_weight_convs(load_qat_default_graph())
    # The final LayerNorm's two statistics convs are float in every model; the three end convs join them here.
    assert float_weight_convs(qat.int8()) == default + len(END_CONVS)


def load_qat_default_graph() -> torch.fx.GraphModule:
    prepared = prepare_for("tiny", 2, (2,))
    with torch.no_grad():
        prepared(torch.rand(2, 3, 48, 48))
    freeze_observers(prepared)
    from quant.int8_graph import convert
    return convert(prepared)


def test_card_without_its_float_modules_is_refused(float_ends, tmp_path):
    """The graph is rebuilt from the card: a card that drops the float modules no longer fits the state."""
    copy = tmp_path / float_ends.name
    copy.write_bytes(float_ends.read_bytes())
    card = json.loads(card_path(float_ends).read_text())
    del card["details"]["float_modules"]
    card_path(copy).write_text(json.dumps(card))
    with pytest.raises(UserError, match="does not fit"):
        load_qat(copy)


def test_unknown_module_is_one_clear_error():
    assert check_float_modules("tiny", 2, END_CONVS) == END_CONVS
    with pytest.raises(UserError, match="conv_9: not a module"):
        check_float_modules("tiny", 2, ("conv_1", "conv_9"))


@pytest.mark.parametrize("backend", [executorch_pte, litert_tflite])
def test_runtimes_take_float_ends_whole(float_ends, backend, tmp_path):
    qat = load_qat(float_ends)
    path = tmp_path / f"ends-int8{backend.SUFFIX}"
    audit = backend.export(qat, "int8", (32, 32), path)
    assert audit["partitions"] == 1, audit
    x = np.random.default_rng(3).random((1, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        want = qat.int8()(torch.from_numpy(x)).numpy()
    got = load_runner(path, (32, 32))(x)
    assert got.shape == (1, 3, 64, 64) and np.abs(got - want).max() < 0.05


def test_floor_skeleton_keeps_the_same_convs_float(float_ends):
    """The bench's floor (the convolutions alone) runs in float what the model runs in float."""
    from export.conv_floor import ConvSkeleton
    from export.throughput import PtqSource

    qat = load_qat(float_ends)
    assert qat.kept_float[-len(END_CONVS):] == END_CONVS
    skeleton = ConvSkeleton(qat.fp32(), (32, 32), qat.kept_float)
    assert len(skeleton.float_convs) == 2 + len(END_CONVS)  # the final LayerNorm's statistics convs and the ends
    int8 = PtqSource(skeleton, (32, 32), [f"convs.{i}" for i in skeleton.float_convs]).int8()
    assert float_weight_convs(int8) == len(skeleton.float_convs)
