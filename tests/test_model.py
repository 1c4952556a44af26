"""The network is the paper's, number for number: golden outputs of the authors' code, routes, sizes and costs."""
import json

import pytest
import torch
from safetensors.torch import load_file

from seemore_edge import build_model
from seemore_edge.core.complexity import count_gmacs, count_params
from seemore_edge.core.presets import PRESETS, SCALES


def _golden_model(golden, scale):
    model = build_model("T", scale)
    model.load_state_dict(load_file(golden / f"seemore_T_x{scale}_weights.safetensors"), strict=True)
    return model, load_file(golden / f"seemore_T_x{scale}_io.safetensors")


@pytest.mark.parametrize("scale", [2, 4])
def test_golden_outputs_and_routes(golden, scale):
    model, io = _golden_model(golden, scale)
    routes = json.loads((golden / "routes.json").read_text())[f"T_x{scale}"]["eval_top1_expert_per_layer"]
    model.eval()
    with torch.no_grad():
        for i in (0, 1):
            out = model(io[f"input_{i}"])
            torch.testing.assert_close(out, io[f"output_eval_{i}"], atol=1e-5, rtol=0)
            assert [int(r) for r in model.routes()] == routes[f"input_{i}"]
        both = model(torch.cat([io["input_0"], io["input_1"]]))
        # Each image of a batch routes on its own: the batch reproduces the single-image outputs and routes.
        torch.testing.assert_close(both[:1], io["output_eval_0"], atol=1e-5, rtol=0)
        torch.testing.assert_close(both[1:], io["output_eval_1"], atol=1e-5, rtol=0)
        assert [[int(v) for v in r] for r in model.routes()] == [list(p) for p in zip(routes["input_0"],
                                                                                        routes["input_1"])]
    model.train()
    out = model(torch.cat([io["input_0"], io["input_1"]]))
    torch.testing.assert_close(out, io["output_train_batch"], atol=1e-5, rtol=0)


def test_training_gradients_reach_only_the_chosen_expert(golden):
    model, io = _golden_model(golden, 4)
    model.train()
    model(io["input_0"]).mean().backward()
    layer = model.body[0].local_block.block.moe_layer
    chosen = int(layer.last_routes[0])
    for i, expert in enumerate(layer.experts):
        has_grad = expert.conv_3.weight.grad is not None and expert.conv_3.weight.grad.abs().sum() > 0
        assert has_grad == (i == chosen)
    assert layer.gate.body[2].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("preset", ["T", "B", "L"])
def test_parameter_counts_match_the_paper(preset):
    for scale in SCALES:
        assert count_params(build_model(preset, scale)) == PRESETS[preset].params[scale]


@pytest.mark.parametrize("name,scale", [(n, s) for n in ("T", "B", "L") for s in SCALES])
def test_gmacs_within_two_percent_of_the_paper(name, scale):
    torch.manual_seed(0)
    gmacs = count_gmacs(build_model(name, scale), 720 // scale, 1280 // scale)
    expected = PRESETS[name].gmacs_720p[scale]
    assert abs(gmacs / expected - 1) < 0.02, (name, scale, gmacs, expected)


def test_minimum_input_size():
    model = build_model("T", 4).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 16, 17)).shape == (1, 3, 64, 68)
    assert model.min_lr_size == 16 and build_model("L", 4).min_lr_size == 4


def test_unknown_preset_scale_routing():
    for kwargs in ({"preset": "X"}, {"scale": 5}, {"routing": "sometimes"}):
        with pytest.raises(ValueError):
            build_model(**kwargs)
