"""Noise level estimation on the models' [0, 1] intensity scale.

Two estimators of the standard deviation of additive white noise, combined by
taking the smaller (each is inflated, never deflated, by image content that
looks like noise):

- patch PCA (Chen, Zhu & Heng, ICCV 2015, "An efficient statistical method
  for image noise level estimation"): the covariance of all ``8 × 8`` patches
  is diagonalised; blur confines the image content to a few principal
  directions, so the smallest eigenvalues are the noise variance alone (the
  mean of the largest tail of eigenvalues whose mean equals its median);
- when the blur kernel is known (as in the engine): the power spectrum of the
  (Hann-windowed) image at the frequencies the kernel suppresses
  (``|K(ω)|² < 1e-3``), where only noise is left: ``σ² = median / ln 2`` of
  the periodogram there (exponentially distributed for Gaussian noise).

On blurred BSDS500 test images with 0.5-5 % Gaussian noise the combination is
within ±30 % of the truth (typically a few percent; ``tests/test_noise.py``).
The hardest case is 0.5 % noise on short motion blurs of textured images
(up to ~+35 % on 128-px crops): what such a kernel leaves of the texture is as
strong as the noise.  MAD estimators on a high-pass residual (Donoho,
Immerkær) do worse there (up to +75 %).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from napari_glra._checks import check_image_2d
from napari_glra.engine.inputs import analyse_image
from napari_glra.engine.intensity import intensity_contract
from napari_glra.engine.outliers import map_without_outliers
from napari_glra.engine.registry import load_model
from napari_glra.glra.pseudo_inverse import psf2otf
from napari_glra.physics.psf import prepare_psf

__all__ = [
    "estimate_noise",
    "estimate_noise_plane",
    "noise_of_planes",
    "noise_on_device",
    "pca_noise",
    "spectral_noise",
]

#: Patch side of the PCA estimator.
PATCH = 8
#: Largest number of patches used per plane (strided subsample above).
MAX_PATCHES = 60_000
#: |K(ω)|² below which a frequency is taken to hold noise only.
OTF_THRESHOLD = 1e-3
#: Fewest such frequencies for the spectral estimate to be used.
MIN_FREQUENCIES = 200
#: Largest side of the central crop the spectral estimate uses.
MAX_SPECTRAL_SIDE = 1024


def estimate_noise_plane(plane: np.ndarray, kernel: np.ndarray | None = None, patch: int = PATCH) -> float:
    """Standard deviation of additive white noise in one 2D plane, on the plane's own scale.

    Parameters
    ----------
    plane : numpy.ndarray
        2D image (already on the [0, 1] scale for the engine's use).
    kernel : numpy.ndarray, optional
        The (centred, normalised) blur kernel, if known: adds the spectral
        estimate and returns the smaller of the two.
    patch : int
        Patch side of the PCA estimate (reduced automatically for small planes).

    Returns
    -------
    float
        The estimated noise standard deviation (0 for a constant plane).
    """
    y = check_image_2d(plane)
    s = pca_noise(y, patch)
    if kernel is not None:
        s2 = spectral_noise(y, kernel)
        if s2 is not None:
            s = min(s, s2)
    return s


def spectral_noise(plane: np.ndarray, kernel: np.ndarray) -> float | None:
    """Noise from the periodogram at the frequencies a known blur kernel suppresses.

    Parameters
    ----------
    plane : numpy.ndarray
        2D blurred, noisy image.
    kernel : numpy.ndarray
        Its centred blur kernel (sum 1).

    Returns
    -------
    float or None
        The estimate, or None when the plane is too small for the kernel or the
        kernel suppresses too few frequencies (e.g. a very small kernel).
    """
    y = check_image_2d(plane)
    k = np.asarray(kernel, dtype=np.float64)
    h, w = y.shape
    ch, cw = min(h, MAX_SPECTRAL_SIDE), min(w, MAX_SPECTRAL_SIDE)
    if k.ndim != 2 or ch < 2 * k.shape[0] or cw < 2 * k.shape[1]:
        return None
    y = y[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]
    K2 = np.abs(psf2otf(k / k.sum(), (ch, cw))) ** 2
    K2[0, 0] = np.inf
    sel = K2 < OTF_THRESHOLD
    if np.count_nonzero(sel) < MIN_FREQUENCIES:
        return None
    win = np.outer(np.hanning(ch + 2)[1:-1], np.hanning(cw + 2)[1:-1])
    P = np.abs(np.fft.fft2((y - y.mean()) * win)) ** 2 / (win**2).sum()
    return float(np.sqrt(np.median(P[sel]) / np.log(2)))


def pca_noise(plane: np.ndarray, patch: int = PATCH) -> float:
    """Noise by patch PCA (Chen et al. 2015), see the module notes.

    Parameters
    ----------
    plane : numpy.ndarray
        2D image.
    patch : int
        Patch side (reduced automatically for very small planes).

    Returns
    -------
    float
        The estimate (0 for a constant plane).
    """
    y = check_image_2d(plane)
    p = _patch_side(y.shape, patch)
    win = sliding_window_view(y, (p, p))
    n = win.shape[0] * win.shape[1]
    step = max(1, int(np.ceil(np.sqrt(n / MAX_PATCHES))))
    X = win[::step, ::step].reshape(-1, p * p)
    X = X - X.mean(axis=0)
    # torch, not numpy's BLAS/LAPACK: their threads keep spinning after the call and slow
    # the engine's next (torch) steps on small machines (see napari_glra.glra.basis._mm).
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
    C = Xt.T @ Xt / max(X.shape[0] - 1, 1)
    return _noise_from_eigenvalues(torch.linalg.eigvalsh(C).numpy())


def _noise_from_eigenvalues(eigenvalues: np.ndarray) -> float:
    """The noise std from the patch covariance's eigenvalues: the largest tail whose mean is its median."""
    lam = np.clip(np.sort(eigenvalues)[::-1], 0.0, None)
    for i in range(lam.size):
        tail = lam[i:]
        tau = tail.mean()
        if np.count_nonzero(tail > tau) == np.count_nonzero(tail < tau):
            return float(np.sqrt(tau))
    return float(np.sqrt(lam[-1]))


def estimate_noise(image, *, kernel=None, channel_axis: int | None = None, model=None) -> float:
    """Estimate the Gaussian noise level of an image on the models' [0, 1] scale.

    The image goes through the same intensity map as in
    :func:`napari_glra.api.deconvolve` (unit-scale floats as they are, other
    images through the robust affine map, see :mod:`napari_glra.engine.intensity`),
    so the value returned is what ``deconvolve(..., noise_level=None, model=model)``
    uses: a standard deviation in units of the map's scale (0.01 = 1 % of the
    intensity range).  For stacks and
    multichannel images it is the median over (a sample of) the 2D planes.

    Parameters
    ----------
    image : array_like
        2D image, nD stack (planes over the last two axes) or multichannel
        image (see ``channel_axis``); numpy or dask.
    kernel : array_like, optional
        The blur kernel, if known (it sharpens the estimate on textured
        images; ``deconvolve`` always passes it).  It goes through
        ``prepare_psf``.
    channel_axis : int, optional
        Axis holding colour channels (default: the last axis of an
        ``(H, W, 3|4)`` image).
    model : str, path or ModelFiles, optional
        The model the estimate is for: its intensity contract decides which float
        images are used as they are and how the offset is estimated
        (:func:`napari_glra.engine.intensity.intensity_contract`;
        default: that of the natural-image models).

    Returns
    -------
    float
        The estimated noise standard deviation.

    Notes
    -----
    Patch PCA (Chen et al. 2015), and with a kernel also the periodogram where
    the kernel suppresses the signal; the smaller estimate wins.  Meant for
    blurred images; on sharp, heavily textured images it overestimates the noise.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = 0.5 + 0.02 * rng.standard_normal((128, 128))
    >>> round(estimate_noise(y), 2)
    0.02
    """
    planes = analyse_image(image, channel_axis=channel_axis)
    k = None if kernel is None else prepare_psf(kernel, max_size=None)
    config = {} if model is None else load_model(model).config
    _, mapped, _ = map_without_outliers(
        planes.samples(), planes.dtype, k, intensity_contract(config), planes.map_sample()
    )
    return noise_of_planes(mapped, k)


def noise_of_planes(
    planes: list[np.ndarray], kernel: np.ndarray | None, device: str | torch.device | None = None
) -> float:
    """Median of :func:`estimate_noise_plane` over planes on the [0, 1] scale (outliers replaced).

    With a ``device`` the same two estimators run in torch there (:func:`noise_on_device`:
    the engine's GPU path); they agree with the numpy ones to round-off.
    """
    if device is not None:
        return float(np.median([noise_on_device(p, kernel, device) for p in planes]))
    return float(np.median([estimate_noise_plane(p, kernel) for p in planes]))


def noise_on_device(plane: np.ndarray, kernel: np.ndarray | None, device: str | torch.device) -> float:
    """:func:`estimate_noise_plane` (patch PCA, and the periodogram with a kernel) in torch on ``device``."""
    y = torch.as_tensor(check_image_2d(plane), dtype=torch.float64, device=torch.device(device))
    s = _pca_noise_tensor(y, PATCH)
    if kernel is not None:
        s2 = _spectral_noise_tensor(y, np.asarray(kernel, np.float64))
        if s2 is not None:
            s = min(s, s2)
    return s


def _patch_side(shape: tuple[int, ...], patch: int) -> int:
    """The PCA patch side for a plane: at least ~4 patches per dimension of the patch space."""
    h, w = int(shape[0]), int(shape[1])
    p = int(patch)
    while p > 2 and (h - p + 1) * (w - p + 1) < 4 * p * p:
        p -= 1
    if h < p or w < p or p < 2:
        raise ValueError(f"image plane {(h, w)} is too small to estimate its noise; give noise_level")
    return p


def _pca_noise_tensor(y: torch.Tensor, patch: int) -> float:
    """:func:`pca_noise` on a float64 tensor (the same patches, gathered on its device)."""
    h, w = y.shape
    p = _patch_side((h, w), patch)
    nh, nw = h - p + 1, w - p + 1
    step = max(1, int(np.ceil(np.sqrt(nh * nw / MAX_PATCHES))))
    i = torch.arange(0, nh, step, device=y.device)
    j = torch.arange(0, nw, step, device=y.device)
    d = torch.arange(p, device=y.device)
    rows = (i[:, None] + d[None, :])[:, None, :, None]  # (ni, 1, p, 1)
    cols = (j[:, None] + d[None, :])[None, :, None, :]  # (1, nj, 1, p)
    X = y[rows, cols].reshape(-1, p * p)
    X = X - X.mean(dim=0)
    C = X.T @ X / max(X.shape[0] - 1, 1)
    return _noise_from_eigenvalues(torch.linalg.eigvalsh(C).cpu().numpy())


def _spectral_noise_tensor(y: torch.Tensor, k: np.ndarray) -> float | None:
    """:func:`spectral_noise` on a float64 tensor, on its device."""
    h, w = y.shape
    ch, cw = min(h, MAX_SPECTRAL_SIDE), min(w, MAX_SPECTRAL_SIDE)
    if k.ndim != 2 or ch < 2 * k.shape[0] or cw < 2 * k.shape[1]:
        return None
    y = y[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]
    kt = torch.as_tensor(k / k.sum(), device=y.device)
    pad = torch.zeros((ch, cw), dtype=torch.float64, device=y.device)
    pad[: k.shape[0], : k.shape[1]] = kt
    pad = torch.roll(pad, (-(k.shape[0] // 2), -(k.shape[1] // 2)), dims=(0, 1))
    K2 = torch.fft.fft2(pad).abs() ** 2
    K2[0, 0] = torch.inf
    sel = K2 < OTF_THRESHOLD
    if int(sel.sum()) < MIN_FREQUENCIES:
        return None
    wr = torch.hann_window(ch + 2, periodic=False, dtype=torch.float64, device=y.device)[1:-1]
    wc = torch.hann_window(cw + 2, periodic=False, dtype=torch.float64, device=y.device)[1:-1]
    win = wr[:, None] * wc[None, :]
    P = torch.fft.fft2((y - y.mean()) * win).abs() ** 2 / (win**2).sum()
    return float(torch.sqrt(torch.quantile(P[sel], 0.5) / np.log(2)))
