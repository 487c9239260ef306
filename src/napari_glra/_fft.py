"""FFT grid sizes, centred filter spectra and mirror padding, shared by every FFT user.

Private helpers of the package (the network's Fourier block, the border extension,
the tiling's memory estimate and the classical baselines); they import nothing else
of napari_glra.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import fft as sfft

__all__ = ["centred_rfft2", "fft_pads", "next_fast_len", "pad_for_fft", "symmetric_pad"]


def next_fast_len(n: int) -> int:
    """Smallest even length ``>= n`` whose prime factors are at most 11 (FFT grids).

    torch's real FFTs on odd lengths are about twice as slow as on nearby even ones
    (e.g. 1215 vs 1232 or 1260), and lengths with factors up to 11 are all fast.
    """
    m = max(2, int(n) + int(n) % 2)
    while True:
        r = m
        for f in (2, 3, 5, 7, 11):
            while r % f == 0:
                r //= f
        if r == 1:
            return m
        m += 2


def centred_rfft2(w: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """rfft2 over the last two axes of filters whose centre goes to (0, 0)."""
    kh, kw = w.shape[-2:]
    pad = w.new_zeros(tuple(w.shape[:-2]) + tuple(shape))
    pad[..., :kh, :kw] = w
    pad = torch.roll(pad, (-(kh // 2), -(kw // 2)), dims=(-2, -1))
    return torch.fft.rfft2(pad)


def pad_for_fft(
    y: np.ndarray, kernel_shape: tuple[int, int], fast_len: Callable[[int], int] | None = None
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Mirror-pad an image for FFT deconvolution and give the crop back.

    Each side gets at least ``2 * max(kernel_shape)`` pixels of symmetric
    padding; the padded size is rounded up to a fast FFT length.

    Parameters
    ----------
    y : numpy.ndarray
        2D image.
    kernel_shape : tuple of int
        Shape of the blur kernel.
    fast_len : callable, optional
        The padded length for a minimum length (default: scipy's fast real-FFT
        length, 5-smooth).

    Returns
    -------
    padded : numpy.ndarray
        The padded image.
    crop : tuple of slice
        ``padded[crop]`` is ``y``.
    """
    pads, crop = fft_pads(y.shape, kernel_shape, fast_len)
    return np.pad(y, pads, mode="symmetric"), crop


def fft_pads(
    shape: tuple[int, ...], kernel_shape: tuple[int, ...], fast_len: Callable[[int], int] | None = None
) -> tuple[list[tuple[int, int]], tuple[slice, slice]]:
    """The ``(before, after)`` pads of :func:`pad_for_fft` for a 2D ``shape``, and the crop back."""
    p = 2 * int(max(kernel_shape))
    pads = []
    crop = []
    for n in shape:
        total = sfft.next_fast_len(n + 2 * p, real=True) if fast_len is None else int(fast_len(n + 2 * p))
        before = (total - n) // 2
        pads.append((before, total - n - before))
        crop.append(slice(before, before + n))
    return pads, (crop[0], crop[1])


def symmetric_pad(t: torch.Tensor, pads: list[tuple[int, int]]) -> torch.Tensor:
    """``numpy.pad(t, pads, mode="symmetric")`` of the last two axes of a tensor (any pad width)."""
    out = t
    for axis, (before, after) in zip((-2, -1), pads):
        n = t.shape[axis]
        idx = torch.arange(-before, n + after, device=t.device) % (2 * n)
        idx = torch.where(idx >= n, 2 * n - 1 - idx, idx)
        out = out.index_select(axis % out.ndim, idx)
    return out
