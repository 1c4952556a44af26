"""QAT on a tiny config: the fake-quantized model trains, converts to INT8, and ExecuTorch runs it in one partition."""
import torch

from quant.deploy_form import to_deploy_form
from quant.qat import convert, distill_loss, freeze_observers, prepare_qat
from seemore_edge import build_model


def test_tiny_qat_trains_converts_and_lowers(tmp_path):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

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
        ref = int8(x)
    assert ref.shape == (1, 3, 160, 192)
    program = torch.export.export(int8, (x,))
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(lowered.exported_program().graph_module)
    assert info.num_delegated_subgraphs == 1
    table = info.get_operator_delegation_dataframe()
    convs = table[table.op_type == "aten_convolution_default"]
    assert int(convs.occurrences_in_non_delegated_graphs.iloc[0]) == 0
    assert (table.op_type == "quantized_decomposed_dequantize_per_channel_default").any()  # INT8 weights inside
    path = tmp_path / "tiny_int8.pte"
    path.write_bytes(lowered.to_executorch().buffer)
    out = Runtime.get().load_program(str(path)).load_method("forward").execute([x])[0]
    # XNNPACK's INT8 kernels round differently from PyTorch's reference ops: off by a few LSB at most.
    assert (out - ref).abs().max() < 0.05
