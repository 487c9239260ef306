"""Planning a restoration: every decision made once, before any plane is restored.

:func:`make_plan` runs the engine's fixed steps in order and returns them as one
frozen :class:`Plan`:

1. validate the image and view it as 2D planes (:mod:`~napari_glra.engine.inputs`)
   and the scalar options;
2. load the model and choose the device and precision (:mod:`~napari_glra.engine.registry`,
   :mod:`~napari_glra.engine.devices`);
3. prepare the kernel for the model's basis (:mod:`~napari_glra.engine.kernel_fit`);
4. fit the intensity map onto the models' [0, 1] scale (:mod:`~napari_glra.engine.intensity`)
   and look for isolated outliers (:mod:`~napari_glra.engine.outliers`);
5. estimate the noise level unless it is given (:mod:`~napari_glra.engine.noise`);
6. compute the kernel's GLRA coefficients and fit error (:mod:`~napari_glra.glra.inference`);
7. plan the tiles of the border-extended plane (:mod:`~napari_glra.engine.tiling`,
   :mod:`~napari_glra.engine.border`);
8. with ``tta``, the kernel's 8 flips and rotations and their coefficients
   (:mod:`~napari_glra.engine.augment`).

:mod:`~napari_glra.engine.execute` then restores the planes the plan describes.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from napari_glra.engine.augment import transformed_kernels
from napari_glra.engine.border import border_pad
from napari_glra.engine.devices import memory_budget, resolve_device, resolve_precision
from napari_glra.engine.families import family_warning
from napari_glra.engine.inputs import (
    Planes,
    analyse_image,
    check_noise_level,
    check_tile_size,
    resolve_output_dtype,
)
from napari_glra.engine.intensity import IntensityMap, intensity_contract
from napari_glra.engine.kernel_fit import (
    KernelFitWarning,
    families_text,
    fit_warning_threshold,
    prepare_kernel,
)
from napari_glra.engine.noise import noise_of_planes
from napari_glra.engine.outliers import OutlierWarning, map_without_outliers
from napari_glra.engine.ranges import OutsideTrainingWarning, noise_warning
from napari_glra.engine.registry import load_model, model_on_device
from napari_glra.engine.tiling import Tile, auto_tile, estimate_memory, plan_tiles
from napari_glra.glra.inference import kernel_coefficients
from napari_glra.glra.model_io import ModelFiles

__all__ = ["MAX_BATCH", "Plan", "make_plan", "plane_tiles"]

#: Most planes of a stack restored in one network call (on a GPU).
MAX_BATCH = 16


@dataclass(frozen=True)
class Plan:
    """Everything the restoration of an image needs, decided before the first plane runs.

    Attributes
    ----------
    planes : Planes or None
        The validated image viewed as 2D planes (None in a plan unpickled by a worker).
    model : ModelFiles
        The model, its network already on ``device``.
    device : torch.device
        Where the network runs.
    body_dtype : torch.dtype or None
        The artifact block's precision (None: float32).
    kernel : numpy.ndarray
        The prepared kernel (odd, square, centred, sum 1).
    imap : IntensityMap
        The map onto the models' [0, 1] scale and back.
    noise_level : float
        Noise standard deviation on the [0, 1] scale (given or estimated).
    noise_estimated : bool
        Whether ``noise_level`` was estimated.
    coefficients : numpy.ndarray
        The kernel's GLRA coefficients ``M``, one ``(m, m)`` matrix per balance.
    fit_error : float
        The kernel's relative representation error in the model's basis.
    border : int
        Pixels per side of the blur-consistent border extension.
    tiles : tuple of Tile
        Tiles of the extended plane (one when untiled).
    tile_core : int
        Side of a tile's core (pixels).
    out_dtype : numpy.dtype
        The result's dtype.
    notes : tuple of str
        Warnings issued while planning (also in the result's info).
    batch : int
        Planes per network call (:data:`MAX_BATCH` at most): more than one only for
        untiled planes of a stack on a GPU, as many as the memory budget holds.
    resident : bool
        Whether planes are restored on the device from end to end
        (:mod:`~napari_glra.engine.resident`: one copy in, one out); True on a GPU.
    augment : tuple
        Test-time augmentation: ``(kernel, coefficients)`` of each of the 8 flips and
        rotations (:mod:`~napari_glra.engine.augment`); empty without it.
    """

    planes: Planes | None
    model: ModelFiles
    device: torch.device
    body_dtype: torch.dtype | None
    kernel: np.ndarray
    imap: IntensityMap
    noise_level: float
    noise_estimated: bool
    coefficients: np.ndarray
    fit_error: float
    border: int
    tiles: tuple[Tile, ...]
    tile_core: int
    out_dtype: np.dtype
    notes: tuple[str, ...] = ()
    batch: int = 1
    resident: bool = False
    augment: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    def __reduce__(self) -> tuple:
        """Pickle for the workers of a dask cluster: the model by reference, without the input.

        A model loaded from a folder (every shipped model) travels as its path and is
        loaded once per worker process (the registry caches it), instead of ~1 MB of
        weights in every task; the input's plane view, which a task never reads, is left
        out.  An in-memory model without a folder is pickled whole.
        """
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["planes"] = None
        if self.model.path is None:
            return (_rebuild_plan, (None, str(self.device), fields))
        del fields["model"]
        return (_rebuild_plan, (str(self.model.path), str(self.device), fields))

    def info(self) -> dict[str, Any]:
        """The result's ``info`` (without ``seconds``): what was decided, for the record."""
        mf = self.model
        precision = "float32" if self.body_dtype is None else str(self.body_dtype).removeprefix("torch.")
        return {
            "noise_level": float(self.noise_level),
            "noise_estimated": self.noise_estimated,
            "device": str(self.device),
            "precision": precision,
            "model": mf.name,
            "model_version": mf.version,
            "model_path": str(mf.path) if mf.path else None,
            "kernel_fit_error": float(self.fit_error),
            "kernel_shape": tuple(int(s) for s in self.kernel.shape),
            "intensity_map": self.imap.to_dict(),
            "channel_axis": self.planes.channel_axis,
            "n_planes": len(self.planes.units()),
            "tile_size": self.tile_core,
            "tiles_per_plane": len(self.tiles),
            "overlap": mf.net.pad_amount() if len(self.tiles) > 1 else 0,
            "lazy": self.planes.is_dask,
            "planes_per_batch": self.batch,
            "resident": self.resident,
            "tta": bool(self.augment),
            "warnings": list(self.notes),
        }


def _rebuild_plan(model_path: str | None, device: str, fields: dict[str, Any]) -> Plan:
    """Unpickle a :class:`Plan` (see :meth:`Plan.__reduce__`)."""
    if model_path is not None:
        fields["model"] = model_on_device(load_model(model_path), torch.device(device))
    return Plan(**fields)


def plane_tiles(mf: ModelFiles, shape: tuple[int, int], core: int | None, border: int) -> tuple[Tile, ...]:
    """Tiles of a ``shape`` plane extended by ``border`` pixels per side.

    Their cores cover the observed plane only and are aligned to the model's artifact-block
    cells (so that tiled and untiled runs agree).
    """
    h, w = shape
    return tuple(
        plan_tiles(
            (h + 2 * border, w + 2 * border),
            core,
            mf.net.pad_amount(),
            region=((border, border + h), (border, border + w)),
            align=mf.net.config.cell,
        )
    )


def _fit_warning(mf: ModelFiles, fit_error: float) -> str | None:
    threshold = fit_warning_threshold(mf)
    if fit_error <= threshold:
        return None
    return (
        f"the kernel is poorly represented by the basis of model {mf.name!r}: relative error "
        f"{100 * fit_error:.1f} % (> {100 * threshold:.0f} %); the result may show artifacts. The model "
        f"was trained for kernels of {families_text(mf)}; a smaller or smoother kernel fits better"
    )


def make_plan(
    image: Any,
    kernel: Any,
    *,
    noise_level: float | None = None,
    model: str | os.PathLike | ModelFiles = "default",
    device: str | torch.device = "auto",
    channel_axis: int | None = None,
    tile_size: int | None = None,
    output_dtype: Any = None,
    plane_indices: Sequence[Any] | None = None,
    precision: str = "auto",
    tta: bool = False,
) -> Plan:
    """Validate the inputs and decide everything a restoration needs (see the module's steps).

    The options are those of :func:`napari_glra.api.deconvolve`.  A kernel poorly
    represented by the model's basis gives a :class:`KernelFitWarning` here, once.

    Returns
    -------
    Plan
        The frozen plan; :func:`napari_glra.engine.execute.execute_iter` runs it.
    """
    # 1. validate
    planes = analyse_image(image, channel_axis=channel_axis, plane_indices=plane_indices)
    out_dtype = resolve_output_dtype(output_dtype, planes.dtype)
    tile = check_tile_size(tile_size)
    if not isinstance(tta, (bool, np.bool_)):
        raise TypeError(f"tta must be True or False, got {tta!r}")
    sigma_given = None if noise_level is None else check_noise_level(noise_level)
    # 2. load
    mf = load_model(model)
    dev = resolve_device(device)
    body_dtype = resolve_precision(precision, dev)
    # 3. kernel
    k = prepare_kernel(kernel, mf, image_ndim=len(planes.shape))
    h, w = planes.plane_shape
    if k.shape[0] > h or k.shape[1] > w:
        raise ValueError(
            f"the kernel ({k.shape[0]}x{k.shape[1]} px after preparation) is larger than the image planes "
            f"({h}x{w} px); use a larger image or a smaller (cropped) kernel"
        )
    # 4. intensity map (and isolated outliers), 5. noise
    samples = planes.samples()
    imap, mapped, n_outliers = map_without_outliers(
        samples, planes.dtype, k, intensity_contract(mf.config), planes.map_sample()
    )
    on_gpu = dev if dev.type == "cuda" else None  # the GPU path estimates on the device
    sigma = noise_of_planes(mapped, k, on_gpu) if sigma_given is None else sigma_given
    # 6. coefficients
    M, fit_err = kernel_coefficients(mf, k, sigma)
    notes = []
    for msg in (noise_warning(mf, sigma), family_warning(mf, k)):
        if msg is not None:
            notes.append(msg)
            warnings.warn(msg, OutsideTrainingWarning, stacklevel=3)
    if n_outliers:
        msg = (
            f"{n_outliers} isolated outlier pixel(s) (hot pixels or cosmic rays: far brighter than all their "
            f"neighbours and sharper than the kernel allows) in the {len(samples)} plane(s) sampled; such "
            "pixels are replaced by their 3x3 median before restoring (in every plane)"
        )
        notes.append(msg)
        warnings.warn(msg, OutlierWarning, stacklevel=3)
    msg = _fit_warning(mf, fit_err)
    if msg is not None:
        notes.append(msg)
        warnings.warn(msg, KernelFitWarning, stacklevel=3)
    # 7. tiles: they restore the observed part of the extended plane only (cores aligned to the
    # model's artifact-block cells, so that tiled and untiled runs agree).
    core = tile if tile is not None else auto_tile(mf, (h, w), memory_budget(dev))
    bp = border_pad(k.shape)
    tiles = plane_tiles(mf, (h, w), core, bp)
    batch = 1
    if core is None and dev.type == "cuda" and len(planes.units()) > 1 and not tta:
        one = estimate_memory(mf, (h + 2 * bp, w + 2 * bp))
        batch = int(max(1, min(MAX_BATCH, len(planes.units()), memory_budget(dev) // max(one, 1.0))))
    return Plan(
        planes=planes,
        model=model_on_device(mf, dev),
        device=dev,
        body_dtype=body_dtype,
        kernel=k,
        imap=imap,
        noise_level=float(sigma),
        noise_estimated=sigma_given is None,
        coefficients=M,
        fit_error=float(fit_err),
        border=bp,
        tiles=tiles,
        tile_core=core,
        out_dtype=out_dtype,
        notes=tuple(notes),
        batch=batch,
        resident=dev.type == "cuda",
        augment=transformed_kernels(mf, k, sigma) if tta else (),
    )
