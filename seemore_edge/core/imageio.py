"""Reading photos as the network expects them, and writing results so a crash never leaves half a file."""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UserError

DEFAULT_MAX_PIXELS = 16_000_000  # LR pixels; at x4 the output alone is 16x that, so the guard protects memory too
_UMASK = os.umask(0)
os.umask(_UMASK)
WRITABLE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An 8-bit RGB HxWx3 array of any readable photo.

    EXIF orientation is applied (phones store rotated pixels); grayscale is replicated to three channels; alpha is
    dropped (it is not upscaled); 16-bit data is rounded to 8 bits. Every way a file can be unusable raises UserError.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise UserError(f"{p}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise UserError(f"{p}: {w}x{h} is {w * h / 1e6:.1f} MP, above the {max_pixels / 1e6:.1f} MP limit "
                                    "(decompression-bomb guard)")
                im.load()
                im = ImageOps.exif_transpose(im)
                return _to_rgb8(im)
    except UserError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{p}: not a readable image ({type(e).__name__})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{p}: truncated or corrupt image ({e})") from None


def _to_rgb8(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im).astype(np.float64)
        a = np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode == "F":
        a = np.clip(np.round(np.asarray(im) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def check_writable(path: str | os.PathLike) -> Path:
    """Fail before any work is done if ``path`` cannot be written as an image."""
    p = Path(path)
    if p.suffix.lower() not in WRITABLE_SUFFIXES:
        raise UserError(f"{p}: unknown image type {p.suffix!r}; use one of {', '.join(sorted(WRITABLE_SUFFIXES))}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{p}: folder {parent} does not exist")
    try:  # try it for real: permission bits say nothing for root or on read-only mounts
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"{p}: not writable ({e.strerror})") from None
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"{p}: not writable")
    return p


def atomic_write(path: str | os.PathLike, write, suffix: str = "") -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` and rename it into place only if it succeeds."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix or p.suffix, dir=p.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; results should get the usual permissions
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    p = check_writable(path)
    atomic_write(p, lambda tmp: Image.fromarray(image).save(tmp, format=Image.registered_extensions()[p.suffix.lower()]))
