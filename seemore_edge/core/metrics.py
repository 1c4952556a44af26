"""PSNR and SSIM on the Y channel, by the protocol every SR paper reports (ARCHITECTURE.md, "Evaluation protocol")."""
from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of ``scale`` so that HR and upscaled LR align pixel for pixel."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma on a 0-255 scale, as MATLAB's rgb2ycbcr gives it: rounded for uint8 input, exact for float input.

    The rounding matters: the paper's bicubic row is reproduced on rounded Y (test_evaluate holds ours to it; the
    README's bicubic table sets the two side by side), while unrounded Y scores above it.
    """
    rgb = image.astype(np.float64)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    return np.round(y) if image.dtype == np.uint8 else y


def _y_pair(sr: np.ndarray, hr: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if sr.shape != hr.shape:
        raise ValueError(f"SR {sr.shape} and HR {hr.shape} differ in shape")
    a, b = rgb_to_y(sr), rgb_to_y(hr)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return a, b


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR in dB of two uint8 RGB images on Y, ``border`` pixels cropped from each side."""
    a, b = _y_pair(sr, hr, border)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM on Y as Wang et al.'s MATLAB code defines it: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, 0-255,
    population covariances, mean over the window positions that lie inside the image."""
    a, b = _y_pair(sr, hr, border)
    return float(structural_similarity(a, b, data_range=255.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, K1=0.01, K2=0.03))
