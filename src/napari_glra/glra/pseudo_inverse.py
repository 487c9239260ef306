"""Regularised pseudo-inverse kernels k† (the input of the GLRA representation).

k† = IFFT( conj(K) / (|K|² + reg · P) ), with ``P = |∇|²`` (smoothness prior,
default) or ``P = 1`` (the authors' released code, ``reg = 0.01``), centred
and cropped to ``size × size``.  The weight follows the noise level by
default: ``reg = noise_reg(noise_level)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft

__all__ = ["DEFAULT_SIZE", "noise_reg", "psf2otf", "pseudo_inverse", "gradient_power"]

#: Side of the cropped pseudo-inverse (the authors' code uses 151).
DEFAULT_SIZE = 151

#: reg = REG_SCALE * sigma**REG_POWER: about 0.3x the Wiener-optimal weight measured on
#: BSDS500 train crops (``benchmarks/tune_reg.py``), leaving detail for the network.
REG_SCALE = 15.0
REG_POWER = 1.0

#: Penalty of the ``v = k * x`` splitting of the ADMM solvers with a *valid* data term (only
#: observed pixels are data): ``classical``'s ``boundary="valid"`` and the engine's border extension.
VALID_MU = 0.1


def noise_reg(noise_level: float) -> float:
    """Regularisation weight of the gradient prior matched to a noise level.

    Parameters
    ----------
    noise_level : float
        Noise standard deviation on the [0, 1] intensity scale (0.01 = 1 %).

    Returns
    -------
    float
        The weight ``reg`` used by :func:`pseudo_inverse`.
    """
    s = float(noise_level)
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"noise_level must be a finite number >= 0, got {noise_level!r}")
    return REG_SCALE * max(s, 1e-4) ** REG_POWER


def psf2otf(psf: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Optical transfer function of a centred PSF on an FFT grid.

    Parameters
    ----------
    psf : numpy.ndarray
        2D kernel, its centre at ``(h // 2, w // 2)``.
    shape : tuple of int
        FFT grid, at least as large as the kernel.

    Returns
    -------
    numpy.ndarray
        Complex ``shape`` array, ``fft2`` of the kernel moved to the origin.
    """
    psf = np.asarray(psf, dtype=np.float64)
    h, w = psf.shape
    if h > shape[0] or w > shape[1]:
        raise ValueError(f"kernel {psf.shape} is larger than the FFT grid {shape}")
    pad = np.zeros(shape)
    pad[:h, :w] = psf
    pad = np.roll(pad, (-(h // 2), -(w // 2)), axis=(0, 1))
    return np.fft.fft2(pad)


def gradient_power(shape: tuple[int, int], half: bool = False) -> np.ndarray:
    """|D_x|² + |D_y|² of forward differences on an FFT grid.

    With ``half`` only the rfft half-plane (``shape[1] // 2 + 1`` columns) is computed:
    the same values as ``gradient_power(shape)[:, : shape[1] // 2 + 1]``.
    """
    u = np.fft.fftfreq(shape[0])[:, None]
    v = (np.fft.rfftfreq if half else np.fft.fftfreq)(shape[1])[None, :]
    return (2 - 2 * np.cos(2 * np.pi * u)) + (2 - 2 * np.cos(2 * np.pi * v))


@lru_cache(maxsize=8)
def _half_gradient_power(n: int) -> np.ndarray:
    """``gradient_power((n, n))`` restricted to the rfft half-plane (cached)."""
    return gradient_power((n, n), half=True)


def pseudo_inverse(
    k: np.ndarray,
    size: int = DEFAULT_SIZE,
    reg: float | None = None,
    noise_level: float | None = None,
    prior: str = "gradient",
    fft_size: int | None = None,
    taper: float = 0.25,
) -> np.ndarray:
    """Regularised inverse of a blur kernel, centred and cropped.

    Parameters
    ----------
    k : numpy.ndarray
        2D blur kernel (centred, summing to one).
    size : int
        Odd side of the returned pseudo-inverse (default 151).
    reg : float, optional
        Regularisation weight.  If omitted it is derived from
        ``noise_level`` with :func:`noise_reg`; if both are omitted,
        ``noise_level=0.01`` is assumed.
    noise_level : float, optional
        Noise standard deviation on the [0, 1] scale.
    prior : {"gradient", "identity"}
        ``"gradient"``: ``reg · |∇|²`` (smoothness prior);
        ``"identity"``: ``reg`` (the authors' ``conj(K)/(|K|²+0.01)``).
    fft_size : int, optional
        FFT grid side (default: ``2 * size + 1`` rounded up, >= kernel).
    taper : float
        Fraction of ``size`` on each side rolled off by a raised cosine
        before the crop is rescaled to the full inverse's DC gain.  The
        inverse of a disk or motion kernel has long tails; a hard crop to
        ``size`` loses up to several dB (wrong brightness, ringing), the
        taper + gain correction keeps the crop within ~0.1 dB of the full
        FFT inverse.  ``0`` gives the plain crop.

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` float64 pseudo-inverse kernel.
    """
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"kernel must be a non-empty 2D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel contains NaN or inf")
    if int(size) != size or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size!r}")
    if reg is None:
        reg = noise_reg(0.01 if noise_level is None else noise_level)
    if not np.isfinite(reg) or reg <= 0:
        raise ValueError(f"reg must be a positive number, got {reg!r}")
    if prior not in ("gradient", "identity"):
        raise ValueError(f"prior must be 'gradient' or 'identity', got {prior!r}")
    n = fft_size or sfft.next_fast_len(max(2 * size + 1, 2 * max(k.shape) + 1), real=True)
    if n < max(size, *k.shape):
        raise ValueError(f"fft_size {n} is smaller than the kernel or the crop size")
    h, w = k.shape
    pad = np.zeros((n, n))
    pad[:h, :w] = k
    K = sfft.rfft2(np.roll(pad, (-(h // 2), -(w // 2)), axis=(0, 1)))
    P = _half_gradient_power(n) if prior == "gradient" else 1.0
    kinv = sfft.irfft2(np.conj(K) / (np.abs(K) ** 2 + reg * P + 1e-12), s=(n, n))
    gain = kinv.sum()
    kinv = np.fft.fftshift(kinv)
    c = n // 2
    h = size // 2
    crop = kinv[c - h : c + h + 1, c - h : c + h + 1]
    if not 0 <= taper <= 0.5:
        raise ValueError(f"taper must be in [0, 0.5], got {taper!r}")
    width = int(round(taper * size))
    if width > 0:
        win = np.ones(size)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(width) / width)
        win[:width] = ramp
        win[-width:] = ramp[::-1]
        crop = crop * np.outer(win, win)
        crop *= gain / crop.sum()
    return crop
