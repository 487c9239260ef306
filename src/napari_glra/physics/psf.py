"""Turn any user-supplied PSF (synthetic or measured) into a kernel the models accept.

:func:`prepare_psf` is what the engine, the napari widget and the scripting API
call on a PSF before computing its GLRA coefficients.  It accepts a 2D kernel or
a 3D bead stack, and returns an odd-sized, square, non-negative, centred float64
kernel that sums to one:

1. checks (numeric dtype, 2D/3D, not empty, finite, positive mass);
2. 3D stack → one plane (the in-focus one, or ``plane=``);
3. background subtraction (``"auto"``: median of the border) and clipping of
   negatives (with a :class:`NegativePSFWarning` when no background is given and
   the negatives hold more than 1 % of the positive mass);
4. resampling from the PSF's pixel size to the image's (energy conserving);
5. centring: centre of mass (or peak) moved onto the centre pixel with a
   sub-pixel shift;
6. optional crop to the smallest odd square holding ``crop_energy`` of the
   energy, then the size check against the basis limit;
7. normalisation to sum 1.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

__all__ = [
    "ABSOLUTE_MAX_SIZE",
    "MAX_KERNEL_SIZE",
    "NegativePSFWarning",
    "estimate_background",
    "prepare_psf",
    "resample_psf",
    "select_plane",
]

#: Largest kernel side (pixels) :func:`prepare_psf` accepts by default.  The shipped
#: basis represents pseudo-inverse kernels of side ``d = 151`` and was fitted on kernels
#: of 9-27 px; kernels up to about twice that (~55 px) are still represented well (check
#: the representation error the engine reports), and 75 px (``d // 2``) is the hard
#: limit beyond which the pseudo-inverse no longer fits in the basis window.
MAX_KERNEL_SIZE = 75

#: Largest kernel side (pixels) anything in :mod:`napari_glra.physics` makes, whatever the
#: size limit asked for (``max_size=None``): :func:`~napari_glra.physics.kernels.make_kernel`,
#: :func:`~napari_glra.physics.optics.defocus_psf` and the upsampling of
#: :func:`resample_psf` refuse larger kernels with a ``ValueError`` before allocating them
#: (a 1001 x 1001 float64 kernel is 8 MB; a kernel that large is far beyond any basis and
#: is almost surely a unit mistake).
ABSOLUTE_MAX_SIZE = 1001

#: Negative values removed by the clipping of :func:`prepare_psf` (without ``background``)
#: above this fraction of the positive mass raise a :class:`NegativePSFWarning`.
NEGATIVE_MASS_WARN = 0.01

_SUBPIXEL_TOL = 1e-3


class NegativePSFWarning(UserWarning):
    """:func:`prepare_psf` set a noticeable negative part of the PSF to zero."""


def _as_float_array(psf: object) -> np.ndarray:
    if isinstance(psf, np.ma.MaskedArray):
        raise TypeError(
            "PSF is a numpy masked array; its masked values would be used as they are. Fill them "
            "first, e.g. np.ma.filled(psf, 0) (or the background level)"
        )
    a = np.asarray(psf)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"PSF must be a numeric array, got dtype {a.dtype}")
    if np.iscomplexobj(a):
        raise TypeError("PSF must be real-valued, got a complex array")
    if a.size == 0:
        raise ValueError(f"PSF is empty (shape {a.shape})")
    if a.ndim not in (2, 3):
        raise ValueError(
            f"PSF must be a 2D kernel or a 3D (z, y, x) bead stack, got a {a.ndim}D array of shape {a.shape}"
        )
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("PSF contains NaN or inf values; fix or crop the measured PSF first")
    return a


def _border(a: np.ndarray) -> np.ndarray:
    """Pixels of a frame about a tenth of the side wide around a 2D array."""
    h, w = a.shape
    b = max(1, min(h, w) // 10)
    if 2 * b >= min(h, w):
        return a.ravel()
    return np.concatenate([a[:b].ravel(), a[-b:].ravel(), a[b:-b, :b].ravel(), a[b:-b, -b:].ravel()])


def estimate_background(psf: np.ndarray) -> float:
    """Background level of a measured PSF: the median of its border pixels.

    Parameters
    ----------
    psf : numpy.ndarray
        2D PSF (or a 3D stack: the border of every plane is used).

    Returns
    -------
    float
        The estimated constant background.
    """
    a = _as_float_array(psf)
    planes = a if a.ndim == 3 else a[None]
    return float(np.median(np.concatenate([_border(p) for p in planes])))


def select_plane(stack: np.ndarray, plane: int | str | None = None) -> int:
    """Index of the plane of a 3D bead stack to use as the 2D PSF.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(z, y, x)`` PSF stack.
    plane : int or {"peak", "sum"}, optional
        An explicit index (negative counts from the end), ``"peak"`` (default:
        the plane with the highest peak above its own median, i.e. the in-focus
        plane of a widefield or confocal bead) or ``"sum"`` (the plane with the
        largest total intensity above its median).

    Returns
    -------
    int
        The plane index.
    """
    a = np.asarray(stack)
    if a.ndim != 3:
        raise ValueError(f"select_plane needs a 3D (z, y, x) stack, got shape {a.shape}")
    nz = a.shape[0]
    if plane is None:
        plane = "peak"
    if isinstance(plane, str):
        if plane not in ("peak", "sum"):
            raise ValueError(f"plane must be an integer index, 'peak' or 'sum', got {plane!r}")
        flat = a.reshape(nz, -1).astype(np.float64)
        above = flat - np.median(flat, axis=1, keepdims=True)
        score = above.max(axis=1) if plane == "peak" else np.clip(above, 0, None).sum(axis=1)
        return int(np.argmax(score))
    if isinstance(plane, bool) or int(plane) != plane:
        raise ValueError(f"plane must be an integer index, 'peak' or 'sum', got {plane!r}")
    plane = int(plane)
    if not -nz <= plane < nz:
        raise ValueError(f"plane {plane} is out of range for a stack of {nz} planes")
    return plane % nz


def _overlap_matrix(n_in: int, n_out: int, factor: float) -> np.ndarray:
    """``(n_out, n_in)`` fraction of each input pixel falling in each output pixel.

    Grids are centred on each other; output pixels are ``1 / factor`` input pixels wide.
    """
    step = 1.0 / factor
    in_lo = np.arange(n_in) - (n_in - 1) / 2 - 0.5
    out_lo = (np.arange(n_out) - (n_out - 1) / 2 - 0.5) * step
    lo = np.maximum(out_lo[:, None], in_lo[None, :])
    hi = np.minimum(out_lo[:, None] + step, in_lo[None, :] + 1)
    return np.clip(hi - lo, 0.0, None)


def _odd_at_least(n: float) -> int:
    n = max(1, int(np.ceil(n - 1e-9)))
    return n if n % 2 else n + 1


def resample_psf(psf: np.ndarray, psf_pixel_size: float, image_pixel_size: float) -> np.ndarray:
    """Resample a 2D PSF from its pixel size to the image's, conserving total energy.

    Coarser target pixels (the usual case: a bead imaged at a finer sampling)
    integrate the PSF exactly over each target pixel (area weighting, no
    aliasing); finer target pixels use cubic spline interpolation
    (:func:`scipy.ndimage.map_coordinates`).  Both grids are centred on each
    other, the output side is odd, and the sum is rescaled to the input's.

    Parameters
    ----------
    psf : numpy.ndarray
        2D PSF.
    psf_pixel_size, image_pixel_size : float
        Pixel sizes (same unit, > 0).

    Returns
    -------
    numpy.ndarray
        Resampled float64 PSF with the same total energy.

    Raises
    ------
    ValueError
        If a pixel size is not a positive number, or if upsampling would make the PSF
        wider than :data:`ABSOLUTE_MAX_SIZE` px and twice its size (checked before
        allocating: usually a unit mistake in one of the pixel sizes).
    """
    a = _as_float_array(psf)
    if a.ndim != 2:
        raise ValueError(f"resample_psf needs a 2D PSF, got shape {a.shape}")
    for name, v in (("psf_pixel_size", psf_pixel_size), ("image_pixel_size", image_pixel_size)):
        if v is None or isinstance(v, bool) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    factor = float(psf_pixel_size) / float(image_pixel_size)  # output px per input px
    total = a.sum()
    if abs(factor - 1) < 1e-9:
        return a.copy()
    h, w = a.shape
    limit = max(ABSOLUTE_MAX_SIZE, 2 * max(h, w))
    if factor > 1 and max(h, w) * factor > limit:
        raise ValueError(
            f"resampling the {h}x{w} px PSF from a pixel size of {float(psf_pixel_size):g} to "
            f"{float(image_pixel_size):g} (x{factor:.3g} finer) would make it about "
            f"{max(h, w) * factor:.0f} px wide, more than the {limit} px limit (ABSOLUTE_MAX_SIZE = "
            f"{ABSOLUTE_MAX_SIZE} px, or twice the PSF's size). Check the two pixel sizes: same unit "
            "(e.g. both µm), psf_pixel_size is the PSF's and image_pixel_size the image's"
        )
    oh, ow = _odd_at_least(h * factor), _odd_at_least(w * factor)
    if factor < 1:
        out = _overlap_matrix(h, oh, factor) @ a @ _overlap_matrix(w, ow, factor).T
    else:
        yy = (np.arange(oh) - (oh - 1) / 2) / factor + (h - 1) / 2
        xx = (np.arange(ow) - (ow - 1) / 2) / factor + (w - 1) / 2
        grid = np.meshgrid(yy, xx, indexing="ij")
        out = ndimage.map_coordinates(a, grid, order=3, mode="constant", cval=0.0)
        out = np.clip(out, 0.0, None)
    s = out.sum()
    if s > 0:
        out *= total / s
    return out


def _centre(a: np.ndarray, center: str) -> tuple[float, float]:
    if center == "mass":
        cy, cx = ndimage.center_of_mass(a)
        return float(cy), float(cx)
    iy, ix = np.unravel_index(int(np.argmax(a)), a.shape)
    pos = [float(iy), float(ix)]
    # Parabolic sub-pixel refinement of the peak along each axis.
    for axis, i in ((0, iy), (1, ix)):
        if 0 < i < a.shape[axis] - 1:
            idx = [iy, ix]
            idx[axis] = i - 1
            lo = a[tuple(idx)]
            idx[axis] = i + 1
            hi = a[tuple(idx)]
            mid = a[iy, ix]
            den = lo - 2 * mid + hi
            if den < 0:
                pos[axis] += float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5))
    return pos[0], pos[1]


def _centre_on_pixel(a: np.ndarray, center: str) -> np.ndarray:
    """Embed ``a`` in an odd square whose centre pixel holds its centre (sub-pixel shift)."""
    cy, cx = _centre(a, center)
    iy, ix = int(np.round(cy)), int(np.round(cx))
    fy, fx = cy - iy, cx - ix
    sub = abs(fy) > _SUBPIXEL_TOL or abs(fx) > _SUBPIXEL_TOL
    h, w = a.shape
    half = max(iy, h - 1 - iy, ix, w - 1 - ix) + (2 if sub else 0)
    n = 2 * half + 1
    out = np.zeros((n, n))
    out[half - iy : half - iy + h, half - ix : half - ix + w] = a
    if sub:
        out = np.clip(ndimage.shift(out, (-fy, -fx), order=3, mode="constant", cval=0.0), 0.0, None)
    return out


def _trim_zero_rings(a: np.ndarray) -> np.ndarray:
    """Strip all-zero outer rings of an odd square array (keeps the centre pixel centred)."""
    n = a.shape[0]
    nz = np.argwhere(a > 1e-9 * a.max())
    if nz.size == 0:
        return a
    c = n // 2
    half = int(np.abs(nz - c).max())
    return a[c - half : c + half + 1, c - half : c + half + 1]


def _crop_energy(a: np.ndarray, fraction: float) -> np.ndarray:
    """Smallest centred odd square of ``a`` holding at least ``fraction`` of its energy."""
    n = a.shape[0]
    c = n // 2
    total = a.sum()
    for half in range(c + 1):
        if a[c - half : c + half + 1, c - half : c + half + 1].sum() >= fraction * total * (1 - 1e-12):
            return a[c - half : c + half + 1, c - half : c + half + 1]
    return a


def prepare_psf(
    psf: np.ndarray,
    *,
    background: None | str | float = None,
    max_size: int | None = MAX_KERNEL_SIZE,
    center: str = "mass",
    crop_energy: float | None = None,
    psf_pixel_size: float | None = None,
    image_pixel_size: float | None = None,
    plane: int | str | None = None,
) -> np.ndarray:
    """Check and normalise a user PSF into an odd, centred, non-negative kernel summing to one.

    Parameters
    ----------
    psf : array_like
        2D kernel, or a 3D ``(z, y, x)`` bead stack (one plane is used, see
        ``plane``).  Any real numeric dtype (e.g. uint16 camera counts).
    background : None, "auto" or float
        Background to subtract before clipping negatives: ``None`` (default)
        subtracts nothing, ``"auto"`` the median of the border pixels
        (:func:`estimate_background`), a number that constant (e.g. the camera
        offset).  With ``None``, negative values holding more than 1 % of the
        positive mass are clipped with a :class:`NegativePSFWarning`; give a
        background (``0``: subtract nothing) to clip them silently.
    max_size : int or None
        Largest allowed side of the prepared kernel (default
        :data:`MAX_KERNEL_SIZE`, the limit of the shipped basis); ``None``
        disables the check.
    center : {"mass", "peak"}
        Move the centre of mass (default) or the sub-pixel peak onto the
        centre pixel.
    crop_energy : float, optional
        If given (e.g. ``0.99``), crop to the smallest centred odd square
        holding that fraction of the energy.
    psf_pixel_size, image_pixel_size : float, optional
        Pixel sizes of the PSF and of the image to restore (same unit); give
        both to resample the PSF onto the image's sampling (energy conserving,
        see :func:`resample_psf`; an upsampling beyond
        :data:`ABSOLUTE_MAX_SIZE` px is refused).
    plane : int or {"peak", "sum"}, optional
        For a 3D stack: the plane to use, or how to find the in-focus one
        (default ``"peak"``, see :func:`select_plane`).  Ignored for 2D input.

    Returns
    -------
    numpy.ndarray
        Square float64 kernel of odd side, non-negative, summing to one, with
        its centre (of mass or peak) on the centre pixel.

    Raises
    ------
    TypeError
        If ``psf`` is not a real numeric array, or is a numpy masked array
        (fill it first: ``np.ma.filled(psf, 0)``).
    ValueError
        If it is empty, not 2D/3D, contains NaN/inf, has no positive mass
        (all zeros, negative sum, or nothing left above the background), if an
        argument is invalid, if resampling would make it larger than
        :data:`ABSOLUTE_MAX_SIZE` px, or if the prepared kernel is larger than
        ``max_size``.

    Warns
    -----
    NegativePSFWarning
        When ``background`` is ``None`` and clipping the negative values removes
        more than 1 % of the positive mass (e.g. a sharpening kernel would
        become nearly a delta).

    Examples
    --------
    >>> import numpy as np
    >>> k = prepare_psf(np.pad(np.ones((3, 4)), 2))
    >>> k.shape, float(k.sum())
    ((5, 5), 1.0)
    """
    a = _as_float_array(psf)
    if center not in ("mass", "peak"):
        raise ValueError(f"center must be 'mass' or 'peak', got {center!r}")
    if crop_energy is not None and not (0 < crop_energy <= 1):
        raise ValueError(f"crop_energy must be in (0, 1], e.g. 0.99, got {crop_energy!r}")
    if max_size is not None and (isinstance(max_size, bool) or int(max_size) != max_size or max_size < 1):
        raise ValueError(f"max_size must be a positive integer or None, got {max_size!r}")
    if (psf_pixel_size is None) != (image_pixel_size is None):
        raise ValueError("give both psf_pixel_size and image_pixel_size to resample the PSF, or neither")

    if a.ndim == 3:
        a = a[select_plane(a, plane)]

    total = a.sum()
    if not np.any(a):
        raise ValueError("PSF is all zeros")
    if total < 0:
        raise ValueError(
            f"PSF has a negative sum ({total:.3g}); is it inverted or background-subtracted twice?"
        )

    if background is not None:
        if isinstance(background, str):
            if background != "auto":
                raise ValueError(f"background must be None, 'auto' or a number, got {background!r}")
            bg = estimate_background(a)
        else:
            bg = float(background)
            if not np.isfinite(bg):
                raise ValueError(f"background must be a finite number, got {background!r}")
        a = a - bg
    else:
        neg, pos = -float(a[a < 0].sum()), float(a[a > 0].sum())
        if neg > NEGATIVE_MASS_WARN * pos:
            warnings.warn(
                f"the PSF has negative values holding {100 * neg / pos:.3g} % of its positive mass; they "
                "were set to 0, which changes the kernel. A blur PSF is non-negative (a sharpening or "
                "difference kernel is not a PSF). If the negatives are noise around a subtracted "
                "background, pass background=0 to clip them without this warning, or "
                "background='auto' to subtract the border median first",
                NegativePSFWarning,
                stacklevel=2,
            )
    a = np.clip(a, 0.0, None)
    if a.sum() <= 0:
        raise ValueError(
            "PSF has no positive mass"
            + (" above the background; use a lower background" if background is not None else "")
        )

    if psf_pixel_size is not None:
        a = resample_psf(a, psf_pixel_size, image_pixel_size)  # type: ignore[arg-type]

    a = _trim_zero_rings(_centre_on_pixel(a, center))
    if crop_energy is not None:
        a = _crop_energy(a, float(crop_energy))

    if max_size is not None and a.shape[0] > max_size:
        raise ValueError(
            f"the prepared PSF is {a.shape[0]}x{a.shape[0]} px, larger than the {int(max_size)} px limit of "
            f"the basis (kernels up to ~55 px work well). Crop it to the energy that matters "
            f"(prepare_psf(..., crop_energy=0.99) or a smaller array), or resample it to a coarser "
            f"pixel size "
            f"(psf_pixel_size=..., image_pixel_size=...; e.g. bin the image and the PSF 2x)."
        )
    return a / a.sum()
