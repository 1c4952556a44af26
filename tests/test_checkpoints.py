"""Loading our checkpoints and the authors' ``.pth`` files, and refusing the ones that do not fit."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from seemore_edge import build_model, load_model, save_model
from seemore_edge.core.checkpoints import infer_config
from seemore_edge.core.errors import UserError


def test_authors_pth_layout_loads_and_reproduces_golden(golden, tmp_path):
    state = load_file(golden / "seemore_T_x4_weights.safetensors")
    torch.save({"params": state}, tmp_path / "SeemoRe_T_X4.pth")
    model = load_model(tmp_path / "SeemoRe_T_X4.pth")
    assert (model.preset.name, model.scale, model.training) == ("T", 4, False)
    io = load_file(golden / "seemore_T_x4_io.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(model(io["input_1"]), io["output_eval_1"], atol=1e-5, rtol=0)


def test_official_layout_names_every_tensor(golden):
    listed = (golden.parent / "official_state_dict_T_x4.txt").read_text().splitlines()
    expected = {line.split(" ")[0]: tuple(int(v) for v in line.split("(")[1].rstrip(",)").split(",") if v.strip())
                for line in listed if line.strip()}
    ours = {k: tuple(v.shape) for k, v in build_model("T", 4).state_dict().items()}
    assert ours == expected


def test_our_format_round_trip_with_card(tmp_path):
    torch.manual_seed(1)
    model = build_model("T", 2)
    metrics = {"protocol": "test", "command": "none", "sets": {"Set5": {"psnr": 1.0, "ssim": 0.5, "images": 5}}}
    save_model(model, tmp_path / "m.safetensors", {"metrics": metrics})
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["schema"] == 1 and card["kind"] == "fp32" and card["preset"] == "T" and card["scale"] == 2
    assert card["routing"] == {"type": "dynamic", "experts": None} and card["params"] == 220_104
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.card.metrics.sets["Set5"].psnr == 1.0
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_presets_inferred_from_shapes():
    for preset in ("T", "B", "L"):
        for scale in (2, 3, 4):
            assert infer_config(build_model(preset, scale).state_dict()) == (preset, scale)


def test_mismatches_name_the_first_offender(tmp_path):
    state = build_model("T", 4).state_dict()
    bad = dict(state)
    bad["body.2.global_block.ffn.gate.weight"] = torch.zeros(36, 1, 5, 5)
    save_file(bad, tmp_path / "shape.safetensors")
    with pytest.raises(UserError, match=r"body\.2\.global_block\.ffn\.gate\.weight has shape \(36, 1, 5, 5\)"):
        load_model(tmp_path / "shape.safetensors")
    missing = {k: v for k, v in state.items() if k != "norm.bias"}
    save_file(missing, tmp_path / "missing.safetensors")
    with pytest.raises(UserError, match="norm.bias is missing"):
        load_model(tmp_path / "missing.safetensors")
    save_file(state, tmp_path / "x4.safetensors")
    with pytest.raises(UserError, match="checkpoint is for x4, but x2"):
        load_model(tmp_path / "x4.safetensors", scale=2)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
        load_model(tmp_path / "junk.pth")
