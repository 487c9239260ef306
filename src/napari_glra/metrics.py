"""Image quality measures used by the demo, the trainer, the benchmarks and the tests.

One definition of each, so that every table in the project measures the same thing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["psnr", "ssim"]


def _pair(x: np.ndarray, ref: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    if x.shape != ref.shape:
        raise ValueError(f"shapes differ: {x.shape} and {ref.shape}")
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border:
        x, ref = x[..., border:-border, border:-border], ref[..., border:-border, border:-border]
    return x, ref


def psnr(x: np.ndarray, ref: np.ndarray, border: int = 0, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio of ``x`` against ``ref`` in dB.

    Parameters
    ----------
    x, ref : numpy.ndarray
        Images of the same shape.
    border : int
        Pixels ignored on each side of the last two axes.
    data_range : float
        Peak value (1 for images on the [0, 1] scale).

    Returns
    -------
    float
        ``10 log10(data_range² / MSE)``; ``inf`` for identical images.
    """
    x, ref = _pair(x, ref, border)
    mse = float(np.mean((x - ref) ** 2))
    if mse == 0:
        return float("inf")
    return float(10 * np.log10(data_range**2 / mse))


def ssim(x: np.ndarray, ref: np.ndarray, border: int = 0, data_range: float = 1.0) -> float:
    """Structural similarity (scikit-image, 7×7 uniform window) of two 2D images.

    Parameters
    ----------
    x, ref : numpy.ndarray
        2D images of the same shape.
    border : int
        Pixels ignored on each side.
    data_range : float
        Peak value (1 for images on the [0, 1] scale).

    Returns
    -------
    float
        Mean SSIM.
    """
    from skimage.metrics import structural_similarity

    x, ref = _pair(x, ref, border)
    return float(structural_similarity(x, ref, data_range=data_range))
