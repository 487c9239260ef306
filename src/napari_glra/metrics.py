"""Image quality measures used by the demo, the trainer, the benchmarks and the tests.

One definition of each, so that every table in the project measures the same thing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pooled_resolution", "psnr", "resolution", "ring_snr", "ssim"]


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


def _ring_powers(x: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ring centres (cycles/px), and per ring the summed signal power, error power and count."""
    h, w = x.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    R = np.fft.fft2((ref - ref.mean()) * win)
    E = np.fft.fft2((x - ref - (x - ref).mean()) * win)
    rad = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    step = 1.0 / min(h, w)
    ring = np.floor(rad / step + 0.5).astype(int).ravel()
    n = int(0.5 / step) + 1
    keep = ring < n
    ring = ring[keep]
    signal = np.bincount(ring, (np.abs(R) ** 2).ravel()[keep], n)
    error = np.bincount(ring, (np.abs(E) ** 2).ravel()[keep], n)
    count = np.bincount(ring, minlength=n).astype(np.float64)
    return np.arange(n) * step, signal, error, count


def _ratio(signal: np.ndarray, error: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(error > 0, signal / np.maximum(error, 1e-300), np.inf)


def _crossing(f: np.ndarray, snr: np.ndarray, threshold: float) -> float:
    """Period (px) where ``snr`` first falls below ``threshold``, from the lowest ring up."""
    if len(f) < 2 or snr[1] < threshold:  # not even the coarsest ring: the size of the image
        return float(1.0 / f[1]) if len(f) > 1 else 2.0
    level = np.log(threshold)
    for i in range(2, len(f)):
        if snr[i] < threshold:
            a, b = np.log(max(snr[i - 1], 1e-12)) - level, np.log(max(snr[i], 1e-12)) - level
            t = 0.0 if a == b else a / (a - b)
            cross = f[i - 1] + t * (f[i] - f[i - 1])
            return float(1.0 / cross)
    return 2.0


def ring_snr(x: np.ndarray, ref: np.ndarray, border: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ring-by-ring signal-to-error ratio of an estimate ``x`` of ``ref`` (Hann-windowed spectra).

    Parameters
    ----------
    x, ref : numpy.ndarray
        2D images of the same shape (``ref``: the ground truth).
    border : int
        Pixels ignored on each side.

    Returns
    -------
    frequency : numpy.ndarray
        Ring centres in cycles per pixel (0 to 0.5, one ring per frequency step ``1 / min(H, W)``).
    snr : numpy.ndarray
        ``Σ |R|² / Σ |X − R|²`` over each ring: above 1 where the estimate's error is weaker than
        the true signal.  Unlike the Fourier ring correlation, which a linear filter does not
        change, it falls both where noise dominates and where detail is smoothed away.
    """
    f, signal, error, _ = _ring_powers(*_pair(x, ref, border))
    return f, _ratio(signal, error)


def resolution(x: np.ndarray, ref: np.ndarray, border: int = 0, threshold: float = 2.0) -> float:
    """Finest detail (pixels per cycle) ``x`` restores of ``ref``: where :func:`ring_snr` falls below 2.

    At a ring SNR of 2 the error has half the power of the true signal: the estimate
    gets more than half of that ring's detail right (a blur keeping a fraction ``g`` of
    the ring's amplitude has SNR ``1 / (1 - g)²``: 2 at ``g ≈ 0.29``; white noise crosses
    where its power reaches half the signal's).  Followed from the lowest frequency up; the
    crossing is interpolated linearly in log SNR.  Smaller is sharper: 2 px is the
    sampling limit; an estimate whose coarsest ring (period = the image's smaller side)
    already fails gets that side.  A restoration that smooths filaments into patches, or leaves noise,
    crosses early.

    Parameters
    ----------
    x, ref : numpy.ndarray
        2D images of the same shape (``ref``: the ground truth).
    border : int
        Pixels ignored on each side.
    threshold : float
        Ring SNR of the crossing.

    Returns
    -------
    float
        Resolution in pixels (the period of the crossing frequency).
    """
    return _crossing(*ring_snr(x, ref, border), threshold)


def pooled_resolution(
    estimates: list[np.ndarray], refs: list[np.ndarray], border: int = 0, threshold: float = 2.0
) -> float:
    """:func:`resolution` of a set of images from their pooled ring powers.

    Each pair's signal and error power per ring, per pixel and per frequency sample (so that
    images of different sizes weigh alike per pixel), is interpolated onto the rings of the
    smallest image and summed over the set before the ratio is taken: one crossing for the
    whole set, as Fourier ring correlations are averaged over many particles.  Steadier than
    a summary of per-image crossings, which at low light are bimodal (a few pixels where
    detail comes through, the image's size where even the coarsest ring fails).

    Parameters
    ----------
    estimates, refs : list of numpy.ndarray
        2D estimates and their ground truths (pairwise the same shape).
    border : int
        Pixels ignored on each side.
    threshold : float
        Ring SNR of the crossing.

    Returns
    -------
    float
        Resolution in pixels.
    """
    if len(estimates) != len(refs) or not estimates:
        raise ValueError(
            f"need as many estimates as references, at least one; got {len(estimates)}, {len(refs)}"
        )
    pairs = [_pair(x, r, border) for x, r in zip(estimates, refs)]
    side = min(min(x.shape) for x, _ in pairs)
    grid = np.arange(int(0.5 * side) + 1) / side
    signal, error = np.zeros_like(grid), np.zeros_like(grid)
    for x, r in pairs:
        f, s, e, n = _ring_powers(x, r)
        scale = np.maximum(n, 1) * x.size
        signal += np.interp(grid, f, s / scale)
        error += np.interp(grid, f, e / scale)
    return _crossing(grid, _ratio(signal, error), threshold)
