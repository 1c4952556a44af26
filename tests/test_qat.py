"""QAT on a tiny config: the fake-quantized model trains and converts to an INT8 graph with dynamic H and W (its export
to the three runtimes is tests/test_export.py)."""
import copy

import torch

from quant.deploy_form import to_deploy_form
from quant.finetune import distill_loss
from quant.int8_graph import convert, freeze_observers, prepare_qat
from seemore_edge import build_model


def test_tiny_qat_trains_and_converts():
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
    from torchao.quantization.pt2e import move_exported_model_to_eval
    move_exported_model_to_eval(prepared)
    with torch.no_grad():
        fake = prepared(batch)
    int8 = convert(copy.deepcopy(prepared))
    # The converted graph computes what the fake-quantized one trained on: the weights' fake quantizer trains on the
    # symmetric grid conversion uses (quant/qat.symmetric_weight_fake_quant). With ExecuTorch's fused one this was
    # 0.025 off, one-signed channels having trained on another grid.
    with torch.no_grad():
        assert (int8(batch) - fake).abs().max() < 1e-4
    x = torch.rand(1, 3, 40, 48)  # a size QAT never saw: H and W stay dynamic
    with torch.no_grad():
        assert int8(x).shape == (1, 3, 160, 192)
    # Float residual stream (quant/qat.py): the residual adds have no quantize after them of their own, and no
    # dequantize is shared between consumers (a shared one made ExecuTorch's XNNPACK build an INT8 add from a float one).
    nodes = list(int8.graph.nodes)
    assert all(len(n.users) == 1 for n in nodes if n.op == "call_function" and "dequantize" in str(n.target))
    adds = [n for n in nodes if n.op == "call_function" and n.target == torch.ops.aten.add.Tensor]
    assert any(all("quantize" not in str(u.target) for u in n.users) for n in adds)
