"""The edge model: fixed experts reproduce the reference where the router agrees, and export as one static graph."""
import torch
from safetensors.torch import load_file

from quant.fixed_routing import collect_routes, edge_dynamic_shapes, to_fixed
from seemore_edge import build_model, load_model, save_model


def _golden(golden):
    model = build_model("T", 4)
    model.load_state_dict(load_file(golden / "seemore_T_x4_weights.safetensors"))
    return model.eval(), load_file(golden / "seemore_T_x4_io.safetensors")


def test_fixed_experts_chosen_for_an_image_reproduce_it(golden):
    model, io = _golden(golden)
    for i in (0, 1):
        with torch.no_grad():
            model(io[f"input_{i}"])
        experts = tuple(int(layer.last_routes[0]) for layer in model.moe_layers())
        weights = [float(layer.last_weights[0]) for layer in model.moe_layers()]
        edge = to_fixed(model, experts, weights)
        assert not any(".moe_layer.gate." in k for k in edge.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(edge(io[f"input_{i}"]), io[f"output_eval_{i}"], atol=1e-5, rtol=0)


def test_route_statistics_count_every_group(golden):
    model, io = _golden(golden)
    stats = collect_routes(model, [io["input_0"], io["input_1"], io["input_0"]])
    assert stats.counts.sum(axis=1).tolist() == [3] * 6
    assert stats.most_frequent() == (0, 2, 1, 0, 1, 2)


def test_fixed_checkpoint_round_trip(golden, tmp_path):
    model, io = _golden(golden)
    edge = to_fixed(model, (0, 1, 2, 0, 1, 2), [0.5] * 6)
    save_model(edge, tmp_path / "edge.safetensors", {})
    loaded = load_model(tmp_path / "edge.safetensors")
    assert loaded.routing == "fixed" and loaded.experts == (0, 1, 2, 0, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(io["input_0"]), edge(io["input_0"]), atol=0, rtol=0)


def test_edge_model_exports_strict_with_dynamic_batch_and_size():
    edge = build_model("T", 4, routing="fixed", experts=(0, 1, 2, 0, 1, 2)).eval()
    x = torch.rand(2, 3, 48, 64)
    program = torch.export.export(edge, (x,), dynamic_shapes=edge_dynamic_shapes(), strict=True)
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert not any(word in op for op in ops for word in ("topk", "max", "argmax", "unique", "nonzero", "index"))
    for shape in [(1, 3, 32, 32), (3, 3, 37, 129)]:
        y = torch.rand(shape)
        with torch.no_grad():
            torch.testing.assert_close(program.module()(y), edge(y), atol=1e-5, rtol=0)
