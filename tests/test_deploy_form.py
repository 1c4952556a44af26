"""The deploy form computes what the edge model computes and lowers to ExecuTorch/XNNPACK as one partition."""
import pytest
import torch
from safetensors.torch import load_file

from quant.deploy_form import to_deploy_form
from quant.fixed_routing import to_fixed
from seemore_edge import build_model


def test_deploy_form_is_exact(golden):
    model = build_model("T", 4)
    model.load_state_dict(load_file(golden / "seemore_T_x4_weights.safetensors"))
    edge = to_fixed(model.eval(), (0, 1, 2, 0, 1, 2), [0.3, 0.5, 0.7, 0.4, 0.6, 0.8])
    deploy = to_deploy_form(edge)
    x = torch.rand(2, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(deploy(x), edge(x), atol=1e-5, rtol=0)
    assert not any(".moe_layer.gate." in k for k in deploy.state_dict())


def test_deploy_form_lowers_to_one_xnnpack_partition(tmp_path):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    torch.manual_seed(0)
    deploy = to_deploy_form(build_model("tiny", 4, routing="fixed", experts=(1,)))
    x = torch.rand(1, 3, 32, 32)
    lowered = to_edge_transform_and_lower(torch.export.export(deploy, (x,), strict=True),
                                          partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(lowered.exported_program().graph_module)
    assert info.num_delegated_subgraphs == 1
    table = info.get_operator_delegation_dataframe()
    outside = table[(table.occurrences_in_non_delegated_graphs > 0) & (table.op_type != "getitem")
                    & (table.op_type != "Total")]
    assert outside.empty, outside
    path = tmp_path / "tiny.pte"
    path.write_bytes(lowered.to_executorch().buffer)
    method = Runtime.get().load_program(str(path)).load_method("forward")
    with torch.no_grad():
        torch.testing.assert_close(method.execute([x])[0], deploy(x), atol=1e-5, rtol=0)


def test_split_taps_is_exact_at_every_border():
    """Sides shorter than the stripe put taps past both borders at once; each orientation, with a bias."""
    from torch import nn

    from quant.deploy_form import SplitTaps
    torch.manual_seed(0)
    for kernel, padding in (((1, 11), (0, 5)), ((11, 1), (5, 0))):
        conv = nn.Conv2d(6, 6, kernel, padding=padding, groups=6)
        split = SplitTaps(conv)
        assert max(split.inner.kernel_size) == 9 and max(split.outer.kernel_size) == 2
        for shape in ((1, 6, 4, 3), (2, 6, 12, 17), (1, 6, 1, 23), (1, 6, 23, 1)):
            x = torch.randn(*shape)
            with torch.no_grad():
                torch.testing.assert_close(split(x), conv(x), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="SplitTaps takes"):
        SplitTaps(nn.Conv2d(6, 6, (1, 9), padding=(0, 4), groups=6))


def test_no_depthwise_conv_needs_the_25_tap_kernel_but_the_strided_one():
    """XNNPACK's depthwise kernels take 3, 9 or 25 taps; only the stride-4 context conv (16 taps, a 16th of the
    outputs) may need the 25-tap one."""
    from torch import nn
    deploy = to_deploy_form(build_model("T", 4, routing="fixed", experts=(1,) * 6))
    wide = [(name, m.kernel_size) for name, m in deploy.named_modules()
            if isinstance(m, nn.Conv2d) and m.groups > 1 and m.weight[0].numel() > 9 and m.stride == (1, 1)]
    assert not wide, wide
