"""Isolated outliers (hot pixels, cosmic-ray hits): found and replaced before restoration.

A blurred image cannot hold a single pixel far brighter than all of its
neighbours: the blur spreads every point of the scene over the kernel.  Camera
images have such pixels anyway (hot pixels, cosmic rays, transmission errors),
and an inverse filter spreads each one over the whole field of its ~150-px
filters.  :func:`replace_outliers` replaces the pixels that are

1. brighter than each of their 8 neighbours by more than :data:`MIN_STEP` of the
   intensity range and :data:`NOISE_STEPS` times a robust noise scale, and
2. sharper than the kernel allows: the pixel's excess over the median of its 3×3
   neighbourhood is a larger part of its height over the neighbourhood's
   minimum than the kernel's own peak shows (half-way between that fraction and 1),

by the median of their 3×3 neighbourhood.  A real point source, blurred by the
kernel, fails the second test; a single pixel that the kernel itself could
produce (a kernel close to a delta) is never replaced.  Planes are on the
models' [0, 1] scale (:mod:`napari_glra.engine.intensity`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_glra.engine.intensity import IntensityContract, IntensityMap, fit_intensity_map

__all__ = [
    "MIN_STEP",
    "NOISE_STEPS",
    "OutlierWarning",
    "kernel_sharpness",
    "map_without_outliers",
    "noise_sample",
    "plane_noise_scale",
    "replace_outliers",
]

class OutlierWarning(UserWarning):
    """Isolated outlier pixels (hot pixels, cosmic rays) were found and replaced."""


#: Smallest step above every neighbour that can make an outlier (fraction of the [0, 1] range).
MIN_STEP = 0.1
#: ... and in units of the plane's robust noise scale.
NOISE_STEPS = 8.0
#: Largest number of pixels the robust noise scale is computed on.
_NOISE_SAMPLES = 1_000_000


#: Sharpness assumed when the kernel is not known (a moderately sharp kernel).
_UNKNOWN_SHARPNESS = 0.5


def kernel_sharpness(kernel: np.ndarray | None) -> float:
    """``(peak - median) / (peak - min)`` of the kernel's 3×3 neighbourhood of its peak.

    The largest such ratio a blurred point source can show; 1 for a delta kernel
    (:data:`_UNKNOWN_SHARPNESS` when ``kernel`` is None).
    """
    if kernel is None:
        return _UNKNOWN_SHARPNESS
    k = np.pad(np.asarray(kernel, np.float64), 1)
    i, j = np.unravel_index(int(np.argmax(k)), k.shape)
    win = k[i - 1 : i + 2, j - 1 : j + 2]
    height = win.max() - win.min()
    return 1.0 if height <= 0 else float((win.max() - np.median(win)) / height)


def _noise_scale(plane: np.ndarray) -> float:
    """Robust noise scale: MAD of the difference to the 4-neighbour mean (white-noise normalised)."""
    step = max(1, int(np.ceil(np.sqrt(plane.size / _NOISE_SAMPLES))))
    p = plane[::step, ::step] if step > 1 else plane
    if min(p.shape) < 3:
        return 0.0
    c = p[1:-1, 1:-1]
    r = c - 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
    return float(1.4826 * np.median(np.abs(r)) / np.sqrt(1.25))


def plane_noise_scale(raw: np.ndarray, imap: IntensityMap) -> float:
    """The robust noise scale :func:`replace_outliers` computes on ``imap.forward(raw)``.

    Computed from the same strided sample of the raw plane, without mapping (copying)
    the whole plane: a large plane's windows share their plane's outlier threshold.
    """
    return _noise_scale(imap.forward(np.asarray(noise_sample(raw))))


def noise_sample(raw: Any) -> Any:
    """The strided view of a plane (numpy or dask) whose pixels :func:`plane_noise_scale` reads."""
    step = max(1, int(np.ceil(np.sqrt(raw.size / _NOISE_SAMPLES))))
    return raw[::step, ::step]


def replace_outliers(
    plane: np.ndarray, kernel: np.ndarray | None, *, noise_scale: float | None = None
) -> tuple[np.ndarray, int]:
    """Replace isolated outliers by their 3×3 median (see the module's rules).

    Parameters
    ----------
    plane : numpy.ndarray
        2D float plane on the [0, 1] scale (not modified).
    kernel : numpy.ndarray or None
        The blur kernel of the plane (None: unknown).
    noise_scale : float, optional
        The robust noise scale of the outlier threshold (default: computed on
        ``plane``; a window of a larger plane passes its plane's,
        :func:`plane_noise_scale`).

    Returns
    -------
    plane : numpy.ndarray
        The plane with outliers replaced (the input itself when there are none).
    count : int
        Number of pixels replaced.
    """
    h, w = plane.shape
    if h < 3 or w < 3:
        return plane, 0
    pad = np.pad(plane, 1, mode="edge")
    shifts = [(di, dj) for di in (0, 1, 2) for dj in (0, 1, 2) if (di, dj) != (1, 1)]
    nb_max = pad[0:h, 0:w].copy()
    for di, dj in shifts[1:]:
        np.maximum(nb_max, pad[di : di + h, dj : dj + w], out=nb_max)
    step = plane - nb_max
    if not np.any(step > MIN_STEP):  # the usual case: no candidate, no noise scale needed
        return plane, 0
    scale = _noise_scale(plane) if noise_scale is None else noise_scale
    threshold = max(MIN_STEP, NOISE_STEPS * scale)
    rows, cols = np.nonzero(step > threshold)
    if rows.size == 0:
        return plane, 0
    win = np.stack([pad[rows + di, cols + dj] for di in (0, 1, 2) for dj in (0, 1, 2)])  # (9, n)
    centre = win[4]
    med = np.median(win, axis=0)
    height = centre - win.min(axis=0)
    limit = 0.5 * (1.0 + kernel_sharpness(kernel))
    hot = (centre - med) > limit * height
    if not np.any(hot):
        return plane, 0
    out = plane.copy()
    out[rows[hot], cols[hot]] = med[hot]
    return out, int(np.count_nonzero(hot))


def map_without_outliers(
    planes: list[np.ndarray],
    dtype: np.dtype,
    kernel: np.ndarray | None,
    contract: IntensityContract | None = None,
    map_sample: list[np.ndarray] | None = None,
) -> tuple[IntensityMap, list[np.ndarray], int]:
    """The intensity map of raw planes fitted without their outliers, the cleaned mapped planes, the count.

    A single hot pixel can move the map's 99.9th percentile; the map is fitted again on
    the planes with their outliers replaced, so that the outliers change nothing else.
    With ``map_sample`` (strided subsamples of large planes, whose ``planes`` are central
    crops) the map is fitted on that sample once: one pixel among its millions does
    not move the percentiles, and a subsample has no neighbourhoods to find outliers in.
    ``contract``: the model's, see :func:`~napari_glra.engine.intensity.fit_intensity_map`.
    """
    if map_sample is not None:
        imap = fit_intensity_map(map_sample, dtype, contract)
        mapped, count = _map_and_clean(planes, imap, kernel)
        return imap, mapped, count
    imap = fit_intensity_map(planes, dtype, contract)
    mapped, count = _map_and_clean(planes, imap, kernel)
    if count:
        imap = fit_intensity_map([imap.inverse(m, np.float64) for m in mapped], dtype, contract)
        mapped, count = _map_and_clean(planes, imap, kernel)
    return imap, mapped, count


def _map_and_clean(planes: list[np.ndarray], imap: IntensityMap, kernel: np.ndarray | None):
    out, count = [], 0
    for p in planes:
        clean, n = replace_outliers(imap.forward(p), kernel)
        out.append(clean)
        count += n
    return out, count
