"""Blur kernels: Gaussian, anti-aliased disk, random camera-shake motion and defocus.

Every kernel returned here is a float64 array of odd size, non-negative,
summing to one and centred (centre of mass on the centre pixel, up to the
sub-pixel accuracy of the family), of side at most
:data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE` (1001 px: a larger request, e.g.
``sigma=1e6``, is a ``ValueError`` before anything is allocated).
``make_kernel`` is the one public entry (``"defocus"``: the widefield microscope PSF
of :func:`napari_glra.physics.optics.defocus_psf`); ``sample_kernel`` draws a random
kernel of a family for training and benchmarks.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import interpolate

from napari_glra.physics.optics import UndersampledPSFWarning, defocus_psf, nyquist_pixel_size
from napari_glra.physics.psf import ABSOLUTE_MAX_SIZE

__all__ = ["DEFOCUS_MAX_SIZE", "FAMILIES", "KERNEL_RANGES", "make_kernel", "sample_kernel"]

#: Kernel families the shipped basis and models were built for.
FAMILIES: tuple[str, ...] = ("gaussian", "disk", "motion")

#: Parameter ranges sampled for training (support 9-27 px, as in the paper); ``"defocus"``:
#: widefield PSFs (:func:`napari_glra.physics.optics.defocus_psf`, oil immersion, λ 0.52 µm) for
#: objective NAs ``na``, pixel sizes ``sampling`` x the Nyquist limit λ / (4 NA) and defocus
#: giving a geometric blur radius ``blur_radius`` (px), cut to the centred square holding
#: :data:`DEFOCUS_ENERGY` of the energy within :data:`DEFOCUS_MAX_SIZE` px (support 21-35 px).
#: Only the first three families are in :data:`FAMILIES` (those of the shipped ``default`` model).
KERNEL_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "gaussian": {"sigma": (1.2, 4.5)},
    "disk": {"radius": (4.0, 13.0)},
    "motion": {"length": (9.0, 27.0)},
    "defocus": {"na": (0.8, 1.4), "sampling": (0.6, 1.3), "blur_radius": (0.0, 10.0)},
}

#: Largest side of a sampled ``"defocus"`` kernel (its far Airy wings are cut there).
DEFOCUS_MAX_SIZE = 45
#: Fraction of the energy within :data:`DEFOCUS_MAX_SIZE` px a sampled ``"defocus"`` kernel keeps.
DEFOCUS_ENERGY = 0.985
#: Optics of the sampled ``"defocus"`` kernels that are not drawn (the PSF's shape in pixels
#: depends on the wavelength only through the sampling, drawn relative to Nyquist).
DEFOCUS_FIXED = {"wavelength": 0.52, "n_immersion": 1.518, "oversample": 2}


def _odd(n: float) -> int:
    n = int(np.ceil(n))
    return n if n % 2 == 1 else n + 1


#: Largest ``supersample`` of :func:`disk` (more sub-samples change the edge pixels by < 0.1 %).
MAX_SUPERSAMPLE = 32


def _check_size(size: int | None) -> None:
    if size is not None and (
        isinstance(size, bool)
        or not isinstance(size, (int, float, np.integer, np.floating))
        or int(size) != size
        or size < 1
        or size % 2 == 0
    ):
        raise ValueError(f"kernel size must be a positive odd integer, got {size!r}")
    if size is not None and size > ABSOLUTE_MAX_SIZE:
        raise ValueError(
            f"kernel size {int(size)} px is larger than the {ABSOLUTE_MAX_SIZE} px limit "
            "(napari_glra.physics.psf.ABSOLUTE_MAX_SIZE); the shipped models take kernels up to "
            "75 px (MAX_KERNEL_SIZE)"
        )


def _check_side(side: float, what: str, bound: str) -> None:
    """Refuse a default kernel side over :data:`ABSOLUTE_MAX_SIZE` (before allocating it)."""
    if side > ABSOLUTE_MAX_SIZE:
        raise ValueError(
            f"{what} needs a kernel of about {side:.0f} px, more than the {ABSOLUTE_MAX_SIZE} px limit "
            f"(napari_glra.physics.psf.ABSOLUTE_MAX_SIZE: {bound}); the shipped models take kernels up to "
            "75 px (MAX_KERNEL_SIZE). Check the units (pixels), or bin the image and use a smaller kernel"
        )


def _normalise(k: np.ndarray) -> np.ndarray:
    k = np.clip(k, 0.0, None)
    s = k.sum()
    if not np.isfinite(s) or s <= 0:
        raise ValueError("kernel has no positive mass; check its parameters")
    return k / s


def gaussian(sigma: float, size: int | None = None) -> np.ndarray:
    """Isotropic Gaussian kernel.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels (> 0).
    size : int, optional
        Odd side length; default ``2 * ceil(3 * sigma) + 1`` (at most
        :data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE`, i.e. ``sigma <= 166.6``).

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` kernel summing to one.

    Raises
    ------
    ValueError
        If ``sigma`` is not a positive number, ``size`` not a positive odd integer, or the
        kernel's side over :data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE`.
    """
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"gaussian sigma must be a positive number, got {sigma!r}")
    _check_size(size)
    if size is None:
        _check_side(2 * np.ceil(3 * sigma) + 1, f"gaussian sigma {sigma:g} px", "sigma <= 166.6")
    size = int(size or 2 * int(np.ceil(3 * sigma)) + 1)
    r = np.arange(size) - size // 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    return _normalise(np.outer(g, g))


def disk(radius: float, size: int | None = None, supersample: int = 8) -> np.ndarray:
    """Uniform disk (out-of-focus) kernel with anti-aliased edges.

    Parameters
    ----------
    radius : float
        Radius in pixels (> 0).
    size : int, optional
        Odd side length; default ``2 * ceil(radius) + 1`` (at most
        :data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE`, i.e. ``radius <= 500``).
    supersample : int
        Sub-pixel samples per axis used to compute the pixel coverage (1 to
        :data:`MAX_SUPERSAMPLE`).

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` kernel summing to one.

    Raises
    ------
    ValueError
        If ``radius`` is not a positive number, ``size`` not a positive odd integer,
        ``supersample`` out of range, or the kernel's side over
        :data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE`.
    """
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"disk radius must be a positive number, got {radius!r}")
    _check_size(size)
    if (
        isinstance(supersample, bool)
        or not isinstance(supersample, (int, np.integer))
        or not 1 <= supersample <= MAX_SUPERSAMPLE
    ):
        raise ValueError(f"supersample must be an integer in [1, {MAX_SUPERSAMPLE}], got {supersample!r}")
    if size is None:
        _check_side(2 * np.ceil(radius) + 1, f"disk radius {radius:g} px", "radius <= 500")
    size = int(size or 2 * int(np.ceil(radius)) + 1)
    s = int(supersample)
    offs = (np.arange(s) + 0.5) / s - 0.5
    r = np.arange(size) - size // 2
    fine = (r[:, None] + offs[None, :]).ravel()
    fine2 = fine**2
    cover = np.empty((size, size))
    rows = max(1, 2**22 // (s * s * size))  # bounded temporaries (~32 MB) for large kernels
    for i in range(0, size, rows):
        sub = fine2[i * s : (i + rows) * s, None] + fine2[None, :] <= radius**2
        cover[i : i + rows] = sub.reshape(-1, s, size, s).mean(axis=(1, 3))
    return _normalise(cover)


def motion(
    length: float = 15.0,
    seed: int | np.random.Generator | None = None,
    size: int | None = None,
    n_points: int = 6,
) -> np.ndarray:
    """Random camera-shake kernel (Chakrabarti 2016 style trajectory).

    ``n_points`` control points of a random walk with inertia are joined by
    a quadratic spline, sampled densely with random smoothly varying
    intensities, scaled so the trajectory spans ``length`` pixels,
    recentred on its centre of mass and splatted bilinearly.

    Parameters
    ----------
    length : float
        Largest extent of the trajectory in pixels (>= 2).
    seed : int or numpy.random.Generator, optional
        Random seed (same seed, same kernel).
    size : int, optional
        Odd side length; default: the smallest odd size (at least
        ``length + 2``) that holds the whole trajectory around its centre of mass
        (at most :data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE`).
    n_points : int
        Number of spline control points (>= 3).

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` kernel summing to one.

    Raises
    ------
    ValueError
        If ``length`` is below 2, ``size`` not a positive odd integer or too small for the
        trajectory, or the kernel's side over
        :data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE` (``length`` over 999 px always is).
    """
    if not np.isfinite(length) or length < 2:
        raise ValueError(f"motion length must be >= 2 pixels, got {length!r}")
    if size is None:
        _check_side(_odd(length + 2), f"motion length {length:g} px", "length <= 999")
    if n_points < 3:
        raise ValueError(f"motion needs at least 3 control points, got {n_points}")
    _check_size(size)
    rng = np.random.default_rng(seed)
    # Random walk with momentum: a smooth, sometimes curled camera shake.
    pts = np.zeros((n_points, 2))
    vel = rng.normal(size=2)
    vel /= np.linalg.norm(vel) + 1e-12
    for i in range(1, n_points):
        vel = 0.6 * vel + rng.normal(size=2) * 0.8
        pts[i] = pts[i - 1] + vel
    # Avoid duplicated points (splprep fails on them).
    pts += rng.normal(scale=1e-3, size=pts.shape)
    tck, _ = interpolate.splprep([pts[:, 0], pts[:, 1]], k=2, s=0)
    t = np.linspace(0, 1, 4000)
    y, x = interpolate.splev(t, tck)
    traj = np.stack([y, x], axis=1)
    extent = np.ptp(traj, axis=0).max()
    traj *= (length - 1) / max(extent, 1e-9)
    # Random intensities: a slowly varying positive weight along the path.
    knots = rng.uniform(0.3, 1.0, size=n_points)
    w = np.interp(t, np.linspace(0, 1, n_points), knots)
    traj -= (traj * w[:, None]).sum(0) / w.sum()
    # Smallest odd size holding the whole path around its centre of mass.
    needed = _odd(2 * np.abs(traj).max() + 3)
    if size is None:
        _check_side(
            needed, f"this motion trajectory (length {length:g} px)", "use a shorter length or another seed"
        )
        size = max(needed, _odd(length + 2))
    elif size < needed:
        raise ValueError(
            f"motion kernel size {size} cuts off its trajectory (needs {needed} px for length {length}); "
            "give a larger size or omit it"
        )
    traj += size // 2
    k = np.zeros((size, size))
    i0 = np.floor(traj).astype(int)
    f = traj - i0
    for dy in (0, 1):
        for dx in (0, 1):
            wy = f[:, 0] if dy else 1 - f[:, 0]
            wx = f[:, 1] if dx else 1 - f[:, 1]
            yy, xx = i0[:, 0] + dy, i0[:, 1] + dx
            ok = (yy >= 0) & (yy < size) & (xx >= 0) & (xx < size)
            np.add.at(k, (yy[ok], xx[ok]), (w * wy * wx)[ok])
    return _normalise(k)


_MAKERS = {"gaussian": gaussian, "disk": disk, "motion": motion, "defocus": defocus_psf}


def make_kernel(kind: str, **params: Any) -> np.ndarray:
    """Make a blur kernel of a named family.

    Parameters
    ----------
    kind : str
        ``"gaussian"`` (``sigma``, ``size``), ``"disk"`` (``radius``,
        ``size``), ``"motion"`` (``length``, ``seed``, ``size``) or
        ``"defocus"`` (see :func:`napari_glra.physics.optics.defocus_psf`).
    **params
        Parameters of that family.

    Returns
    -------
    numpy.ndarray
        Odd-sized, non-negative, centred float64 kernel summing to one.

    Raises
    ------
    ValueError
        For an unknown ``kind``, invalid parameters, or a kernel whose side would exceed
        :data:`~napari_glra.physics.psf.ABSOLUTE_MAX_SIZE` (1001 px; e.g. Gaussian
        ``sigma > 166.6``, disk ``radius > 500``, motion ``length > 999``); ``"defocus"``
        kernels are limited by its ``max_size`` (default 75 px).
    TypeError
        For parameters the family does not take.

    Examples
    --------
    >>> k = make_kernel("gaussian", sigma=2.0)
    >>> k.shape, round(float(k.sum()), 6)
    ((13, 13), 1.0)
    """
    maker = _MAKERS.get(str(kind).lower())
    if maker is None:
        known = sorted(_MAKERS)
        raise ValueError(f"unknown kernel kind {kind!r}; choose one of {known}")
    try:
        return maker(**params)
    except TypeError as err:
        raise TypeError(f"bad parameters for a {kind!r} kernel: {err}") from None


def sample_kernel(
    family: str,
    rng: np.random.Generator,
    size: int | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Draw a random kernel of ``family`` from :data:`KERNEL_RANGES` (or from ``ranges``).

    Parameters
    ----------
    family : str
        A key of :data:`KERNEL_RANGES`: one of :data:`FAMILIES` or ``"defocus"``.
    rng : numpy.random.Generator
        Source of randomness.
    size : int, optional
        Odd side length to embed the kernel in (it is zero-padded, centred);
        must be at least the family's natural size.
    ranges : dict, optional
        The family's parameter ranges, in place of its :data:`KERNEL_RANGES` entry (the same
        parameter names, e.g. ``{"sigma": (1.2, 9.0)}`` for ``"gaussian"``).

    Returns
    -------
    kernel : numpy.ndarray
        The kernel.
    params : dict
        The parameters of :func:`make_kernel` that make this kernel again
        (for ``"defocus"``: the optics, the defocus in µm and the size).
    """
    if family not in KERNEL_RANGES:
        raise ValueError(f"unknown kernel family {family!r}; choose one of {sorted(KERNEL_RANGES)}")
    r = dict(KERNEL_RANGES[family] if ranges is None else ranges)
    if sorted(r) != sorted(KERNEL_RANGES[family]) or any(not lo <= hi for lo, hi in r.values()):
        raise ValueError(
            f"ranges of kernel family {family!r} must give (low, high) for {sorted(KERNEL_RANGES[family])}, "
            f"got {ranges!r}"
        )
    if family == "defocus":
        k, params = _sample_defocus(rng, r)
        if size is not None:
            k = pad_to(k, size)
        return k, params
    ((name, (lo, hi)),) = r.items()
    value = float(rng.uniform(lo, hi))
    params: dict[str, Any] = {name: value}
    if family == "motion":
        params["seed"] = int(rng.integers(2**31))
    k = make_kernel(family, **params)
    if size is not None:
        k = pad_to(k, size)
    return k, params


def _sample_defocus(
    rng: np.random.Generator, r: dict[str, tuple[float, float]]
) -> tuple[np.ndarray, dict[str, Any]]:
    """A random ``"defocus"`` kernel and the :func:`~napari_glra.physics.optics.defocus_psf` arguments."""
    na = float(rng.uniform(*r["na"]))
    sampling = float(rng.uniform(*r["sampling"]))
    radius = float(rng.uniform(*r["blur_radius"]))
    return defocus_kernel(na, sampling, radius)


def defocus_kernel(na: float, sampling: float, blur_radius: float) -> tuple[np.ndarray, dict[str, Any]]:
    """A ``"defocus"`` training kernel: objective ``na``, pixels ``sampling`` x Nyquist, blur radius in px.

    Returns the kernel and the :func:`~napari_glra.physics.optics.defocus_psf` arguments
    (see :data:`KERNEL_RANGES`).
    """
    na, sampling, radius = float(na), float(sampling), float(blur_radius)
    wl, n = DEFOCUS_FIXED["wavelength"], DEFOCUS_FIXED["n_immersion"]
    px = sampling * nyquist_pixel_size(na, wl)
    tan_theta = na / np.sqrt(n * n - na * na)  # geometric blur radius = |z| tan(theta)
    params: dict[str, Any] = {"na": na, "pixel_size": px, "defocus": float(radius * px / tan_theta)}
    params.update(DEFOCUS_FIXED)
    with warnings.catch_warnings():  # sampling > 1 is coarser than Nyquist on purpose
        warnings.simplefilter("ignore", UndersampledPSFWarning)
        full = defocus_psf(**params, size=DEFOCUS_MAX_SIZE)
    # Smallest centred square holding DEFOCUS_ENERGY of the energy within DEFOCUS_MAX_SIZE px (a
    # direct cut: defocus_psf's own search for its total energy costs ten times the PSF).
    c = DEFOCUS_MAX_SIZE // 2
    cum = np.array([full[c - h : c + h + 1, c - h : c + h + 1].sum() for h in range(c + 1)])
    h = int(np.argmax(cum >= DEFOCUS_ENERGY * cum[-1]))
    k = full[c - h : c + h + 1, c - h : c + h + 1]
    k = k / k.sum()
    params["size"] = int(k.shape[0])
    params["allow_undersampled"] = True
    return k, params


def pad_to(k: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad (or centre-crop) a square odd kernel to ``size`` x ``size``.

    Parameters
    ----------
    k : numpy.ndarray
        Odd-sized square kernel.
    size : int
        Odd target size.

    Returns
    -------
    numpy.ndarray
        The kernel, still centred on the centre pixel.
    """
    _check_size(size)
    n = k.shape[0]
    if n <= size:
        p = (size - n) // 2
        return np.pad(k, p)
    c = (n - size) // 2
    return k[c : c + size, c : c + size]
