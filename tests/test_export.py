"""Export of a tiny QAT model to all three formats through the command-line tool, each artifact run (or, for Core ML on
Linux, inspected) and checked against PyTorch; the shipped-checkpoint round trip; bad inputs."""
import json
import os
import re

import numpy as np
import pytest
import torch

from export import load_runner
from export.card import card_path, read_card
from quant.int8_checkpoint import load_qat
from seemore_edge import evaluate, export as export_tool
from tests.conftest import run_tool


@pytest.fixture(scope="module")
def export_run(tiny_qat, tmp_path_factory) -> tuple:
    """The export tool run as a user runs it (its own process, all three formats): (folder, what it printed)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("export")
    env = {k: v for k, v in os.environ.items()
           if k not in ("SEEMORE_DATA", "LITERT_TORCH_SHOW_PROGRESS", "TF_CPP_MIN_LOG_LEVEL")}
    result = subprocess.run([sys.executable, "-m", "seemore_edge.export", "--weights", str(tiny_qat), "--formats",
                             "pte,tflite,mlpackage", "--precision", "int8,fp32", "--tile", "32", "--overlap", "4",
                             "--out", str(out), "--sets", "samples"], capture_output=True, text=True, env=env,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout + result.stderr


@pytest.fixture(scope="module")
def exported(export_run):
    return export_run[0]


def test_qat_checkpoint_round_trip(tiny_qat):
    a, b = load_qat(tiny_qat), load_qat(tiny_qat)
    x = torch.rand(1, 3, 40, 36)
    with torch.no_grad():
        assert torch.equal(a.int8()(x), b.int8()(x))
        assert a.int8()(x).shape == (1, 3, 160, 144)
        assert (a.fp32()(x) - a.int8()(x)).abs().mean() < 0.02  # INT8 close to its own float weights


def test_all_formats_exported_with_cards(exported):
    names = sorted(p.name for p in exported.iterdir())
    assert names == sorted(["tiny-qat-int8.pte", "tiny-qat-fp32.pte", "tiny-qat-int8.tflite", "tiny-qat-fp32.tflite",
                            "tiny-qat-int8.mlpackage", "tiny-qat-fp16.mlpackage"] +
                           [n + ".json" for n in ["tiny-qat-int8.pte", "tiny-qat-fp32.pte", "tiny-qat-int8.tflite",
                                                  "tiny-qat-fp32.tflite", "tiny-qat-int8.mlpackage",
                                                  "tiny-qat-fp16.mlpackage"]])
    for artifact in exported.iterdir():
        if artifact.suffix == ".json":
            continue
        card = read_card(artifact)  # also checks the sha256
        assert (tuple(card.tile), card.overlap, card.scale, card.preset) == ((32, 32), 4, 4, "tiny")
        assert (card.routing.type, card.routing.experts) == ("fixed", [2]) and card.schema == 1
        assert card.size_bytes > 0 and card.tools["torch"]


@pytest.mark.parametrize("fmt", ["pte", "tflite"])
def test_runtimes_match_pytorch(exported, tiny_qat, fmt):
    qat = load_qat(tiny_qat)
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        want = {"fp32": qat.fp32()(torch.from_numpy(x)).numpy(), "int8": qat.int8()(torch.from_numpy(x)).numpy()}
    for precision in ("fp32", "int8"):
        artifact = exported / f"tiny-qat-{precision}.{fmt}"
        got = load_runner(artifact, (32, 32))(x)
        err = np.abs(got - want[precision]).max()
        # FP32: float rounding only. INT8: the runtimes' integer kernels round differently from PyTorch's reference
        # quantized ops, a few steps of the output's quantization at most.
        assert err < (1e-4 if precision == "fp32" else 0.05), (artifact.name, err)
        card = read_card(artifact)
        assert card.psnr["samples"].images == 5 and card.latency.median_ms > 0
        # No --threads: all cores in every runtime (LiteRT's own default was one thread).
        assert card.latency.threads == os.cpu_count()


def test_cards_count_the_float_ops_each_file_holds(exported):
    """The graph audit, read from each file: the faithful INT8 model keeps its LayerNorm statistics, GELU and residual
    stream in float (quant/quantizer.py's choice) and says so in every runtime; an FP32 file is float throughout."""
    cards = {p.name: read_card(p) for p in exported.iterdir() if p.suffix != ".json"}
    tflite = cards["tiny-qat-int8.tflite"].float_ops.by_kind
    assert {"GELU", "RSQRT", "SUB", "ADD", "DEQUANTIZE", "QUANTIZE"} <= set(tflite), tflite
    assert tflite["DEQUANTIZE"] >= tflite["RSQRT"] + tflite["GELU"]  # each island entered through a dequantize
    pte = cards["tiny-qat-int8.pte"].float_ops.by_kind
    assert {"Convert", "Add", "Subtract"} <= set(pte) and not [k for k in pte if "not delegated" in k], pte
    fp32_tflite = cards["tiny-qat-fp32.tflite"]
    assert fp32_tflite.float_ops.total == sum(fp32_tflite.audit["ops"].values())  # every op of a float file
    assert cards["tiny-qat-fp32.pte"].float_ops.by_kind.get("Conv2d", 0) > 0
    coreml = {p: cards[f"tiny-qat-{p}.mlpackage"].float_ops for p in ("int8", "fp16")}
    assert 0 < coreml["int8"].total < coreml["fp16"].total and coreml["fp16"].by_kind["conv"] > 0
    # Of the W8A8 package's convs only the final LayerNorm's two statistics convs read float (FLOAT_MODULES keeps it)
    assert coreml["int8"].by_kind.get("conv", 0) == 2 and "cast" not in coreml["int8"].by_kind, coreml["int8"]
    for card in cards.values():
        assert card.float_ops.total == sum(card.float_ops.by_kind.values()) and card.float_ops.rule


def test_pte_int8_fully_delegated(exported):
    audit = read_card(exported / "tiny-qat-int8.pte").audit
    assert audit["partitions"] == 1 and not audit["not_delegated"], audit
    assert audit["ops"]["quantized_decomposed_dequantize_per_channel_default"]["delegated"] > 0
    # Constants are named by number, not by XNNPACK's 64-digit SHA-256, and per-channel scales sit inline in the
    # delegate instead of being named constants (export/executorch_pte PASSES): one short name per distinct
    # weight or bias; the file still loads and matches PyTorch (test_runtimes_match_pytorch).
    from executorch.exir._serialize._program import deserialize_pte_binary

    named = deserialize_pte_binary((exported / "tiny-qat-int8.pte").read_bytes()).named_data
    keys = list(named.pte_data)
    assert keys and all(re.fullmatch(r"[0-9a-f]{1,3}", k) for k in keys), keys
    assert len(set(named.pte_data)) == len(named.pte_data) == len(named.buffers)


def test_pte_int8_lookup_table_gelu(tiny_qat, tmp_path):
    """GELU and rsqrt between INT8 tensors run as XNNPACK lookup tables (export/executorch_pte.partitioner_configs)
    instead of convert, float op, convert: the same output as ExecuTorch's stock lowering, in a smaller file."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from export.executorch_pte import partitioner_configs

    program = torch.export.export(load_qat(tiny_qat).int8(fold_quantize=True), (torch.rand(1, 3, 32, 32),))
    x = torch.from_numpy(np.random.default_rng(2).random((1, 3, 32, 32), dtype=np.float32))
    out, size = {}, {}
    partitioners = {"stock": XnnpackPartitioner(), "lut": XnnpackPartitioner(configs=partitioner_configs())}
    for name, partitioner in partitioners.items():
        lowered = to_edge_transform_and_lower(program, partitioner=[partitioner])
        graph = lowered.exported_program().graph_module.graph
        assert not [n for n in graph.nodes if "gelu" in str(n.target) or "rsqrt" in str(n.target)]  # all delegated
        path = tmp_path / f"{name}.pte"
        path.write_bytes(lowered.to_executorch().buffer)
        out[name] = Runtime.get().load_program(str(path)).load_method("forward").execute([x])[0]
        size[name] = path.stat().st_size
    with torch.no_grad():
        want = load_qat(tiny_qat).int8()(x)
    # Both within the INT8 kernels' rounding of PyTorch's reference; the tables are not a worse approximation.
    assert (out["lut"] - want).abs().max() <= (out["stock"] - want).abs().max() + 0.01
    assert size["lut"] < size["stock"], size


def test_tflite_int8_computes_in_int8(exported):
    card = read_card(exported / "tiny-qat-int8.tflite")
    ops = card.audit["ops"]
    # Float by design (quant/qat.py): of the convs only the final LayerNorm's two statistics convs (C -> 1, 1x1); and
    # the residual sums, so the output (the last add, of the RGB mean) is float as well.
    assert ops.get("CONV_2D int8", 0) > 0 and ops.get("CONV_2D float32", 0) <= 2, ops
    assert ops.get("ADD float32", 0) > 0 and card.output.dtype == "float32", (ops, card.output)
    # GELU and RSQRT run in float between dequantize and quantize, so LiteRT's XNNPACK delegate takes the whole graph
    # (export/litert_tflite.float_where_xnnpack_needs_it); the converter's INT8 ones split it.
    assert card.audit["partitions"] == 1 and not ops.get("GELU int8") and not ops.get("RSQRT int8"), card.audit
    # Tensor names are dropped and repeated vectors stored once (export/litert_tflite PASSES strip-names, share-vectors); the signature still
    # names the input and output, and the file computes what it did (test_runtimes_match_pytorch).
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools import flatbuffer_utils

    from export.litert_tflite import share_vectors, strip_names

    path = exported / "tiny-qat-int8.tflite"
    it = Interpreter(model_path=str(path))
    assert not any(t["name"] for t in it.get_tensor_details())
    assert list(it.get_signature_list()["serving_default"]["inputs"]) == ["args_0"]
    model = flatbuffer_utils.read_model(str(path))
    zero_points = sum(len(t.quantization.zeroPoint) for t in model.subgraphs[0].tensors
                      if t.quantization is not None and t.quantization.zeroPoint is not None)
    unshared = len(flatbuffer_utils.convert_object_to_bytearray(model))  # the same model, every vector written out
    assert len(share_vectors(strip_names(path.read_bytes()))) == path.stat().st_size  # the passes are idempotent
    assert path.stat().st_size < unshared - 4 * zero_points, (path.stat().st_size, unshared, zero_points)


def test_mlpackage_structure(exported):
    int8 = read_card(exported / "tiny-qat-int8.mlpackage").audit
    assert int8["int8_weight_ops"] > 0 and int8["activation_quantize_ops"] > 0
    # Float by design: only the final LayerNorm's two statistics convs (quant/qat.py FLOAT_MODULES).
    assert int8["float_weight_conv_or_linear"] <= 2 and int8["debug_files"] == []
    assert int8["inputs"] == [{"name": "lr", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    fp16 = read_card(exported / "tiny-qat-fp16.mlpackage").audit
    assert fp16["int8_weight_ops"] == 0 and fp16["float_weight_conv_or_linear"] > 0


def test_mlpackage_scored_by_the_interpreter_off_macos(exported):
    """Off macOS the packages are scored through the MIL interpreter: PSNR measured, latency null with its reason, and
    within a few hundredths of a dB of the same model in ExecuTorch."""
    import sys

    if sys.platform == "darwin":
        pytest.skip("on macOS Core ML itself scores the package")
    for precision, twin in (("int8", "tiny-qat-int8.pte"), ("fp16", "tiny-qat-fp32.pte")):
        card = read_card(exported / f"tiny-qat-{precision}.mlpackage")
        assert card.executed_by == "mil-interpreter" and card.latency is None and "not a Core ML" in card.latency_note
        assert "MIL interpreter, float16 arithmetic" in card.psnr_protocol
        other = read_card(exported / twin).psnr["samples"].psnr
        assert abs(card.psnr["samples"].psnr - other) < 0.1, (precision, card.psnr, other)


def test_upscale_says_a_package_runs_in_the_numerics_checker_before_it_starts(exported, tmp_path, capsys):
    """Off macOS a .mlpackage runs in the MIL interpreter: upscale says so (slow, memory-hungry, a checker) first."""
    from PIL import Image

    from seemore_edge import upscale

    Image.fromarray(np.full((24, 20, 3), 128, np.uint8)).save(tmp_path / "in.png")
    code, _, err = run_tool(upscale, [str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--artifact",
                                      str(exported / "tiny-qat-int8.mlpackage")], capsys)
    assert code == 0 and (tmp_path / "out.png").is_file()
    assert err.startswith("note: tiny-qat-int8.mlpackage runs in our MIL interpreter here") and "slow" in err


def test_evaluate_artifact_matches_card(exported, capsys, monkeypatch):
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    artifact = exported / "tiny-qat-int8.pte"
    out = exported.parent / "eval.json"
    code, _, err = run_tool(evaluate, ["--artifact", str(artifact), "--sets", "samples", "--json", str(out)], capsys)
    assert code == 0, err
    assert json.loads(out.read_text())["sets"]["samples"]["psnr"] == read_card(artifact).psnr["samples"].psnr


def test_fp32_artifacts_score_as_pytorch_fp32(exported, tiny_qat, tmp_path, capsys, monkeypatch):
    """The FP32 artifacts against the same float weights in PyTorch, tiled alike (``evaluate --float --tile``)."""
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out = tmp_path / "fp32.json"
    code, _, err = run_tool(evaluate, ["--weights", str(tiny_qat), "--float", "--tile", "32", "--overlap", "4",
                                       "--sets", "samples", "--json", str(out)], capsys)
    assert code == 0, err
    eager = json.loads(out.read_text())["sets"]["samples"]["psnr"]
    for fmt in ("pte", "tflite"):
        assert abs(read_card(exported / f"tiny-qat-fp32.{fmt}").psnr["samples"].psnr - eager) <= 0.01
    code, _, err = run_tool(evaluate, ["--weights", str(tiny_qat), "--tile", "16", "--sets", "samples"], capsys)
    assert code == 2 and "tile of at least 32 a side" in err


def test_rectangular_tile(tiny_qat, tmp_path, monkeypatch):
    """A frame-shaped artifact (``--tile HxW``): named by its tile beside the square ones, the card says [h, w], the
    Core ML package takes that shape, and both runtimes here take exactly it and compute what PyTorch does on it."""
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    assert export_tool.main(["--weights", str(tiny_qat), "--formats", "pte,tflite,mlpackage", "--precision", "int8",
                             "--tile", "32x48", "--overlap", "4", "--out", str(tmp_path), "--sets", "samples"]) == 0
    mlpackage = read_card(tmp_path / "tiny-qat-int8-32x48.mlpackage")
    assert mlpackage.tile == [32, 48] and mlpackage.audit["inputs"][0]["shape"] == [1, 3, 32, 48]
    x = np.random.default_rng(3).random((1, 3, 32, 48), dtype=np.float32)
    with torch.no_grad():
        want = load_qat(tiny_qat).int8()(torch.from_numpy(x)).numpy()
    for fmt in ("pte", "tflite"):
        artifact = tmp_path / f"tiny-qat-int8-32x48.{fmt}"
        card = read_card(artifact)
        assert card.tile == [32, 48] and card.input.shape == [1, 3, 32, 48]
        assert card.output.shape == [1, 3, 128, 192] and card.psnr["samples"].images == 5
        runner = load_runner(artifact, tuple(card.tile))
        assert np.abs(runner(x) - want).max() < 0.05, fmt
        with pytest.raises(ValueError, match="float32 tiles of 1x3x32x48"):
            runner(np.zeros((1, 3, 48, 32), np.float32))


def test_each_format_gets_its_photo_tile_without_tile(tiny_qat, tmp_path, monkeypatch):
    """Without ``--tile`` every format is exported at its own photo tile (small ones here, for speed), named as a
    square tile, and the card tells the apps that tile."""
    import export
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    monkeypatch.setitem(export.PHOTO_TILES, "pte", (32, 32))
    monkeypatch.setitem(export.PHOTO_TILES, "tflite", (40, 40))
    assert export_tool.main(["--weights", str(tiny_qat), "--formats", "pte,tflite", "--precision", "int8",
                             "--overlap", "4", "--out", str(tmp_path), "--sets", "samples"]) == 0
    for fmt, side in (("pte", 32), ("tflite", 40)):
        card = read_card(tmp_path / f"tiny-qat-int8.{fmt}")
        assert card.tile == [side, side] and card.input.shape == [1, 3, side, side], fmt
        assert card.psnr["samples"].images == 5


def test_bad_inputs(exported, tiny_checkpoint, tiny_qat, tmp_path, capsys, monkeypatch):
    runner = load_runner(exported / "tiny-qat-int8.tflite", (32, 32))
    with pytest.raises(ValueError, match="float32 tiles of 1x3x32x32"):
        runner(np.zeros((1, 3, 32, 32), np.float64))
    # A dynamic-routing checkpoint has no static graph to export.
    code, _, err = run_tool(export_tool, ["--weights", str(tiny_checkpoint), "--out", str(tmp_path)], capsys)
    assert code == 2 and "fixed-routing" in err
    # An artifact that no longer matches its card.
    bad = tmp_path / "changed.tflite"
    data = bytearray((exported / "tiny-qat-fp32.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    card_path(bad).write_text(card_path(exported / "tiny-qat-fp32.tflite").read_text())
    code, _, err = run_tool(evaluate, ["--artifact", str(bad), "--sets", "samples"], capsys)
    assert code == 2 and "sha256" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_tool(export_tool, ["--weights", str(tiny_checkpoint), "--formats", "onnx"], capsys)
    assert code == 2 and "unknown format" in err
    # A set to score with no data root to find it in: one line before any export, and nothing written.
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out = tmp_path / "no-root"
    code, _, err = run_tool(export_tool, ["--weights", str(tiny_qat), "--formats", "tflite", "--out", str(out),
                                          "--sets", "Set5"], capsys)
    assert code == 2 and "no data root" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_tools_run_a_qat_checkpoint_as_int8(tiny_qat, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from seemore_edge import upscale

    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    code, out, err = run_tool(evaluate, ["--weights", str(tiny_qat), "--sets", "samples"], capsys)
    assert code == 0 and "samples" in out, err
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), np.uint8)).save(tmp_path / "in.png")
    code, _, err = run_tool(upscale, [str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--weights",
                                      str(tiny_qat), "--tile", "32", "--overlap", "4"], capsys)
    assert code == 0, err
    assert Image.open(tmp_path / "out.png").size == (200, 160)


def test_sensitivity_scan(tiny_qat, tiny_checkpoint, tmp_path, capsys, monkeypatch):
    """Every quantizer lands in one group; all off = the float weights; a group off changes the score."""
    from seemore_edge import sensitivity

    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out = tmp_path / "sens.json"
    code, _, err = run_tool(sensitivity, ["--weights", str(tiny_qat), "--sets", "samples", "--json", str(out)],
                            capsys)
    assert code == 0, err
    report = json.loads(out.read_text())
    groups = report["groups"]
    assert {"A conv_1", "W conv_1", "A body.0", "W body.0"} <= set(groups), groups.keys()
    code, _, err = run_tool(evaluate, ["--weights", str(tiny_qat), "--float", "--sets", "samples", "--json",
                                       str(tmp_path / "float.json")], capsys)
    assert code == 0, err
    float_psnr = json.loads((tmp_path / "float.json").read_text())["sets"]["samples"]["psnr"]
    assert abs(report["none_quantized"]["samples"] - float_psnr) < 1e-3
    assert any(g["psnr"]["samples"] != report["all_quantized"]["samples"] for g in groups.values())
    code, _, err = run_tool(sensitivity, ["--weights", str(tiny_checkpoint)], capsys)
    assert code == 2 and "QAT checkpoint" in err


def test_export_prints_no_library_noise(export_run):
    """What export prints is ours: no library warning a user cannot act on (LiteRT-Torch's training-mode warning and
    stage lines, torch's LeafSpec deprecation, coremltools' import notices, the MLIR converter's INFO logs)."""
    _, printed = export_run
    for noise in ("FutureWarning", "WARNING:coremltools", "training mode", "[START]", "Remove trivial", "Warning:"):
        assert noise not in printed, (noise, printed[-3000:])
    assert printed.count("exporting ...") == 6
