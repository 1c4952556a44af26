"""The ship tool: an FP32 checkpoint and a QAT checkpoint become shipped models whose cards hold measured metrics."""
import json

import torch

from quant.int8_graph import freeze_observers
from quant.int8_checkpoint import load_qat, prepare_for, save_qat
from seemore_edge import ship
from seemore_edge.core.checkpoints import load_model


def test_ship_fp32_and_qat(tiny_checkpoint, tmp_path, data_root, monkeypatch, capsys):
    torch.manual_seed(0)
    prepared = prepare_for("tiny", 4, (2,))
    with torch.no_grad():
        prepared(torch.rand(2, 3, 48, 48))
    freeze_observers(prepared)
    save_qat(prepared, "tiny", 4, (2,), tmp_path / "q.safetensors", {})
    assert ship.main([str(tiny_checkpoint), "tiny-x4", "--data-root", str(data_root), "--into", str(tmp_path / "weights")]) == 0
    assert ship.main([str(tmp_path / "q.safetensors"), "tiny-x4-qat", "--data-root", str(data_root), "--into", str(tmp_path / "weights")]) == 0
    for name in ("tiny-x4", "tiny-x4-qat"):
        card = json.loads((tmp_path / "weights" / f"{name}.json").read_text())
        assert card["schema"] == 1 and card["name"] == name and set(card["metrics"]["sets"]) == {"Set5", "Set14", "BSD100"}
        assert card["metrics"]["sets"]["BSD100"]["images"] == 100
    load_model(tmp_path / "weights" / "tiny-x4.safetensors")
    assert "INT8" in json.loads((tmp_path / "weights" / "tiny-x4-qat.json").read_text())["metrics"]["protocol"]
    load_qat(tmp_path / "weights" / "tiny-x4-qat.safetensors")
    # A shipped reference is replaced only by weights that score higher on every set: the same weights are not.
    before = (tmp_path / "weights" / "tiny-x4.json").read_text()
    assert ship.main([str(tiny_checkpoint), "tiny-x4", "--data-root", str(data_root), "--into",
                      str(tmp_path / "weights")]) == 0
    assert "kept the shipped tiny-x4: the new weights are not higher on every set" in capsys.readouterr().out
    assert (tmp_path / "weights" / "tiny-x4.json").read_text() == before
