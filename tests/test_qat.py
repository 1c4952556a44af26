"""QAT on a tiny config: the fake-quantized model trains, converts to INT8, and ExecuTorch runs it in one partition."""
import pytest
import torch

from export.executorch_pte import PteRunner, export_pte
from quant.deploy_form import to_deploy_form
from quant.qat import convert, distill_loss, freeze_observers, prepare_qat
from seemore_edge import build_model


def test_tiny_qat_trains_converts_and_lowers(tmp_path):
    torch.manual_seed(0)
    teacher = build_model("tiny", 4).eval()
    deploy = to_deploy_form(build_model("tiny", 4, routing="fixed", experts=(2,)))
    prepared = prepare_qat(deploy, torch.rand(2, 3, 32, 32))
    opt = torch.optim.Adam(prepared.parameters(), 1e-3)
    losses = []
    batch = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        target = teacher(batch)
    for step in range(12):
        if step == 8:
            freeze_observers(prepared)
        loss = distill_loss(prepared(batch), target, torch.nn.functional.interpolate(batch, scale_factor=4))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    int8 = convert(prepared)
    x = torch.rand(1, 3, 40, 48)  # a size QAT never saw: H and W stay dynamic
    with torch.no_grad():
        assert int8(x).shape == (1, 3, 160, 192)
    tile = torch.rand(1, 3, 32, 32)
    audit = export_pte(int8, 32, tmp_path / "tiny_int8.pte")
    assert audit["partitions"] == 1
    left = {op: n for op, n in audit["ops"].items() if n["not_delegated"] and op != "getitem"}
    assert not left, left
    assert audit["ops"]["quantized_decomposed_dequantize_per_channel_default"]["delegated"] > 0  # INT8 weights
    out = PteRunner(tmp_path / "tiny_int8.pte", 32)(tile.numpy())
    with torch.no_grad():
        ref = int8(tile).numpy()
    # XNNPACK's INT8 kernels round differently from PyTorch's reference ops: off by a few LSB at most.
    assert abs(out - ref).max() < 0.05
    with pytest.raises(ValueError, match="float32 tiles of 1x3x32x32"):
        PteRunner(tmp_path / "tiny_int8.pte", 32)(tile.numpy()[:, :, :16])
