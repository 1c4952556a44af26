"""The browser demo: its JavaScript tiler under Node's own test runner, its server, and the page itself in Debian's
Chromium driven through its hook (``window.seemoreDemo``), against the Python LiteRT runner's pixels."""
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from export.verify import artifact_upscaler
from seemore_edge import demo
from seemore_edge.core.errors import UserError
from seemore_edge.core.tiling import make_grid
from seemore_edge.pipelines.browser_page import BrowserPage, PageError, browser_missing, png_data_url
from seemore_edge.pipelines.demo_server import WEB_DEMO, page_root, start_server
from tests.conftest import REPO, need, run_tool

# Measured: the tiny models below give the native runner's pixels exactly (0 values differ); the shipped T-x4-qat
# INT8 .tflite differs in 0.12% of its values on Set5+Set14+BSD100, by at most 4 levels, with PSNR equal to 4
# decimals (docs/records/browser_T-x4-qat-int8.json): XNNPACK's WASM and x86 INT8 kernels round a few
# requantizations differently. The bound doubles those figures; a tiling, padding, blending or colour error moves
# whole regions and breaks it by orders of magnitude.
MAX_LEVELS, MAX_DIFFERING = 8, 0.0025


def _why(check) -> str | None:
    try:
        check()
    except UserError as e:
        return str(e)
    return None


# Each fixture skips its test when the tool is absent (fails it where CI requires the browser); module-scoped and
# listed before the fixture that exports, so a skip costs nothing.
@pytest.fixture(scope="module")
def node():
    need("browser", None if shutil.which("node") else "Node.js is not installed")


@pytest.fixture(scope="module")
def litertjs():
    need("browser", _why(page_root))


@pytest.fixture(scope="module")
def browser():
    need("browser", browser_missing())


def test_js_tiler_passes_the_golden_vectors(node):
    result = subprocess.run(["node", "--test", "test/"], cwd=WEB_DEMO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    cases = len(json.loads((REPO / "tests" / "golden" / "tiling.json").read_text())["cases"])
    assert int(re.search(r"# pass (\d+)", result.stdout).group(1)) >= cases
    assert "# fail 0" in result.stdout


@pytest.fixture(scope="module")
def tiny_tflite(tiny_qat, tmp_path_factory):
    """The tiny INT8 and FP32 models as .tflite with their cards, a 32 tile (several tiles per test image)."""
    from seemore_edge import export as export_tool

    out = tmp_path_factory.mktemp("demo_artifacts")
    assert export_tool.main(["--weights", str(tiny_qat), "--formats", "tflite", "--precision", "int8,fp32", "--tile",
                             "32", "--overlap", "4", "--out", str(out), "--sets", "samples"]) == 0
    return out


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, b""


def test_server_sends_isolation_headers_and_only_what_the_page_needs(litertjs, tiny_tflite):
    pending = ["T-x2-qat-int8.tflite"]
    with start_server(tiny_tflite, pending=lambda: pending) as server:
        status, headers, body = _get(server.url)
        assert status == 200 and b'<script type="importmap">' in body
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        status, headers, body = _get(server.url + "models/index.json")
        index = json.loads(body)
        assert [m["file"] for m in index["models"]] == ["tiny-qat-fp32.tflite", "tiny-qat-int8.tflite"]
        # The page selects the x4 INT8 file first (not the alphabetical first), and lists what is still exporting.
        assert index["default"] == "tiny-qat-int8.tflite" and index["pending"] == pending
        pending.clear()
        assert json.loads(_get(server.url + "models/index.json")[2])["pending"] == []
        status, headers, body = _get(server.url + "models/tiny-qat-int8.tflite")
        assert status == 200 and body == (tiny_tflite / "tiny-qat-int8.tflite").read_bytes()
        status, headers, _ = _get(server.url + "vendor/litertjs-core/wasm/litert_wasm_threaded_internal.wasm")
        assert status == 200 and headers["Content-Type"] == "application/wasm"
        for path in ["models/../tiny-qat-int8.tflite.json", "models/nothing.tflite", "vendor/litertjs-core",
                     "package.json", "src/../package.json", "node_modules/@litertjs/core/package.json"]:
            assert _get(server.url + path)[0] == 404, path


def test_demo_tool_refuses_bad_folders_before_anything_else(tmp_path, capsys):
    """The user's folder is checked before the page's packages: the same line with or without ``npm ci``."""
    code, _, err = run_tool(demo, ["--artifacts", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "no .tflite file with its card" in err
    code, _, err = run_tool(demo, ["--artifacts", str(tmp_path / "missing")], capsys)
    assert code == 2 and err.count("\n") == 1 and "not a folder" in err


def test_demo_tool_serves_a_folder(litertjs, tiny_tflite):
    proc = subprocess.Popen([sys.executable, "-m", "seemore_edge.demo", "--artifacts", str(tiny_tflite), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stdout.readline()
        url = re.search(r"(http://localhost:\d+/)", line).group(1)
        status, headers, body = _get(url + "models/index.json")
        assert status == 200 and len(json.loads(body)["models"]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_demo_tool_serves_its_default_first_and_exports_the_rest_behind_it(litertjs, tiny_qat, tmp_path):
    """Without --artifacts the demo exports the page's default (INT8 at the .tflite photo tile) and serves at once;
    the other files follow in the background and appear in the index as each is ready."""
    proc = subprocess.Popen([sys.executable, "-m", "seemore_edge.demo", "--weights", str(tiny_qat), "--port", "0",
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        lines = []
        while not (lines and lines[-1].startswith("serving ")):
            lines.append(proc.stdout.readline())
            assert lines[-1], "".join(lines)
        folder = tmp_path / "out" / "demo" / "artifacts"
        assert [p.name for p in folder.glob("*.tflite")] == ["tiny-qat-int8.tflite"], "".join(lines)
        assert "exporting 3 more model(s) behind it" in lines[-1]
        url = re.search(r"(http://localhost:\d+/)", lines[-1]).group(1)
        index = json.loads(_get(url + "models/index.json")[2])
        assert index["default"] == "tiny-qat-int8.tflite" and len(index["pending"]) + len(index["models"]) == 4
        for _ in range(300):
            if not index["pending"]:
                break
            time.sleep(1)
            index = json.loads(_get(url + "models/index.json")[2])
        assert index["pending"] == [] and sorted(m["file"] for m in index["models"]) == [
            "tiny-qat-fp32-180x320.tflite", "tiny-qat-fp32.tflite", "tiny-qat-int8-180x320.tflite",
            "tiny-qat-int8.tflite"]
        assert index["default"] == "tiny-qat-int8.tflite"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _photo(h, w, seed=0):
    """A smooth image with edges (not noise: the model's output then varies as on photos)."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    img = np.stack([128 + 100 * np.sin(x / (5 + 3 * c) + y / (7 + c)) for c in range(3)], -1)
    img += rng.normal(0, 8, img.shape) + 60 * ((x + 2 * y) % 23 < 6)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def test_page_computes_the_python_litert_pixels(browser, tiny_tflite):
    images = [_photo(50, 70), _photo(20, 13, 1), _photo(32, 32, 2)]  # many tiles; smaller than a tile; one tile
    with BrowserPage(tiny_tflite, 2) as page:
        assert page.models() == ["tiny-qat-fp32.tflite", "tiny-qat-int8.tflite"]
        assert page.call("text", id="model") == "tiny-qat-int8.tflite"  # the server's default, selected
        # Chromium runs with --disable-gpu here: navigator.gpu exists but gives no adapter, and the page says so.
        assert "WebGPU not available (no GPU adapter)" in page.call("text", id="runtime")
        for model in page.models():
            _, native = artifact_upscaler(tiny_tflite / model, 1)
            for image in images:
                sr, info = page.upscale_array(image, model)
                ref = native(image)
                assert sr.shape == ref.shape == (image.shape[0] * 4, image.shape[1] * 4, 3)
                diff = np.abs(sr.astype(int) - ref.astype(int))
                assert diff.max() <= MAX_LEVELS and np.mean(diff > 0) <= MAX_DIFFERING, (model, image.shape)
                assert info["tiles"] == len(make_grid(*image.shape[:2], (32, 32), 4))
                assert info["accelerator"] == "wasm" and info["ms"] > 0


# Measured on the tiny models at a 64 tile (a 60x84 image): on WebGPU the FP32 file differs from Python's LiteRT by 1 level
# at most (0.001% of values); the INT8 file in 2.3% of values, by up to 7 levels: LiteRT.js's WebGPU path does not round
# the INT8 requantizations as XNNPACK does (the shipped INT8 files: docs/records/browser_webgpu_*.json). Bounds: about
# twice those figures.
WEBGPU_BOUNDS = {"fp32": (2, 0.0001), "int8": (14, 0.05)}


def test_page_on_webgpu_gives_the_python_litert_pixels(browser, tiny_tflite):
    """The page's GPU path in Chromium's software adapter (SwiftShader): the WebGPU API and shaders a phone's GPU
    gets, run on this CPU, one image per model against Python's LiteRT on the same file."""
    image = _photo(50, 70)
    with BrowserPage(tiny_tflite, 2, "webgpu") as page:
        assert page.adapter is not None and "WebGPU available" in page.call("text", id="runtime")
        for model in page.models():
            card, native = artifact_upscaler(tiny_tflite / model, 1)
            sr, info = page.upscale_array(image, model)
            diff = np.abs(sr.astype(int) - native(image).astype(int))
            levels, share = WEBGPU_BOUNDS[card.precision]
            assert info["accelerator"] == "webgpu" and info["tiles"] == len(make_grid(50, 70, (32, 32), 4))
            assert diff.max() <= levels and np.mean(diff > 0) <= share, (model, diff.max(), np.mean(diff > 0))


def test_bench_times_the_page_on_webgpu_and_says_it_is_software(browser, tiny_tflite):
    """The bench's browser contender with ``--accelerator webgpu``: here Chromium's software adapter, so every record
    says so and the report calls none of it a GPU's latency."""
    from seemore_edge.pipelines.bench_report import browser_lines
    from seemore_edge.pipelines.bench_run import browser_records

    got = browser_records(tiny_tflite, [1], 2, ["webgpu"])
    assert not got["refused"] and {r["file"] for r in got["records"]} == {p.name for p in tiny_tflite.glob("*.tflite")}
    for r in got["records"]:
        assert r["input"] == "frame720p" and r["runs"] == 2 and 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["accelerator"].startswith("webgpu") and r["software"] is True
    text = "\n".join(browser_lines(got))
    assert "webgpu (software adapter)" in text and "they are not a phone GPU's latency" in text


def test_page_refuses_bad_input_in_one_line_and_stays_usable(browser, tiny_tflite, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(tiny_tflite, folder)
    # A card from another export (its sha256 is of another file), and a card whose tile is not the model's.
    card = json.loads((folder / "tiny-qat-int8.tflite.json").read_text())
    shutil.copy(folder / "tiny-qat-int8.tflite", folder / "other-int8.tflite")
    (folder / "other-int8.tflite.json").write_text(json.dumps(card | {"file": "other-int8.tflite", "sha256": "0" * 64}))
    shutil.copy(folder / "tiny-qat-int8.tflite", folder / "wrongtile-int8.tflite")
    (folder / "wrongtile-int8.tflite.json").write_text(json.dumps(
        card | {"file": "wrongtile-int8.tflite", "tile": [48, 48], "input": card["input"] | {"shape": [1, 3, 48, 48]},
                "output": card["output"] | {"shape": [1, 3, 192, 192]}}))
    good = png_data_url(_photo(40, 40))
    with BrowserPage(folder) as page:
        bad = [(png_data_url(_photo(5, 30)), "tiny-qat-int8.tflite", "too small"),
               ("data:text/plain,hello", "tiny-qat-int8.tflite", "not an image"),
               (good, "other-int8.tflite", "sha256"),
               (good, "wrongtile-int8.tflite", "the model's input is 1x3x32x32, the card says 1x3x48x48"),
               (good, "nothing.tflite", "not a model this page offers")]
        for url, model, words in bad:
            with pytest.raises(PageError) as e:
                page.upscale(url, model)
            assert words in str(e.value) and "\n" not in str(e.value)
            assert page.call("errorLine") == str(e.value)  # shown on the page, the same line
            sr, _ = page.upscale_array(_photo(40, 40), "tiny-qat-int8.tflite")  # and the page still works
            assert sr.shape == (160, 160, 3) and page.call("errorLine") == ""


def test_evaluate_in_browser_scores_and_compares_with_native(browser, tiny_tflite, tmp_path, capsys):
    from seemore_edge import evaluate

    (tmp_path / "root" / "One" / "HR").mkdir(parents=True)
    Image.fromarray(_photo(88, 120)).save(tmp_path / "root" / "One" / "HR" / "x.png")
    code, out, err = run_tool(evaluate, ["--artifact", str(tiny_tflite / "tiny-qat-int8.tflite"), "--in-browser",
                                         "--data-root", str(tmp_path / "root"), "--sets", "One", "--json",
                                         str(tmp_path / "b.json")], capsys)
    assert code == 0, err
    browser = json.loads((tmp_path / "b.json").read_text())
    code, _, err = run_tool(evaluate, ["--artifact", str(tiny_tflite / "tiny-qat-int8.tflite"), "--data-root",
                                       str(tmp_path / "root"), "--sets", "One", "--json", str(tmp_path / "n.json")],
                            capsys)
    native = json.loads((tmp_path / "n.json").read_text())
    assert abs(browser["sets"]["One"]["psnr"] - native["sets"]["One"]["psnr"]) <= 0.01
    assert browser["agreement"]["images"] == 1 and browser["agreement"]["max_level_difference"] <= MAX_LEVELS
    code, _, err = run_tool(evaluate, ["--weights", "T-x4", "--in-browser"], capsys)
    assert code == 2 and "--in-browser runs a .tflite" in err
    code, _, err = run_tool(evaluate, ["--artifact", str(tiny_tflite / "tiny-qat-int8.tflite"), "--accelerator",
                                       "webgpu"], capsys)
    assert code == 2 and "--accelerator is the demo page's: it goes with --in-browser" in err
