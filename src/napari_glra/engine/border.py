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

from napari_glra._checks import check_image_2d, check_kernel_2d, positive, positive_int
from napari_glra._fft import centred_rfft2, fft_pads, next_fast_len, pad_for_fft, symmetric_pad
from napari_glra.glra.pseudo_inverse import VALID_MU, gradient_power

__all__ = [
    "extend_observation",
    "border_balance",
    "border_pad",
    "border_extension",
    "border_extension_tensor",
]

#: ADMM iterations and over-relaxation of the extension.  Measured with
#: ``benchmarks/border_band.py``'s protocols (100 test images, 48 random crops, one kernel per
#: family, 1 % noise): 20 over-relaxed iterations (α = 1.8) give a band PSNR 0.003-0.03 dB
#: above 30 plain ones (the previous setting) in every case, for 2/3 of the FFTs; 20 plain
#: ones lose 0.01-0.09 dB, 45 plain ones gain 0.01-0.07 dB for 1.5x the time.
EXTENSION_ITERATIONS = 20
EXTENSION_RELAXATION = 1.8


def _reblur_admm(
    yp: torch.Tensor,
    crop: tuple[slice, slice],
    K: torch.Tensor,
    P: torch.Tensor,
    *,
    b: float,
    iterations: int,
    mu: float,
    alpha: float = 1.0,
) -> torch.Tensor:
    """``k∗x`` of the valid-data-term Wiener ADMM outside the observation ``crop`` of ``yp``.

    The iterates are those of ``wiener(boundary="valid")``'s scaled ADMM on ``v = k∗x``
    (with over-relaxation ``alpha``; 1 gives exactly those): its x-update followed by
    ``k∗x = F⁻¹(K X)`` is one real filter ``H = |K|² / (|K|² + (b/μ) P)`` applied to
    ``z = v − u``, and its v- and u-updates are pointwise in ``h = α k∗x + (1 − α) v``.
    Outside the observation ``v = h`` and the dual ``u`` stays zero, so there ``z`` is
    simply ``v``; only the observed pixels carry ``u``: with ``a = h + u``,
    ``v = (y + μ a) / (1 + μ)``, ``u = a − v``, ``z = v − u``.
    Returns the grid ``z``: the re-blurred estimate ``v`` outside ``crop``, the ADMM's
    ``v − u`` inside it.
    """
    shape = tuple(yp.shape)
    K2 = K.real.square() + K.imag.square()
    H = K2 / (K2 + (b / mu) * P)
    z = torch.fft.irfft2(K * torch.fft.rfft2(yp), s=shape)  # v = k∗(mirror-padded y), u = 0
    kx = torch.empty_like(z)
    yo, zo, kxo = yp[crop], z[crop], kx[crop]
    v = zo.clone()
    u = torch.zeros_like(yo)
    a = torch.empty_like(yo)
    for _ in range(iterations):
        F = torch.fft.rfft2(z)
        F *= H
        torch.fft.irfft2(F, s=shape, out=kx)  # k∗x
        torch.add(u, kxo, alpha=alpha, out=a)  # observed: a = h + u
        if alpha != 1.0:
            a.add_(v, alpha=1.0 - alpha)
        z.lerp_(kx, alpha)  # elsewhere: z = v = h (z was the previous v there)
        torch.add(yo, a, alpha=mu, out=v)
        v.div_(1 + mu)
        torch.sub(a, v, out=u)
        torch.sub(v, u, out=zo)
    return z


def extend_observation(
    y: np.ndarray,
    k: np.ndarray,
    balance: float,
    iterations: int = EXTENSION_ITERATIONS,
    relaxation: float = EXTENSION_RELAXATION,
    *,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Extend an observed (validly blurred) image beyond its border, consistently with the blur.

    A Wiener deconvolution with a *valid* data term (only the observed pixels
    are data, see :func:`napari_glra.classical.wiener`) estimates the sharp image
    on a mirror-padded grid (at least twice the kernel size per side); outside the observation
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
    relaxation : float
        ADMM over-relaxation ``α`` in (0, 2) (1: plain ADMM, the iterates of
        ``wiener(boundary="valid")``).
    device : str or torch.device
        Where the FFTs run (the engine passes the plan's device: on a GPU the
        extension runs there, next to the network).

    Returns
    -------
    extended : numpy.ndarray
        The extended observation (float32: computed in single precision, which is
        plenty for an extension and twice as fast as float64).
    crop : tuple of slice
        ``extended[crop]`` is ``y``.
    """
    y = check_image_2d(y, np.float32)
    k = check_kernel_2d(k, y.shape)
    b = positive(balance, "balance")
    n = positive_int(iterations, "iterations")
    alpha = positive(relaxation, "relaxation")
    if alpha >= 2:
        raise ValueError(f"relaxation must be in (0, 2), got {relaxation!r}")
    # even grid lengths: torch's real FFTs are ~2x slower on odd ones (scipy's 5-smooth 1125 vs 1120)
    yp, crop = pad_for_fft(y, k.shape, next_fast_len)
    ypt = torch.from_numpy(yp).to(torch.device(device))
    ext = _extend_padded(ypt, crop, k, balance=b, iterations=n, alpha=alpha)
    return ext.cpu().numpy(), crop


def _extend_padded(
    ypt: torch.Tensor,
    crop: tuple[slice, slice],
    k: np.ndarray,
    *,
    balance: float,
    iterations: int,
    alpha: float,
) -> torch.Tensor:
    """The extension on the mirror-padded grid ``ypt`` (the observation at ``crop``), on its device."""
    shape = tuple(ypt.shape)
    K = centred_rfft2(torch.as_tensor(k, dtype=torch.float32, device=ypt.device), shape)
    P = torch.from_numpy(gradient_power(shape, half=True)).float().to(ypt.device)
    ext = _reblur_admm(ypt, crop, K, P, b=balance, iterations=iterations, mu=VALID_MU, alpha=alpha)
    ext[crop] = ypt[crop]
    return ext


def border_extension_tensor(plane: torch.Tensor, kernel: np.ndarray, noise_level: float) -> torch.Tensor:
    """:func:`border_extension` of a float32 tensor, on the tensor's device (a tensor back).

    The same padding and iterations: on the CPU it equals :func:`border_extension`.
    """
    p = border_pad(kernel.shape)
    pads, crop = fft_pads(tuple(plane.shape), kernel.shape, next_fast_len)
    yp = symmetric_pad(plane, pads).contiguous()
    k = np.asarray(kernel, np.float64)
    ext = _extend_padded(
        yp,
        crop,
        k,
        balance=border_balance(noise_level),
        iterations=EXTENSION_ITERATIONS,
        alpha=EXTENSION_RELAXATION,
    )
    r0, c0 = crop[0].start - p, crop[1].start - p
    h, w = plane.shape
    return ext[r0 : r0 + h + 2 * p, c0 : c0 + w + 2 * p].contiguous()


def border_balance(noise_level: float) -> float:
    """Prior weight of the valid-data-term Wiener estimate that extends a plane beyond its border."""
    return 0.6 * max(float(noise_level), 1e-3)


def border_pad(kernel_shape: tuple[int, ...]) -> int:
    """Pixels per side by which :func:`border_extension` extends a plane (twice the kernel size)."""
    return 2 * int(max(kernel_shape))


def border_extension(
    plane: np.ndarray, kernel: np.ndarray, noise_level: float, *, device: str | torch.device = "cpu"
) -> np.ndarray:
    """A plane extended by :func:`border_pad` pixels per side, consistently with the blur.

    The extension is :func:`extend_observation` (a Wiener estimate with a valid data
    term, re-blurred) with the prior weight :func:`border_balance`;
    ``extended[p:-p, p:-p]`` is ``plane``.  Models with a border channel were trained on
    image borders extended by this same function.  ``device``: where it is computed.
    """
    p = border_pad(kernel.shape)
    ext, crop = extend_observation(plane, kernel, border_balance(noise_level), device=device)
    r0, c0 = crop[0].start - p, crop[1].start - p
    h, w = plane.shape
    return np.ascontiguousarray(ext[r0 : r0 + h + 2 * p, c0 : c0 + w + 2 * p], dtype=np.float32)
