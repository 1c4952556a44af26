"""The bench tool on tiny models: every contender timed on both inputs, memory probed in a child process, the limit
measured through each runtime, and the JSON, report and plot written by one command."""
import hashlib
import json

import numpy as np
import pytest
import torch

from quant.int8_graph import freeze_observers
from quant.int8_checkpoint import prepare_for, save_qat
from seemore_edge import bench
from export import photo_tile
from seemore_edge.pipelines.browser_page import browser_missing
from seemore_edge.pipelines.readme_tables import SWEEPS
from seemore_edge.pipelines.tile_sweep import BROWSER, chosen_tiles, scale_of, sweep_lines
from tests.conftest import REPO, run_tool


def _tiny_qat_with_parent(folder, scale, variant="faithful"):
    """A tiny QAT checkpoint whose card names its FP32 parent (the bench's default reference), and that parent (made
    once per folder, so a faithful and an integer model share it)."""
    from seemore_edge import build_model, save_model

    torch.manual_seed(0)
    reference = folder / f"tiny-x{scale}.safetensors"
    if not reference.exists():
        save_model(build_model("tiny", scale), reference, {"recipe": {"init": "random, seed 0, for tests"}})
    prepared = prepare_for("tiny", scale, (2,), variant=variant)
    with torch.no_grad():
        prepared(torch.rand(2, 3, 48, 48))
    freeze_observers(prepared)
    stem = ("tiny" if scale == 4 else f"tiny-x{scale}") + ("-int" if variant == "integer" else "-qat")
    qat = folder / f"{stem}.safetensors"
    parent = {"name": str(reference), "sha256": hashlib.sha256(reference.read_bytes()).hexdigest()}
    save_qat(prepared, "tiny", scale, (2,), qat, {"parent": parent}, variant=variant)
    return qat, reference


def test_bench_tiny(tmp_path, capsys, monkeypatch):
    """The README's default path on tiny x4 models, a faithful and an integer one as the shipped pair: no
    --artifacts, so each model's set is exported first (INT8 and FP32; here only at the 180x320 frame tile, which the
    deploy comparison and its target read: the default adds the 128 tile, test_the_default_set... below) and only
    those files are contenders (the limit and floor files live elsewhere); the reference defaults to the first model's
    parent. The 128 tile's gap line: test_the_gap_counts_the_calls_of_a_tiled_frame."""
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    qat, reference = _tiny_qat_with_parent(tmp_path, 4)
    integer, _ = _tiny_qat_with_parent(tmp_path, 4, "integer")
    out, js = tmp_path / "bench", tmp_path / "bench.json"
    code, stdout, err = run_tool(bench, ["--qat", f"{qat},{integer}", "--tile", "180x320", "--threads", "1", "--runs",
                                         "3", "--out", str(out), "--json", str(js)], capsys)
    assert code == 0, err
    payload = json.loads(js.read_text())
    assert payload["scale"] == 4 and payload["frame_lr"] == [180, 320]
    assert payload["models"] == [{"name": "tiny-qat", "variant": "faithful"}, {"name": "tiny-int", "variant": "integer"}]
    recs = payload["records"]
    contenders = {r["contender"] for r in recs}
    files = {f"{m}-{p}-180x320.{x}" for m in ("tiny-qat", "tiny-int") for p in ("int8", "fp32")
             for x in ("pte", "tflite")}
    assert {n for n in contenders if not n.startswith("eager")} == files
    assert {f"eager FP32 full ({reference})", f"eager FP32 edge ({qat} float weights)",
            f"eager FP32 edge ({integer} float weights)"} < contenders
    assert {r["format"] for r in recs} == {"eager", "pte", "tflite"}
    assert {(r.get("model"), r.get("variant")) for r in recs} == {
        (None, None), ("tiny-qat", "faithful"), ("tiny-int", "integer")}
    # Eager models on both inputs; a frame-tile file's one call is its frame record.
    assert {r["input"] for r in recs} == {"tile128", "frame720p"} and len(recs) == 3 * 2 + 8
    (wide,) = [r for r in recs if r["contender"] == "tiny-qat-int8-180x320.pte"]
    assert wide["input"] == "frame720p" and wide["tile"] == [180, 320]
    for r in recs:
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] and r["peak_rss_mib"] > 50 and r["size_kib"] > 0
    # Measured per contender in its own process: not one number for all (getrusage would report the parent's size).
    assert len({r["peak_rss_mib"] for r in recs}) > 1
    assert set(payload["limits"]) == {"pte fp32 1t", "pte int8 1t", "tflite fp32 1t", "tflite int8 1t"}
    assert set(payload["depthwise_reference"]) == {"pte int8 1t", "tflite int8 1t"}
    assert all(v > 0 for v in payload["depthwise_reference"].values())
    assert all(r.get("pct_of_limit", 0) > 0 for r in recs if r["format"] != "eager")
    assert (out / "report.md").exists() and (out / "psnr_latency.png").stat().st_size > 0
    # The ETDump profile of the INT8 .pte: XNNPACK's own kernels, INT8 convs among them, adding up to about one tile.
    profiles = {p["file"]: p for p in payload["profiles"]}
    assert set(profiles) == {name for name in files if name.endswith(".pte")}
    prof = profiles["tiny-qat-int8-180x320.pte"]
    assert prof["tile"] == [180, 320]
    kernels = {k["kernel"]: k for k in prof["kernels"]}
    assert any("QC8" in name for name in kernels) and abs(sum(k["pct"] for k in prof["kernels"]) - 100) < 1
    tile_ms = wide["median_ms"]
    assert 0.3 * tile_ms < prof["total_ms"] < 3 * tile_ms, (prof["total_ms"], tile_ms)
    assert prof["total_ms"] < prof["call_ms"] < 3 * tile_ms, (prof["call_ms"], tile_ms)  # kernels run inside the call
    report = (out / "report.md").read_text()
    assert "1280x720 output frame (320x180 LR" in report
    assert "Where the time of one 180x320 tile goes" in report and "are spent outside the kernels" in report and f"CPU: {payload['cpu']['cpu']};" in report
    # The gap, in figures of this run: INT8 vs FP32 limits, pixels the tiling computes, convs' own share of the limit.
    assert "tiny-int-int8-180x320.pte: a 720p frame is 1 call(s) of 180x320, 1.00x the frame's pixels" in report
    assert "the INT8 limit is" in report and "convolutions (nearly all the MACs) take" in report
    # The targets and the floor under them: the model's convolutions alone, in each INT8 runtime, one frame call.
    # Each model's own: the integer model has no LayerNorm statistics convs, so fewer convolutions.
    floors = payload["floors"]
    assert set(floors) == {"tiny-qat", "tiny-int"} and all(set(f) == {"pte int8 1t", "tflite int8 1t"}
                                                            for f in floors.values())
    for floor in [f for model in floors.values() for f in model.values()]:
        assert floor["ms"] > 0 and floor["tile"] == [180, 320] and floor["convs"] > 10
    assert floors["tiny-int"]["pte int8 1t"]["convs"] < floors["tiny-qat"]["pte int8 1t"]["convs"]
    assert "- Target, INT8 .pte, 1 threads: 6x eager FP32 full on the frame" in report
    # The deploy models side by side: every frame file against the faithful model's FP32 file of its runtime and
    # tile; the integer model's target read on its frame-tile files, against the same run's figures.
    assert "## The deploy models side by side" in report
    side = {line.split(" | ")[3]: line for line in report.splitlines() if line.startswith("| .")}
    assert set(side) == {f"`{name}`" for name in files}
    fp32 = {r["contender"]: r for r in recs if r["input"] == "frame720p"}
    row = side["`tiny-int-int8-180x320.tflite`"].split(" | ")
    base = fp32["tiny-qat-fp32-180x320.tflite"]
    mine = fp32["tiny-int-int8-180x320.tflite"]
    assert row[7] == f"{base['median_ms'] / mine['median_ms']:.2f} / {base['min_ms'] / mine['min_ms']:.2f}"
    assert row[9] == str(floors["tiny-int"]["tflite int8 1t"]["ms"]) and row[4] == "integer"
    (target,) = [line for line in report.splitlines() if line.startswith("- Target, integer model, INT8 .tflite")]
    assert "`tiny-int-int8-180x320.tflite` 2.5x (goal 3x) `tiny-qat-fp32-180x320.tflite` of the same run" in target
    assert f"{mine['median_ms']:.1f} vs {base['median_ms']:.1f} ms" in target
    # The same record reported again without a run: the same text.
    code, _, err = run_tool(bench, ["--report", str(js), "--out", str(tmp_path / "again")], capsys)
    assert code == 0, err
    assert (tmp_path / "again" / "report.md").read_text() == report
    code, _, err = run_tool(bench, ["--report", str(out / "report.md"), "--out", str(tmp_path / "bad")], capsys)
    assert code == 2 and "not a bench record" in err and not (tmp_path / "bad" / "report.md").exists()
    (verdict,) = [line for line in report.splitlines() if line.startswith("- Target, INT8 .pte")]
    dot = payload["cpu"]["int8_dot_product"]
    assert verdict.endswith(f"(host with INT8 dot product ({', '.join(dot)}))" if dot else
                            "(host without INT8 dot product)"), verdict
    assert "- Floor, INT8 .tflite, 1 threads: the model's" in report
    families = [line for line in report.splitlines() if "by convolution family" in line]
    assert len(families) == 2  # each model's INT8 frame-tile .pte, against its own floor
    for kinds in families:
        assert all(f"{kind} " in kinds for kind in ("1x1", "dense kxk", "depthwise")) and "GMAC/s" in kinds
        assert "of the depthwise reference" in kinds
    # The depthwise target (a share of the INT8 limit) read in the frame-tile .pte's ETDump, beside the reference.
    dws = [line for line in report.splitlines() if line.startswith("- Target, depthwise convolutions")]
    assert [dw.split(" in ")[1].split("'s ETDump")[0] for dw in dws] == ["tiny-int-int8-180x320.pte",
                                                                         "tiny-qat-int8-180x320.pte"]
    assert all("15% of the INT8 limit" in dw and "depthwise reference" in dw for dw in dws)
    # The demo page as a contender, in the same run: each .tflite in headless Chromium on the inputs it takes, the
    # integer model's too (its INT8 ends made float for LiteRT.js). WebGPU: tests/test_web_demo.py.
    if browser_missing() is None:
        browser = {(r["file"], r["input"], r["accelerator"]): r for r in payload["browser"]["records"]}
        assert set(browser) == {(name, "frame720p", "wasm") for name in files if name.endswith(".tflite")}
        assert all(0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] and r["runs"] == 3 for r in browser.values())
        assert "## In the browser" in report and "| tiny-int-int8-180x320.tflite | 180x320 | wasm | 1 (1) | frame720p |" in report
    else:
        assert payload["browser"]["skipped"] and "Not run:" in report


def test_the_gap_counts_the_calls_of_a_tiled_frame():
    """A 128-tile file computes a 720p frame (320x180 LR at x4) in six overlapping calls: 1.71x its pixels."""
    from seemore_edge.pipelines.bench_report import gap_lines

    rec = {"contender": "m-int8.pte", "input": "frame720p", "precision": "int8", "tile": [128, 128], "overlap": 16,
           "pct_of_limit": 9.0, "threads": 2, "median_ms": 200.0, "min_ms": 190.0, "format": "pte", "role": "artifact"}
    lines = gap_lines({"records": [rec], "limits": {}, "frame_lr": [180, 320]})
    assert "- m-int8.pte: a 720p frame is 6 call(s) of 128x128, 1.71x the frame's pixels; 9.0% of the limit per frame" \
        in lines


def test_the_committed_one_model_record_reports_as_committed(tmp_path, capsys):
    """docs/bench/bench.json comes from a run before the bench covered two models (flat floors, no "models"): its
    report, written again by this version, is the committed one, floors and targets included."""
    code, _, err = run_tool(bench, ["--report", str(REPO / "docs" / "bench" / "bench.json"), "--out", str(tmp_path)],
                            capsys)
    assert code == 0, err
    text = (tmp_path / "report.md").read_text()
    assert text == (REPO / "docs" / "bench" / "report.md").read_text()
    assert "- Floor, INT8 .pte, 2 threads" in text and "by convolution family" in text


def test_bench_android_prints_the_phone_command_lines(tmp_path, capsys):
    qat, _ = _tiny_qat_with_parent(tmp_path, 4)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    for name in ("tiny-qat-int8.pte", "tiny-qat-int8.tflite"):
        (artifacts / name).write_bytes(b"")  # only the names are read: nothing runs here
    code, stdout, _ = run_tool(bench, ["--qat", str(qat), "--artifacts", str(artifacts), "--android"], capsys)
    assert code == 0 and "benchmark_model --graph=/data/local/tmp/tiny-qat-int8.tflite" in stdout
    assert "executor_runner --model_path /data/local/tmp/tiny-qat-int8.pte" in stdout


def test_the_default_set_at_x2_takes_the_360x640_frame_tile(tmp_path, capsys, monkeypatch):
    """At x2 the frame is a 360x640 LR input: the default set's frame-tile files are made for it (the x4 run above
    exports the same plan), and a reference of another scale is refused in one line before anything is exported."""
    from seemore_edge import build_model, save_model
    from seemore_edge.pipelines import bench_run

    planned = []
    monkeypatch.setattr(bench_run, "export_set", lambda plan, announce: planned.append(plan))
    bench_run.export_default_set(["tiny-x2-qat.safetensors", "tiny-x2-int.safetensors"], 2, tmp_path / "artifacts", 1)
    assert [(p.weights, p.formats, p.precisions, tuple(p.tile)) for p in planned] == [
        (w, ["pte", "tflite"], ["int8", "fp32"], tile) for w in ("tiny-x2-qat.safetensors", "tiny-x2-int.safetensors")
        for tile in ((128, 128), (360, 640))]
    planned.clear()
    bench_run.export_default_set(["tiny-x2-qat.safetensors"], 2, tmp_path / "artifacts", 1, [(64, 96)])  # --tile 64x96
    assert [(p.precisions, tuple(p.tile)) for p in planned] == [(["int8", "fp32"], (64, 96))]
    planned.clear()
    qat, _ = _tiny_qat_with_parent(tmp_path, 2)
    code, _, err = run_tool(bench, ["--qat", str(qat), "--tile", "16", "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and "need a tile of at least 32" in err and not planned
    x4 = tmp_path / "tiny-x4.safetensors"
    save_model(build_model("tiny", 4), x4, {})
    code, _, err = run_tool(bench, ["--qat", str(qat), "--reference", str(x4), "--out", str(tmp_path / "b")], capsys)
    assert code != 0 and f"is x4 but --qat {qat} is x2" in err and len(err.strip().splitlines()) == 1
    assert not planned


def test_a_frame_tile_artifact_is_timed_on_the_frame_alone():
    """A file made for another tile than 128 (the frame tile, or any other) has no 128-tile record: it takes the
    frame in its own tiles."""
    from seemore_edge.pipelines.bench_run import Contender, random_frame, time_interleaved

    shapes = []

    def run(x):
        shapes.append(x.shape[2:])
        return x.repeat(4, axis=2).repeat(4, axis=3)
    wide = Contender("wide", "artifact", "pte", "int8", run, (64, 96), 8, 4, 1.0, None)
    inputs = {"tile128": ("tile", np.zeros((1, 3, 128, 128), np.float32)), "frame720p": ("frame", random_frame(4))}
    times = time_interleaved([wide], inputs, 2)
    assert set(times) == {("wide", "frame720p")} and len(times[("wide", "frame720p")]) == 2
    assert set(shapes) == {(64, 96)}


def test_conv_floor_keeps_every_conv(tmp_path):
    """The skeleton is the model's convolutions, every one of them, and nothing else once exported."""
    from export.conv_floor import ConvSkeleton
    from quant.deploy_form import to_deploy_form
    from seemore_edge import build_model

    model = to_deploy_form(build_model("tiny", 4, "fixed", (2,)))
    calls = []
    hooks = [m.register_forward_hook(lambda mod, i, o: calls.append(mod.weight[0].numel() * o.numel()))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.rand(1, 3, 24, 40))
    for h in hooks:
        h.remove()
    skeleton = ConvSkeleton(model, (24, 40))
    assert len(skeleton.convs) == len(calls) and skeleton.macs == sum(calls)
    from export import backend
    from export.throughput import PtqSource

    audit = backend("pte").export(PtqSource(skeleton, (24, 40)), "int8", (24, 40), tmp_path / "floor.pte")
    ops = {op: n["delegated"] for op, n in audit["ops"].items() if op != "getitem"}
    assert audit["partitions"] == 1 and not audit["not_delegated"]
    assert ops["aten_convolution_default"] == len(calls), ops
    assert all("convolution" in op or "quantize" in op for op in ops), ops


def test_tile_sweep_times_each_tile_in_both_runtimes(tiny_qat, tmp_path, capsys):
    code, stdout, err = run_tool(bench, ["--qat", str(tiny_qat), "--tile-sweep", "48,64", "--threads", "1", "--runs",
                                         "2", "--out", str(tmp_path), "--json", str(tmp_path / "sweep.json")], capsys)
    assert code == 0, err
    payload = json.loads((tmp_path / "sweep.json").read_text())
    recs = payload["tile_sweep"]
    runtimes = ["executorch", "litert"]
    if browser_missing() is None:  # the demo page, the .tflite files again
        runtimes.append(BROWSER)
    assert payload["browser_skipped"] == browser_missing()
    assert sorted((r["runtime"], r["tile"][0]) for r in recs) == sorted((rt, side) for rt in runtimes for side in (48, 64))
    for r in recs:
        assert r["runs"] == 2 and 0 < r["min_ms"] <= r["median_ms"] and r["computed_per_pixel"] > 1
        assert r["scale"] == 4 and scale_of({k: v for k, v in r.items() if k != "scale"}) == 4  # old records too
        assert r["format"] == ("pte" if r["runtime"] == "executorch" else "tflite")
        assert (r["runtime"] == BROWSER) == ("wasm_threads" in r)
    # Smaller tiles compute more overlap per photo pixel.
    by = {(r["runtime"], r["tile"][0]): r for r in recs}
    assert by[("executorch", 48)]["computed_per_pixel"] > by[("executorch", 64)]["computed_per_pixel"]
    report = (tmp_path / "tile_sweep.md").read_text()
    assert "| tiny-qat-int8.pte | executorch | 48x48 |" in report and "LR photo (x4)" in report
    code, _, err = run_tool(bench, ["--qat", str(tiny_qat), "--tile-sweep", "big", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--tile-sweep big" in err


def _sweep_record(fmt, side, median_ms, min_ms):
    return {"format": fmt, "tile": [side, side], "median_ms": median_ms, "min_ms": min_ms}  # no runtime: old records


def test_photo_tile_choice_needs_a_win_beyond_noise_on_medians_and_fastest_runs():
    recs = [_sweep_record("pte", 128, 100, 90), _sweep_record("pte", 256, 96, 80),  # 4% on the medians: noise
            _sweep_record("tflite", 128, 100, 90), _sweep_record("tflite", 192, 80, 88),  # medians only
            _sweep_record("tflite", 256, 90, 80)]  # 11% / 12%: chosen
    assert chosen_tiles(recs) == {"executorch": (128, 128), "litert": (256, 256)}
    assert chosen_tiles([_sweep_record("pte", 256, 50, 40)]) == {}  # no 128 tile to beat


def test_sweep_header_names_the_records_scale():
    x2 = [{**_sweep_record("tflite", side, 100.0, 90.0), "file": f"m-x2-{side}.tflite", "runtime": "litert", "calls": 4,
           "computed_per_pixel": 1.5, "ms_per_output_mp": round(100.0 / (480 * 640 * 4 / 1e6), 1), "threads": 2,
           "runs": 5, "photo_lr": [480, 640]} for side in (128, 256)]
    assert "LR photo (x2)" in sweep_lines(x2)[0]
    assert "LR photo (x3)" in sweep_lines([{**r, "scale": 3} for r in x2])[0]


@pytest.mark.parametrize("name", SWEEPS)
def test_photo_tiles_follow_the_committed_sweeps(name):
    """Each format's photo tile (export.PHOTO_TILES) is what each committed sweep (INT8 dot-product hosts, the phones' kind) chose."""
    record = json.loads((REPO / "docs" / "bench" / name).read_text())
    assert record["cpu"]["int8_dot_product"], "the photo tiles must be chosen on an INT8 dot-product host"
    chosen = chosen_tiles(record["tile_sweep"])
    assert {"executorch", "litert"} <= set(chosen), chosen
    # The demo page exports the .tflite photo tile: where the page was timed, it must have chosen that one too.
    tile_of = {"executorch": photo_tile("pte"), "litert": photo_tile("tflite"), BROWSER: photo_tile("tflite")}
    assert chosen == {runtime: tile_of[runtime] for runtime in chosen}
