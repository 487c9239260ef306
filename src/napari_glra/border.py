"""Blur-consistent extension of an observed plane beyond its border.

The network restores a plane from its surroundings; at the image border there
are none.  Mirroring the plane makes a wrong observation there for asymmetric
(e.g. motion) kernels and the restoration rings.  Instead the engine extends
the plane by :func:`border_pad` pixels per side with :func:`extend_observation`:
a Wiener estimate of the sharp image with a *valid* data term (only observed
pixels are data), blurred again outside the observation.

The estimate is a scaled ADMM on ``v = k ∗ x`` (as ``wiener(boundary="valid")``
in :mod:`napari_glra.classical`), run in float32 with torch's FFTs, which on a
CPU are faster than scipy's for these grids, and with in-place updates.
"""

from __future__ import annotations

import numpy as np
import torch

from .classical import (
    VALID_MU,
    WIENER_VALID_ITERATIONS,
    _check_image,
    _check_kernel,
    _positive,
    _positive_int,
    mirror_pad,
)

__all__ = ["extend_observation", "border_balance", "border_pad", "border_extension"]


def _half_spectra(k: np.ndarray, shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``K`` (rfft2 of the centred kernel) and ``P = |∇|²`` on the half-spectrum of ``shape``."""
    h, w = k.shape
    pad = torch.zeros(shape, dtype=torch.float32)
    pad[:h, :w] = torch.as_tensor(k, dtype=torch.float32)
    K = torch.fft.rfft2(torch.roll(pad, (-(h // 2), -(w // 2)), (0, 1)))
    fu = torch.fft.fftfreq(shape[0], dtype=torch.float64)
    fv = torch.fft.rfftfreq(shape[1], dtype=torch.float64)
    P = (2 - 2 * torch.cos(2 * np.pi * fu))[:, None] + (2 - 2 * torch.cos(2 * np.pi * fv))[None, :]
    return K, P.float()


def _reblur_admm(
    yp: torch.Tensor,
    crop: tuple[slice, slice],
    K: torch.Tensor,
    P: torch.Tensor,
    b: float,
    iterations: int,
    mu: float,
) -> torch.Tensor:
    """``k∗x`` of the valid-data-term Wiener ADMM on the grid ``yp`` (observed on ``crop``).

    The x-update ``X = conj(K) F(v − u) / (|K|² + (b/μ) P)`` followed by ``k∗x = F⁻¹(K X)``
    is one real filter ``H = |K|² / (|K|² + (b/μ) P)`` on ``v − u``.  The v-update is
    ``(M y + μ (k∗x + u)) / (M + μ)``: ``(y + μ (k∗x + u)) / (1 + μ)`` on the observed
    pixels and ``k∗x + u`` elsewhere, where the dual ``u`` then stays zero.
    """
    shape = tuple(yp.shape)
    K2 = K.real.square() + K.imag.square()
    H = K2 / (K2 + (b / mu) * P)
    v = torch.fft.irfft2(K * torch.fft.rfft2(yp), s=shape)
    u = torch.zeros_like(v)
    w = torch.empty_like(v)
    uo, yo = u[crop], yp[crop]
    Kx = v
    for _ in range(iterations):
        torch.sub(v, u, out=w)
        F = torch.fft.rfft2(w)
        F *= H
        Kx = torch.fft.irfft2(F, s=shape)
        # v = k∗x + u everywhere (u is zero outside the observation), then the observed part
        torch.add(Kx, u, out=w)
        wo = w[crop]
        wo.mul_(mu).add_(yo).div_(1 + mu)
        v, w = w, v
        uo.add_(Kx[crop]).sub_(wo)
    return Kx


def extend_observation(
    y: np.ndarray, k: np.ndarray, balance: float, iterations: int = WIENER_VALID_ITERATIONS
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Extend an observed (validly blurred) image beyond its border, consistently with the blur.

    A Wiener deconvolution with a *valid* data term (only the observed pixels
    are data, see :func:`napari_glra.classical.wiener`) estimates the sharp image
    on a grid :func:`napari_glra.classical.mirror_pad` wide; outside the observation
    the returned image is that estimate blurred again, inside it is ``y`` unchanged.
    Deconvolving the extension instead of a mirror copy avoids the ringing that
    mirroring causes for asymmetric (e.g. motion) kernels near the border.

    Parameters
    ----------
    y : numpy.ndarray
        Observed 2D image on the [0, 1] scale.
    k : numpy.ndarray
        Centred blur kernel.
    balance : float
        Weight of the gradient prior of the valid-data-term Wiener estimate.
    iterations : int
        ADMM iterations.

    Returns
    -------
    extended : numpy.ndarray
        The extended observation (float32: computed in single precision, which is
        plenty for an extension and twice as fast as float64).
    crop : tuple of slice
        ``extended[crop]`` is ``y``.
    """
    y = _check_image(y, np.float32)
    k = _check_kernel(k, y.shape)
    b = _positive(balance, "balance")
    n = _positive_int(iterations, "iterations")
    yp, crop = mirror_pad(y, k.shape)
    ypt = torch.from_numpy(yp)
    K, P = _half_spectra(k, yp.shape)
    Kx = _reblur_admm(ypt, crop, K, P, b, n, VALID_MU)
    Kx[crop] = ypt[crop]
    return Kx.numpy(), crop


def border_balance(noise_level: float) -> float:
    """Prior weight of the valid-data-term Wiener estimate that extends a plane beyond its border."""
    return 0.6 * max(float(noise_level), 1e-3)


def border_pad(kernel_shape: tuple[int, ...]) -> int:
    """Pixels per side by which :func:`border_extension` extends a plane (twice the kernel size)."""
    return 2 * int(max(kernel_shape))


def border_extension(plane: np.ndarray, kernel: np.ndarray, noise_level: float) -> np.ndarray:
    """A plane extended by :func:`border_pad` pixels per side, consistently with the blur.

    The extension is :func:`extend_observation` (a Wiener estimate with a valid data
    term, re-blurred) with the prior weight :func:`border_balance`;
    ``extended[p:-p, p:-p]`` is ``plane``.  Models with a border channel were trained on
    image borders extended by this same function.
    """
    p = border_pad(kernel.shape)
    ext, crop = extend_observation(plane, kernel, border_balance(noise_level))
    r0, c0 = crop[0].start - p, crop[1].start - p
    h, w = plane.shape
    return np.ascontiguousarray(ext[r0 : r0 + h + 2 * p, c0 : c0 + w + 2 * p], dtype=np.float32)
