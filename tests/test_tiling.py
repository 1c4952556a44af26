"""The tiling specification (seemore_edge/tiling.py) and the ``upscale`` tool built on it."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_edge import upscale
from seemore_edge.core import scoring as evaluation
from seemore_edge.core.tiling import as_tile, axis_starts, make_grid, mirror_index, pad_to_tile, upscale_tiled
from tests.conftest import run_tool


def nearest(scale):
    """A pointwise 'model': with it, any correct tiling must reproduce whole-image nearest-neighbour upscaling."""
    return lambda t: t.repeat(scale, axis=2).repeat(scale, axis=3)


def test_grid_rules():
    assert axis_starts(100, 128, 16) == (0,)
    assert axis_starts(128, 128, 16) == (0,)
    assert axis_starts(129, 128, 16) == (0, 1)
    assert axis_starts(300, 128, 16) == (0, 112, 172)
    grid = make_grid(50, 300, (128, 128), 16)
    assert grid.padded == (128, 300) and len(grid) == 3
    frame = make_grid(180, 320, (180, 320), 16)  # a 720p frame at x4: one call
    assert (frame.ys, frame.xs, frame.padded) == ((0,), (0,), (180, 320))
    portrait = make_grid(320, 180, (180, 320), 16)
    assert (portrait.ys, portrait.xs, portrait.padded) == ((0, 140), (0,), (320, 320))
    with pytest.raises(ValueError):
        make_grid(50, 50, (32, 32), 32)


def test_tile_forms():
    assert as_tile(128) == as_tile("128") == (128, 128)
    assert as_tile("180x320") == as_tile([180, 320]) == (180, 320)
    for bad in ("", "180x", "axb", "1x2x3", [1, 2, 3], None):
        with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
            as_tile(bad)


def test_frame_tile_is_one_720p_output():
    from seemore_edge.core.tiling import frame_tile
    assert frame_tile(4) == (180, 320) and frame_tile(2) == (360, 640)
    assert frame_tile(3) == (240, 427)  # rounded up: the output covers the frame


def test_mirror_padding():
    assert mirror_index(np.arange(-3, 8), 3).tolist() == [2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1]
    img = np.arange(2 * 3).reshape(2, 3, 1)
    assert pad_to_tile(img, (5, 5))[..., 0].tolist() == [[0, 1, 2, 2, 1], [3, 4, 5, 5, 4], [3, 4, 5, 5, 4],
                                                    [0, 1, 2, 2, 1], [0, 1, 2, 2, 1]]


@pytest.mark.parametrize("size", [(16, 16), (37, 53), (64, 64), (65, 200), (130, 31)])
@pytest.mark.parametrize("tile", [(32, 32), (24, 40)])
def test_stitching_is_exact_for_a_pointwise_model(size, tile):
    img = np.random.default_rng(sum(size)).integers(0, 256, size + (3,), dtype=np.uint8)
    out = upscale_tiled(nearest(3), img, 3, tile=tile, overlap=8)
    assert np.array_equal(out, img.repeat(3, axis=0).repeat(3, axis=1))


def test_tiled_matches_whole_image_on_set14(data_root):
    """At the default tile, tiling costs at most 0.02 dB against whole-image inference (shipped T-x4)."""
    from seemore_edge.core.checkpoints import shipped_weights, load_model
    from seemore_edge.core.scoring import evaluate_sets, model_upscaler
    from seemore_edge.core.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

    if "T-x4" not in shipped_weights():
        pytest.fail("T-x4 weights are not shipped")
    model = load_model(shipped_weights()["T-x4"])
    whole = evaluate_sets(model_upscaler(model), data_root, ["Set14"], 4, progress=False)
    tiled = evaluate_sets(evaluation.tiled_upscaler(evaluation.torch_runner(model), 4, DEFAULT_TILE, DEFAULT_OVERLAP),
                          data_root, ["Set14"], 4, progress=False)
    assert abs(whole["sets"]["Set14"]["psnr"] - tiled["sets"]["Set14"]["psnr"]) <= 0.02, (whole, tiled)


def test_upscale_writes_the_image(tiny_checkpoint, tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 70, 3), dtype=np.uint8)).save(src)
    code, out, _ = run_tool(upscale, [str(src), str(tmp_path / "out.png"), "--weights", str(tiny_checkpoint),
                                      "--tile", "32", "--overlap", "8"], capsys)
    assert code == 0 and Image.open(tmp_path / "out.png").size == (280, 160)


def test_upscale_bad_inputs_fail_cleanly(tiny_checkpoint, tmp_path, capsys):
    ok = tmp_path / "ok.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(ok)
    Image.fromarray(np.zeros((12, 40, 3), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((400, 400, 3), np.uint8)).save(tmp_path / "big.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    data = ok.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root ignores permission bits; /proc takes no new files from anyone
        locked = Path("/proc")
    ck = ["--weights", str(tiny_checkpoint)]
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    cases = {
        "missing file": ([str(tmp_path / "nope.png"), "OUT"] + ck, "no such file"),
        "zero-byte file": ([str(tmp_path / "empty.png"), "OUT"] + ck, "empty file"),
        "non-image": ([str(tmp_path / "text.png"), "OUT"] + ck, "not a readable image"),
        "truncated image": ([str(tmp_path / "cut.png"), "OUT"] + ck, "truncated"),
        "below minimum size": ([str(tmp_path / "small.png"), "OUT"] + ck, "below the model's minimum"),
        "decompression bomb": ([str(tmp_path / "big.png"), "OUT", "--max-pixels", "10000"] + ck, "decompression-bomb"),
        "unknown preset": ([str(ok), "OUT", "--preset", "Q"] + ck, "unknown preset"),
        "unknown scale": ([str(ok), "OUT", "--scale", "5"] + ck, "unknown scale"),
        "malformed tile": ([str(ok), "OUT", "--tile", "32x"] + ck, "HEIGHTxWIDTH"),
        "tile below the minimum": ([str(ok), "OUT", "--tile", "32x8", "--overlap", "2"] + ck, "below the model's minimum"),
        "scale mismatch": ([str(ok), "OUT", "--scale", "2"] + ck, "checkpoint is for x4, but x2"),
        "checkpoint not SeemoRe": ([str(ok), "OUT", "--weights", str(junk)], "not a readable PyTorch checkpoint"),
        "unwritable output": ([str(ok), str(locked / "out.png")] + ck, "not writable"),
        "output is input": ([str(ok), str(ok)] + ck, "is the input"),
    }
    for name, (argv, words) in cases.items():
        out_path = tmp_path / f"out-{name.replace(' ', '_')}.png"
        argv = [str(out_path) if a == "OUT" else a for a in argv]
        before = sorted(p.name for p in tmp_path.rglob("*"))
        code, _, err = run_tool(upscale, argv, capsys)
        assert code == 2, name
        assert err.count("\n") == 1 and words in err, (name, err)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, f"{name} left a file behind"
    assert ok.read_bytes() == data


def test_golden_vectors_match_the_python_reference():
    """The file the Kotlin and Swift ports are tested against is what the Python reference computes today."""
    import json

    from tests.golden import make_tiling

    assert json.loads(make_tiling.PATH.read_text()) == make_tiling.build()
