"""One vocabulary and two kinds of failure across the tools: a user's mistake is one line and exit status 2; a bug is
one line saying it is one, exit status 1, and ``--debug`` shows its traceback. ``upscale --artifact`` writes exactly
the pixels ``evaluate --artifact`` scores."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from seemore_edge import evaluate, export as export_tool, info, upscale
from seemore_edge.core.datasets import make_pair
from seemore_edge.core.metrics import psnr_y
from tests.conftest import REPO, run_tool

TOOLS = sorted(p.stem for p in (REPO / "seemore_edge").glob("*.py") if "cli.run(main)" in p.read_text())


def test_a_bug_is_not_disguised_as_bad_input(monkeypatch, capsys):
    def broken(*_, **__):
        raise KeyError("params")
    monkeypatch.setattr("seemore_edge.core.complexity.count_params", broken)
    code, _, err = run_tool(info, ["--preset", "tiny"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "internal error (a bug, not your input): KeyError" in err and "--debug" in err
    with pytest.raises(KeyError):
        from seemore_edge import cli
        cli.run(info.main, ["--preset", "tiny", "--debug"])


@pytest.mark.parametrize("tool", TOOLS)
def test_help_answers_before_torch_loads(tool):
    """``--help`` of every tool is read before anything heavy is imported (torch alone takes about 2 s to import
    here; the tools took 2-7 s to answer), so it answers at once. Checked by what is imported, not by a time."""
    probe = ("import runpy, sys\n"
             f"sys.argv = ['{tool}', '--help']\n"
             "try:\n"
             f"    runpy.run_module('seemore_edge.{tool}', run_name='__main__')\n"
             "except SystemExit as e:\n"
             "    assert e.code in (0, None), e.code\n"
             "print(sorted(m for m in ('torch', 'matplotlib', 'skimage', 'executorch', 'coremltools', 'litert_torch') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: python -m seemore_edge." + tool in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]", f"{tool} --help imports {result.stdout.splitlines()[-1]}"


def test_bad_input_is_one_line(capsys):
    code, _, err = run_tool(info, ["--preset", "Q"], capsys)
    assert code == 2 and err.count("\n") == 1 and "unknown preset 'Q'" in err
    code, _, err = run_tool(evaluate, ["--weights", "T-x9"], capsys)
    assert code == 2 and "no shipped weights named 'T-x9'" in err


def test_upscale_artifact_writes_what_evaluate_artifact_scores(tiny_qat, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out = tmp_path / "artifacts"
    assert export_tool.main(["--weights", str(tiny_qat), "--formats", "tflite", "--precision", "int8", "--tile", "32",
                             "--overlap", "4", "--out", str(out), "--sets", "samples"]) == 0
    artifact = out / "tiny-qat-int8.tflite"
    rng = np.random.default_rng(3)
    hr = (rng.random((88, 120, 3)) * 255).astype(np.uint8)
    (tmp_path / "root" / "One" / "HR").mkdir(parents=True)
    Image.fromarray(hr).save(tmp_path / "root" / "One" / "HR" / "x.png")
    pair = make_pair("x", hr, 4)
    (tmp_path / "lr").mkdir()
    Image.fromarray(pair.lr).save(tmp_path / "lr" / "x.png")
    code, _, err = run_tool(upscale, [str(tmp_path / "lr"), str(tmp_path / "sr"), "--artifact", str(artifact)], capsys)
    assert code == 0, err
    sr = np.asarray(Image.open(tmp_path / "sr" / "x.png"))
    assert sr.shape == pair.hr.shape
    code, _, err = run_tool(evaluate, ["--artifact", str(artifact), "--data-root", str(tmp_path / "root"), "--sets",
                                       "One", "--json", str(tmp_path / "e.json")], capsys)
    assert code == 0, err
    scored = json.loads((tmp_path / "e.json").read_text())["sets"]["One"]["psnr"]
    assert scored == round(psnr_y(sr, pair.hr, 4), 4)
    code, _, err = run_tool(upscale, [str(tmp_path / "lr" / "x.png"), str(tmp_path / "y.png"), "--artifact",
                                      str(artifact), "--tile", "64"], capsys)
    assert code == 2 and "artifact card's" in err and not (tmp_path / "y.png").exists()
