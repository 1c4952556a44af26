"""The main job on a tiny reference: every stage runs, the report holds every row, a rerun resumes, bad input fails."""
import json
import sys

import torch
from PIL import Image

from seemore_edge.core.checkpoints import load_program

from seemore_edge import qat
from tests.conftest import run_tool

ARGS = ["--iters", "4", "--batch", "2", "--patch", "32", "--calibration", "2", "--tile", "32", "--threads", "1"]


def test_main_job_end_to_end_and_resume(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    """The reference is given as the authors' release gives theirs (``{"params": state_dict}`` in a ``.pth``), the
    path of a user who has ``SeemoRe_T_X4.pth``; our own checkpoints go through the same loader."""
    from seemore_edge import evaluate, load_model

    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    authors = tmp_path / "SeemoRe_tiny_X4.pth"
    torch.save({"params": load_model(tiny_checkpoint).state_dict()}, authors)
    tiny_checkpoint = authors  # every run below uses the authors'-layout file
    out = tmp_path / "qat"
    code, stdout, _ = run_tool(qat, ["--weights", str(tiny_checkpoint), "--out", str(out)] + ARGS, capsys)
    assert code == 0 and "INT8 vs reference" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["reference"] == "SeemoRe_tiny_X4"
    # What it makes is a model like any other: its INT8 graph scores as the report says.
    code, _, err = run_tool(evaluate, ["--weights", str(out / "qat.safetensors"), "--json", str(tmp_path / "e.json")],
                            capsys)
    assert code == 0, err
    assert abs(json.loads((tmp_path / "e.json").read_text())["sets"]["samples"]["psnr"]
               - report["rows"]["int8"]["samples"]["psnr"]) < 1e-3
    assert len(report["rows"]) == 5 and set(report["drops"]) == {"samples"}
    assert sum(report["routing"]["counts"][0]) == 5
    for name in ("routes.png", "edge_fp32.safetensors", "qat_int8.pt2", "report.md", "qat.safetensors", "export/tiny-x4-qat-int8.pte", "export/tiny-x4-qat-int8.tflite",
                 "export/tiny-x4-qat-int8.mlpackage"):
        assert (out / name).exists(), name
    artifacts = {a["format"]: a for a in report["artifacts"]}
    off_mac = "mil-interpreter" if sys.platform != "darwin" else "coreml"
    assert artifacts["pte"]["executed_by"] == "executorch" and artifacts["mlpackage"]["executed_by"] == off_mac
    assert artifacts["mlpackage"]["psnr"] and artifacts["mlpackage"]["latency_tile_ms"] is None
    assert artifacts["pte"]["partitions"] == 1 and artifacts["pte"]["size_kib"] > 0
    assert artifacts["pte"]["float_ops"] > 0 and artifacts["tflite"]["float_ops"] > 0  # the faithful model's islands
    for fmt in ("pte", "tflite"):  # scored in their runtimes, within a few hundredths of a dB of PyTorch INT8
        assert abs(artifacts[fmt]["diff_vs_pytorch_int8"]["samples"]) < 0.1, artifacts[fmt]
    assert "| tiny-x4-qat-int8.pte |" in (out / "report.md").read_text()
    int8 = load_program(out / "qat_int8.pt2")
    with torch.no_grad():
        assert int8(torch.rand(2, 3, 40, 52)).shape == (2, 3, 160, 208)  # any batch and size, not just the example's
    assert len(list(out.glob("control-*.ckpt"))) == len(list(out.glob("qat-*.ckpt"))) == 1
    stages = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    code, _, _ = run_tool(qat, ["--weights", str(tiny_checkpoint), "--out", str(out)] + ARGS, capsys)
    assert code == 0 and json.loads((out / "report.json").read_text())["rows"] == report["rows"]
    assert all((out / n).stat().st_mtime_ns == t for n, t in stages.items() if n != "report.json")  # all reused
    # Other fine-tuning settings: the stages they feed are recomputed, routing and expert choice are reused.
    code, _, _ = run_tool(qat, ["--weights", str(tiny_checkpoint), "--out", str(out), "--iters", "5", "--formats", ""]
                          + ARGS[2:], capsys)
    again = json.loads((out / "report.json").read_text())
    assert code == 0 and again["iters"] == 5 and again["artifacts"] == []
    assert (out / "routes.json").stat().st_mtime_ns == stages["routes.json"]
    assert (out / "experts.json").stat().st_mtime_ns == stages["experts.json"]
    assert (out / "scores_int8.json").stat().st_mtime_ns != stages["scores_int8.json"]
    assert len(list(out.glob("qat-*.ckpt"))) == 2


def test_main_job_makes_the_integer_variant(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    """``--variant integer``: the FP32 distillation stage, then QAT from it; its files hold no float op."""
    from quant.int8_checkpoint import load_qat

    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out = tmp_path / "int"
    code, stdout, err = run_tool(qat, ["--weights", str(tiny_checkpoint), "--out", str(out), "--variant", "integer",
                                       "--float-iters", "3", "--formats", ""] + ARGS, capsys)
    assert code == 0, err
    assert "integer form" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["variant"] == "integer" and report["float_iters"] == 3
    assert report["row_labels"]["control"] == "integer form FP32, distilled"
    model = load_qat(out / "qat.safetensors")
    assert model.variant == "integer" and model.card.training["trained_steps"] == 3 + 4
    assert "thread(s)" in model.card.training["hardware"]
    assert model.card.recipe["variant"] == "integer"
    # its INT8 graph scores as the report says (its files: tests/test_integer_form.py holds them to 0 float ops)
    from seemore_edge.core.scoring import evaluate_sets, model_upscaler
    int8 = evaluate_sets(model_upscaler(model.int8_model()), None, ["samples"], 4)["sets"]["samples"]["psnr"]
    assert abs(int8 - report["rows"]["int8"]["samples"]["psnr"]) < 1e-3
    # A longer QAT on the same folder starts from the distilled model it holds: no second distillation.
    distilled = {p.name: p.stat().st_mtime_ns for p in out.glob("control-*.ckpt")}
    assert len(distilled) == 1  # the distillation's checkpoint is there to be reused (an empty glob would prove nothing)
    control_scores = (out / "scores_control.json").stat().st_mtime_ns
    code, _, err = run_tool(qat, ["--weights", str(tiny_checkpoint), "--out", str(out), "--variant", "integer",
                                  "--float-iters", "3", "--formats", "", "--iters", "6"] + ARGS[2:], capsys)
    assert code == 0, err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("control-*.ckpt")} == distilled
    assert (out / "scores_control.json").stat().st_mtime_ns == control_scores
    assert len(list(out.glob("qat-*.ckpt"))) == 2
    assert load_qat(out / "qat.safetensors").card.training["trained_steps"] == 3 + 6


def test_main_job_bad_input(tiny_checkpoint, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    cases = [(["--scale", "2"], "checkpoint is for x4, but x2"),
             (["--preset", "T"], "checkpoint is SeemoRe-tiny, but preset T"),
             (["--train-dir", str(empty)], "no images in it"),
             (["--out", "/proc/seemore-qat"], "not writable"),
             (["--float-modules", "conv_1,conv_9"], "conv_9: not a module of the SeemoRe-tiny deploy form"),
             (["--float-iters", "3"], "goes with --variant integer"),
             (["--variant", "integer", "--float-modules", "conv_1"], "the integer variant keeps none")]
    for extra, words in cases:
        argv = ["--weights", str(tiny_checkpoint), "--out", str(tmp_path / "o")] + ARGS + extra
        code, _, err = run_tool(qat, argv, capsys)
        assert code == 2 and err.count("\n") == 1 and words in err, (extra, err)
    # A malformed tile is refused before the run folder is written.
    code, _, err = run_tool(qat, ["--weights", str(tiny_checkpoint), "--out", str(tmp_path / "t")] + ARGS +
                            ["--tile", "32x"], capsys)
    assert code == 2 and "HEIGHTxWIDTH" in err and not (tmp_path / "t").exists()
