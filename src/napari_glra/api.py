"""The public scripting API of napari-glra (no Qt or napari needed).

>>> from napari_glra.api import deconvolve, make_kernel          # doctest: +SKIP
>>> k = make_kernel("motion", length=15, seed=1)                  # doctest: +SKIP
>>> restored = deconvolve(blurred, k)                             # doctest: +SKIP

Intensity and noise contract
----------------------------
- A float image on the unit scale (0.1st and 99.9th percentiles within
  [-0.25, 1.25], the median at most 1, the 99.9th at least 0.5) is used as it is: that is the scale
  the models were trained on, and ``noise_level`` is the standard deviation of
  the noise on that scale (0.01 = 1 % of the range).
- Any other image (uint8, uint16, ..., floats on another scale, dim floats) is
  mapped to [0, 1] by a robust affine map derived from the data (offset: the
  0.1st percentile; the 99.9th percentile at 0.9, or the maximum of clipped
  data at 1) and the result is
  mapped back, on the input's own intensity scale (offset kept, scaling the
  input scales the output).  ``noise_level`` is then a fraction of that range
  (``info["intensity_map"]["scale"]``).  The output is float32 (float64 for
  float64 input); ``output_dtype`` returns another dtype (``"input"``: the
  input's), rounded and clipped to its range, never wrapped.
- Isolated outliers (hot pixels, cosmic rays) are replaced by their 3x3 median
  first (:class:`OutlierWarning`).
- ``noise_level=None`` estimates the noise on the mapped image
  (:func:`estimate_noise` with the kernel: patch PCA and the periodogram where
  the kernel suppresses the signal, the smaller of the two).
- A noise level outside the model's training range gives an
  :class:`OutsideTrainingWarning` naming a shipped model that covers it, if any.
- Kernels larger than the model's measured limit are refused before any work.
  See docs/inference.md for the measured limits.

Every function here is a thin wrapper over :mod:`napari_glra.engine` (the one
inference code path, also used by the napari widget) and the modules it is
built from (:mod:`napari_glra.engine.registry`, :mod:`napari_glra.engine.devices`,
:mod:`napari_glra.engine.kernel_fit`).  The napari widgets import nothing else of the package.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from napari_glra.engine import DeconvResult, KernelFitWarning, deconvolve_iter, kernel_fit, run
from napari_glra.engine import registry as model_registry
from napari_glra.engine.devices import PRECISIONS, available_devices
from napari_glra.engine.noise import estimate_noise
from napari_glra.engine.outliers import OutlierWarning
from napari_glra.engine.ranges import OutsideTrainingWarning
from napari_glra.glra.model_io import ModelFiles
from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import FAMILIES, make_kernel
from napari_glra.physics.optics import defocus_psf
from napari_glra.physics.psf import NegativePSFWarning
from napari_glra.physics.psf import prepare_psf as _prepare_psf

__all__ = [
    "DeconvResult",
    "KERNEL_FAMILIES",
    "KernelFitWarning",
    "ModelFiles",
    "NegativePSFWarning",
    "OutlierWarning",
    "OutsideTrainingWarning",
    "PRECISIONS",
    "available_devices",
    "available_models",
    "deconvolve",
    "deconvolve_iter",
    "degrade",
    "estimate_noise",
    "fit_warning_threshold",
    "kernel_defaults",
    "kernel_fit_error",
    "load_model",
    "make_kernel",
    "prepare_psf",
]

#: Kernel families :func:`make_kernel` knows: those the shipped basis was built for, then
#: ``"defocus"`` (a widefield microscope PSF, :func:`napari_glra.physics.optics.defocus_psf`).
KERNEL_FAMILIES: tuple[str, ...] = (*FAMILIES, "defocus")


def kernel_defaults(family: str) -> dict[str, float]:
    """The numeric parameters of a kernel family and their default values.

    Parameters
    ----------
    family : str
        One of :data:`KERNEL_FAMILIES`.

    Returns
    -------
    dict
        ``{name: default}`` of the family's physical parameters (for ``"defocus"``
        the optics: ``na``, ``wavelength``, ``pixel_size``, ``defocus``, ``n_immersion``;
        for the others their shape parameter's usual value), in signature order.
    """
    if family == "defocus":
        out = {}
        for p in inspect.signature(defocus_psf).parameters.values():
            if p.name == "size" or p.kind is p.KEYWORD_ONLY:
                break
            if p.name != "oversample":
                out[p.name] = float(p.default)
        return out
    shapes = {"gaussian": {"sigma": 2.0}, "disk": {"radius": 5.0}, "motion": {"length": 15.0, "seed": 0}}
    if family not in shapes:
        raise ValueError(f"unknown kernel family {family!r}; choose one of {list(KERNEL_FAMILIES)}")
    return dict(shapes[family])


def prepare_psf(psf: Any, **kwargs: Any) -> np.ndarray:
    """Check and normalise a PSF into an odd, centred, non-negative kernel summing to one.

    Re-export of :func:`napari_glra.physics.psf.prepare_psf` (see there for the
    options: background subtraction, bead stacks, resampling, cropping).

    Parameters
    ----------
    psf : array_like
        2D kernel or 3D bead stack.
    **kwargs
        Options of :func:`napari_glra.physics.psf.prepare_psf`.

    Returns
    -------
    numpy.ndarray
        The prepared kernel.
    """
    return _prepare_psf(psf, **kwargs)


def _tqdm_progress() -> Any:
    from tqdm.auto import tqdm

    bar = tqdm(total=1.0, unit="", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def update(fraction: float, message: str) -> None:
        bar.n = round(float(fraction), 4)
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    return bar, update


def deconvolve(
    image: Any,
    kernel: Any,
    *,
    noise_level: float | None = None,
    model: str | os.PathLike | ModelFiles = "default",
    device: str = "auto",
    channel_axis: int | None = None,
    tile_size: int | None = None,
    output_dtype: Any = None,
    precision: str = "auto",
    tta: bool = False,
    progress: Any = None,
    return_info: bool = False,
) -> Any:
    """Restore a blurred, noisy image with a known blur kernel (GLRA network).

    Parameters
    ----------
    image : array_like
        2D image, nD stack (independent 2D planes over the last two axes) or
        multichannel image; numpy or dask (dask in → lazy dask out).  Any
        real numeric dtype; see the intensity contract in the module docs.
    kernel : array_like
        2D blur kernel / PSF, applied to every plane; it goes through
        :func:`prepare_psf` (centred, normalised to sum 1).  It must be smaller
        than the image and than the model's limit.
    noise_level : float, optional
        Standard deviation of the noise as a fraction of the image's intensity
        range on the models' scale (for a unit-scale float image: on its own
        [0, 1] scale), 0.01 = 1 %.  ``None`` (default) estimates it.
    model : str, path or ModelFiles
        A shipped model's name (:func:`available_models`), a model directory
        or a loaded model (:func:`load_model`).
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.
    channel_axis : int, optional
        Axis of colour channels, each restored on its own.  Default: the last
        axis of an image whose last axis has 3 or 4 entries (RGB/RGBA; alpha
        is copied unchanged); otherwise none.
    tile_size : int, optional
        Restore planes in tiles with cores of this side (overlapping by the
        network's receptive field, so the result equals the untiled one).
        Default: tiles only when a plane would exceed the memory budget.
    output_dtype : dtype or "input", optional
        Default float32 (float64 for float64 input) on the input's intensity
        scale; an integer dtype is rounded and clipped to its range.
    precision : {"auto", "float32", "bfloat16"}
        Arithmetic of the network's artifact block.  ``"auto"``: bfloat16 on
        CPUs with native bfloat16 (AVX512-BF16/AMX; about 3x faster there,
        -0.003 dB measured on natural images), float32 elsewhere.  The linear
        GLRA block always runs in float32.
    tta : bool
        Test-time augmentation: restore the 8 flips and rotations of each plane (with
        the kernel transformed alike) and average them.  8 times the run time for a
        small gain (measured on the model cards: +0.14 to +0.31 dB for ``microscopy``,
        +0.03 to +0.15 dB for ``default``; docs/inference.md).
    progress : callable or True, optional
        ``progress(fraction, message)`` after each plane or tile, or ``True``
        for a tqdm progress bar.
    return_info : bool
        Also return the run's info dict (noise level used, device, model,
        kernel fit error, timing; see :class:`DeconvResult`).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The restored image, same shape as ``image`` (and ``info`` if
        ``return_info``).

    Raises
    ------
    ValueError
        Bad input, each with what to do: NaN/inf values, empty or 1D arrays, a
        zero or negative-sum kernel, a kernel larger than the image or the
        model's measured limit, a 3D kernel, an unknown model or unavailable
        device, a bad ``channel_axis``.
    TypeError
        Non-numeric or masked image or kernel.

    Warns
    -----
    KernelFitWarning
        When the model's basis represents the kernel poorly (relative error
        above 10 %, see :func:`kernel_fit_error`).

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> from napari_glra.api import deconvolve, degrade, make_kernel  # doctest: +SKIP
    >>> k = make_kernel("gaussian", sigma=2.0)                         # doctest: +SKIP
    >>> blurred, sharp = degrade(data.camera() / 255, k, noise=0.01)   # doctest: +SKIP
    >>> restored = deconvolve(blurred, k, noise_level=0.01)            # doctest: +SKIP
    """
    bar = None
    callback = progress
    if progress is True:
        bar, callback = _tqdm_progress()
    elif progress is not None and progress is not False and not callable(progress):
        raise TypeError(f"progress must be a callable(fraction, message), True or None, got {progress!r}")
    elif progress is False:
        callback = None
    try:
        result = run(
            deconvolve_iter(
                image,
                kernel,
                noise_level=noise_level,
                model=model,
                device=device,
                channel_axis=channel_axis,
                tile_size=tile_size,
                output_dtype=output_dtype,
                precision=precision,
                tta=tta,
            ),
            callback,
        )
    finally:
        if bar is not None:
            bar.close()
    return (result.data, result.info) if return_info else result.data


def load_model(name: str | os.PathLike = "default") -> ModelFiles:
    """Load a model by name or directory (cached; reloaded if its files change).

    Parameters
    ----------
    name : str or path
        A shipped model's name (see :func:`available_models`) or the path of a
        directory holding ``weights.safetensors``, ``config.json`` and
        ``basis.safetensors``.

    Returns
    -------
    ModelFiles
        Network (eval mode, CPU), basis and config (``.name``, ``.version``).

    Raises
    ------
    ValueError
        Unknown name (the message lists the available ones), an invalid
        ``config.json`` (the message names the field) or inconsistent files.
    FileNotFoundError
        A model directory without one of its three files.
    """
    return model_registry.load_model(name)


def available_models() -> list[str]:
    """Names of the models shipped with the package (``"default"`` first).

    Returns
    -------
    list of str
        Names accepted by :func:`load_model` and ``deconvolve(model=...)``.
    """
    return model_registry.available_models()


def kernel_fit_error(
    kernel: Any, model: str | os.PathLike | ModelFiles = "default", noise_level: float = 0.01
) -> float:
    """How well a model's GLRA basis represents a kernel (what the widget shows).

    Parameters
    ----------
    kernel : array_like
        2D blur kernel / PSF (prepared with :func:`prepare_psf` first).
    model : str, path or ModelFiles
        The model.
    noise_level : float
        Noise level on the [0, 1] scale the pseudo-inverse is computed for.

    Returns
    -------
    float
        Relative error ``‖k† - L M Rᵀ‖ / ‖k†‖`` of the kernel's pseudo-inverse
        ``k†`` in the basis; above 0.1 (10 %) :func:`deconvolve` warns.
    """
    return kernel_fit.kernel_fit_error(kernel, model=model, noise_level=noise_level)


def fit_warning_threshold(model: str | os.PathLike | ModelFiles = "default") -> float:
    """The kernel fit error above which :func:`deconvolve` warns for a model.

    Parameters
    ----------
    model : str, path or ModelFiles
        The model.

    Returns
    -------
    float
        0.1 (10 %), or twice the basis' worst held-out error if that is larger.
    """
    return kernel_fit.fit_warning_threshold(model_registry.load_model(model))
