"""Readers, bicubic and metrics: the parts every PSNR in the project rests on."""
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from seemore_edge import imresize
from seemore_edge.core.datasets import load_set, sample_images
from seemore_edge.core.errors import UserError
from seemore_edge.core.imageio import read_image, write_image
from seemore_edge.core.metrics import mod_crop, psnr_y, rgb_to_y, ssim_y


def _png16(path, array):
    """A 16-bit PNG written by hand: Pillow cannot write 16-bit RGB."""
    h, w = array.shape[:2]
    colour = 2 if array.ndim == 3 else 0
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_reader_modes(tmp_path, rgb):
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    assert np.array_equal(read_image(tmp_path / "gray.png"), np.repeat(rgb[..., :1], 3, axis=2))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)
    deep = rgb.astype(np.uint16) * 257
    _png16(tmp_path / "rgb16.png", deep)
    assert np.abs(read_image(tmp_path / "rgb16.png").astype(int) - rgb).max() <= 1
    _png16(tmp_path / "gray16.png", deep[..., 0])
    assert np.array_equal(read_image(tmp_path / "gray16.png")[..., 1], rgb[..., 0])
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    jpg = read_image(tmp_path / "a.jpg")
    assert jpg.shape == rgb.shape and jpg.dtype == np.uint8


def test_reader_applies_exif_orientation(tmp_path):
    yy, xx = np.mgrid[0:20, 0:30]
    smooth = np.dstack([xx * 8, yy * 12, np.full_like(xx, 90)]).astype(np.uint8)  # JPEG keeps gradients
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90-degree clockwise turn
    Image.fromarray(smooth).save(tmp_path / "rot.jpg", exif=exif, quality=100)
    out = read_image(tmp_path / "rot.jpg").astype(int)
    assert out.shape == (30, 20, 3)
    assert np.abs(out - np.rot90(smooth, -1).astype(int)).mean() < 3


def test_reader_rejects_bad_files(tmp_path, rgb):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(rgb).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    for name, words in [("missing.png", "no such file"), ("empty.png", "empty"), ("text.png", "not a readable"),
                        ("cut.png", "truncated")]:
        with pytest.raises(UserError, match=words):
            read_image(tmp_path / name)
    with pytest.raises(UserError, match="decompression-bomb"):
        read_image(tmp_path / "full.png", max_pixels=100)


def test_write_is_atomic_and_checked(tmp_path, rgb):
    write_image(tmp_path / "x.png", rgb)
    assert np.array_equal(read_image(tmp_path / "x.png"), rgb)
    with pytest.raises(UserError, match="unknown image type"):
        write_image(tmp_path / "x.xyz", rgb)
    with pytest.raises(UserError, match="does not exist"):
        write_image(tmp_path / "no" / "x.png", rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_imresize_numpy_and_torch_agree(rgb):
    for scale in (1 / 4, 1 / 3, 1 / 2, 2, 3):
        a = imresize(rgb.astype(np.float64) / 255, scale)
        b = imresize(torch.from_numpy(rgb).permute(2, 0, 1).double() / 255, scale).permute(1, 2, 0).numpy()
        assert a.shape == b.shape == (int(np.ceil(20 * scale)), int(np.ceil(30 * scale)), 3)
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_imresize_keeps_constants_and_rounds_uint8(rgb):
    flat = np.full((17, 23, 3), 0.25)
    np.testing.assert_allclose(imresize(flat, 1 / 4), 0.25, atol=1e-12)
    np.testing.assert_allclose(imresize(flat, 3), 0.25, atol=1e-12)
    small = imresize(rgb, 1 / 2)
    assert small.dtype == np.uint8 and small.shape == (10, 15, 3)
    # Antialiasing: shrinking a pixel-level checkerboard by 2 averages it to grey instead of aliasing.
    board = (np.indices((32, 32)).sum(0) % 2).astype(np.float64)
    assert np.abs(imresize(board, 1 / 2)[4:-4, 4:-4] - 0.5).max() < 0.01


def test_metrics():
    img = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert psnr_y(img, img, 4) == float("inf") and ssim_y(img, img, 4) == pytest.approx(1.0)
    noisy = np.clip(img.astype(int) + 3, 0, 255).astype(np.uint8)
    assert 30 < psnr_y(noisy, img, 4) < 45
    assert rgb_to_y(np.array([[[255, 255, 255]]], np.uint8))[0, 0] == 235
    assert rgb_to_y(np.array([[[0, 0, 0]]], np.float64))[0, 0] == 16
    assert mod_crop(img[:39, :38], 4).shape == (36, 36, 3)


def test_embedded_samples_are_colour_photos():
    photos = sample_images()
    assert len(photos) == 5 and all(im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8 for _, im in photos)
    pairs = list(load_set(None, "samples", 4))
    assert all(p.lr.shape[0] * 4 == p.hr.shape[0] for p in pairs)
