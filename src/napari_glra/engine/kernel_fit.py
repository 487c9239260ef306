"""Preparing a blur kernel for a model, and how well the model's GLRA basis represents it.

:func:`prepare_kernel` validates a 2D kernel and prepares it
(:func:`napari_glra.physics.psf.prepare_psf`) within the size the model's basis
supports; :func:`kernel_fit_error` is the relative error of its representation
in the basis, and :func:`fit_warning_threshold` the error above which the
engine warns (:class:`KernelFitWarning`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_glra.engine.inputs import check_dtype, check_noise_level, check_not_masked, is_dask
from napari_glra.engine.registry import load_model
from napari_glra.glra.model_io import ModelFiles
from napari_glra.physics.psf import prepare_psf

__all__ = ["FIT_ERROR_WARN", "fit_warning_threshold", "kernel_fit_error", "prepare_kernel"]

#: Relative GLRA representation error above which a kernel triggers a
#: a :class:`KernelFitWarning` (raised to twice the basis' worst held-out error if larger).
FIT_ERROR_WARN = 0.10
#: Energy fraction defining a kernel's extent (:func:`kernel_extent`).
EXTENT_ENERGY = 0.99


class KernelFitWarning(UserWarning):
    """The kernel is poorly represented by the model's GLRA basis (results may be poor)."""


def _basis_size_limit(model: ModelFiles) -> int:
    """Largest kernel side the model's basis supports (``d // 2``, odd)."""
    d = int(model.basis.d)
    lim = d // 2
    return lim if lim % 2 else lim - 1


def prepare_kernel(kernel: Any, model: ModelFiles, image_ndim: int | None = None) -> np.ndarray:
    """Validate a 2D kernel and prepare it (``prepare_psf``) for a model.

    Parameters
    ----------
    kernel : array_like
        2D blur kernel / PSF (leading singleton axes are dropped).
    model : ModelFiles
        The model whose basis limits the kernel size.
    image_ndim : int, optional
        Dimensionality of the image, for the error message of a 3D kernel.

    Returns
    -------
    numpy.ndarray
        Odd, square, centred, non-negative float64 kernel summing to one.
    """
    if kernel is None:
        raise TypeError("kernel is None; pass a 2D blur kernel (e.g. make_kernel('gaussian', sigma=2))")
    check_not_masked(kernel, "kernel")
    if is_dask(kernel):
        kernel = kernel.compute()
    k = np.asarray(kernel)
    check_dtype(k, "kernel")
    if k.size == 0:
        raise ValueError(f"kernel is empty (shape {k.shape}); pass a 2D blur kernel")
    while k.ndim > 2 and k.shape[0] == 1:
        k = k[0]
    if k.ndim != 2:
        if k.ndim == 3:
            img = f" with a {image_ndim}D image" if image_ndim else ""
            raise ValueError(
                f"a 3D kernel of shape {k.shape} was given{img}; napari-glra restores 2D planes with a 2D "
                "kernel: pass one plane (prepare_psf(bead_stack) picks the in-focus plane of a bead stack)"
            )
        raise ValueError(f"kernel must be a 2D array, got {k.ndim}D with shape {k.shape}")
    kf = k.astype(np.float64)
    if not np.all(np.isfinite(kf)):
        raise ValueError("kernel contains NaN or inf values; replace them (e.g. np.nan_to_num) first")
    total = float(kf.sum())
    if not np.any(kf):
        raise ValueError(
            "kernel is all zeros; a blur kernel needs positive values summing to a positive total"
        )
    if total <= 0:
        raise ValueError(
            f"kernel has a non-positive sum ({total:.3g}); a blur kernel must be mostly positive "
            "(is it inverted, or background-subtracted twice?)"
        )
    limit = _basis_size_limit(model)
    try:
        k = prepare_psf(kf, max_size=limit)
    except ValueError as err:
        raise ValueError(f"kernel: {err}") from None
    check_kernel_size(k, model)
    return k


def kernel_extent(kernel: np.ndarray, energy: float = EXTENT_ENERGY) -> int:
    """Side of the smallest centred square holding ``energy`` of a (centred, odd) kernel's mass."""
    k = np.abs(np.asarray(kernel, np.float64))
    total = k.sum()
    c0, c1 = k.shape[0] // 2, k.shape[1] // 2
    for r in range(max(c0, c1) + 1):
        if k[max(0, c0 - r) : c0 + r + 1, max(0, c1 - r) : c1 + r + 1].sum() >= energy * total:
            return 2 * r + 1
    return int(max(k.shape))


def kernel_size_limit(model: ModelFiles) -> int | None:
    """Largest kernel extent (:func:`kernel_extent`) the model restores correctly, if measured.

    Recorded in the model's ``config.json`` (``kernel_limit.extent_px``) by
    ``benchmarks/kernel_limits.py``.
    """
    rec = model.config.get("kernel_limit")
    if isinstance(rec, dict) and isinstance(rec.get("extent_px"), int) and rec["extent_px"] > 0:
        return int(rec["extent_px"])
    return None


def check_kernel_size(kernel: np.ndarray, model: ModelFiles) -> None:
    """Refuse a kernel larger than the model's measured limit, saying what to do instead."""
    limit = kernel_size_limit(model)
    if limit is None:
        return
    ext = kernel_extent(kernel)
    if ext <= limit:
        return
    factor = int(np.ceil(ext / limit))
    raise ValueError(
        f"the kernel is too large for model {model.name!r}: {EXTENT_ENERGY:.0%} of its energy spans "
        f"{ext} px, and this model restores kernels up to {limit} px correctly (larger ones come back "
        "with a wrong mean or worse than the blurred input; measured by benchmarks/kernel_limits.py). "
        "Bin the image and "
        f"the PSF by {factor} (e.g. the image with skimage.transform.downscale_local_mean and the PSF "
        f"with prepare_psf(psf, psf_pixel_size=1, image_pixel_size={factor}): the kernel shrinks to about "
        f"{int(np.ceil(ext / factor))} px), or crop a PSF whose outer part is negligible "
        "(prepare_psf(psf, crop_energy=0.99))"
    )


def fit_warning_threshold(model: ModelFiles) -> float:
    """Representation error above which a kernel is reported as poorly represented."""
    held = model.basis.metadata.get("heldout_error") or {}
    worst = max((float(v) for v in held.values()), default=0.0) if isinstance(held, dict) else 0.0
    return max(FIT_ERROR_WARN, 2.0 * worst)


def kernel_fit_error(kernel: Any, model: Any = "default", noise_level: float = 0.01) -> float:
    """Relative error ``‖k† - L M Rᵀ‖ / ‖k†‖`` of a kernel's representation in a model's basis."""
    mf = load_model(model)
    k = prepare_kernel(kernel, mf)
    sigma = check_noise_level(noise_level)
    _, err = mf.basis.kernel_coefficients(k, sigma)
    return float(err)


def families_text(model: ModelFiles) -> str:
    fams = model.basis.metadata.get("families")
    if isinstance(fams, dict) and fams:
        parts = []
        for name, ranges in fams.items():
            if isinstance(ranges, dict) and ranges:
                rng = ", ".join(f"{k} {v[0]:g}-{v[1]:g}" for k, v in ranges.items() if len(v) == 2)
                parts.append(f"{name} ({rng})" if rng else str(name))
            else:
                parts.append(str(name))
        return "; ".join(parts)
    return f"at most {_basis_size_limit(model)} px"
