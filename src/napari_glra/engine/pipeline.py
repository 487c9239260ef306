"""The inference engine: any image, any size, any device, through one generator.

:func:`deconvolve_iter` is the one code path from a user array to a restored
array.  It validates the input, puts it on the models' [0, 1] scale
(:mod:`napari_glra.engine.intensity`), estimates the noise if asked
(:mod:`napari_glra.engine.noise`), computes the kernel's GLRA coefficients once,
then restores every 2D plane (tiled when large) with
:func:`napari_glra.glra.inference.restore_batch`, yielding ``(fraction_done,
message)`` after each plane or tile, and finally *returns* a
:class:`DeconvResult` (the generator's ``StopIteration.value``).

:func:`napari_glra.api.deconvolve` drains it; the napari widget runs it in a
``thread_worker`` and cancels it by closing the generator (between planes or
tiles).  Dask input gives a lazy dask output built from the same per-plane
function.

The pieces it is built from (their public names are re-exported here):

- :mod:`napari_glra.engine.inputs`: input validation and the plane layout (a 2D image
  is one plane; for nD input the planes are the last two axes that are not
  ``channel_axis``, every other axis indexes independent planes; RGB(A) last
  axes are channels by default, alpha copied unchanged);
- :mod:`napari_glra.engine.registry`: available models, loading and caching;
- :mod:`napari_glra.engine.devices`: device selection and the memory budget;
- :mod:`napari_glra.engine.tiling`: memory estimate and tile plan (tiles overlap by
  ``net.pad_amount()``, so stitching their cores gives the untiled result);
- :mod:`napari_glra.engine.kernel_fit`: kernel preparation and its GLRA fit error;
- :mod:`napari_glra.engine.border`: the blur-consistent extension of each plane beyond
  its border (:func:`border_extension`).

This module keeps the run itself: restoring each extended plane tile by tile,
stitching, the lazy dask path and :func:`run`.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from napari_glra.engine.border import border_extension, border_pad
from napari_glra.engine.devices import available_devices, memory_budget, resolve_device, resolve_precision
from napari_glra.engine.inputs import (
    _analyse_image,
    _check_finite,
    _check_noise_level,
    _check_tile_size,
    _Job,
    _resolve_output_dtype,
)
from napari_glra.engine.intensity import IntensityMap
from napari_glra.engine.kernel_fit import (
    FIT_ERROR_WARN,
    KernelFitWarning,
    _families_text,
    fit_warning_threshold,
    kernel_fit_error,
    prepare_kernel,
)
from napari_glra.engine.registry import available_models, load_model, model_on_device
from napari_glra.engine.tiling import _auto_tile, estimate_memory, plan_tiles
from napari_glra.glra.inference import kernel_coefficients, restore_batch
from napari_glra.glra.model_io import ModelFiles

__all__ = [
    "DeconvResult",
    "KernelFitWarning",
    "FIT_ERROR_WARN",
    "available_devices",
    "available_models",
    "deconvolve_iter",
    "estimate_memory",
    "fit_warning_threshold",
    "kernel_fit_error",
    "load_model",
    "memory_budget",
    "model_on_device",
    "prepare_kernel",
    "resolve_device",
]


@dataclass
class DeconvResult:
    """What :func:`deconvolve_iter` returns.

    Attributes
    ----------
    data : numpy.ndarray or dask.array.Array
        The restored image (float32 on the input's intensity scale, or the
        requested ``output_dtype``); lazy for dask input.
    info : dict
        ``noise_level`` (used, [0, 1] scale), ``noise_estimated``, ``device``,
        ``model`` / ``model_version`` / ``model_path``, ``kernel_fit_error``,
        ``kernel_shape``, ``intensity_map``, ``channel_axis``, ``n_planes``,
        ``tile_size`` / ``tiles_per_plane`` / ``overlap``, ``lazy``,
        ``warnings`` and ``seconds``.
    """

    data: Any
    info: dict[str, Any] = field(default_factory=dict)


def _cast(out: Any, dt: np.dtype) -> Any:
    """Cast float32 results; integers are rounded and clipped to the dtype's range (never wrapped)."""
    if dt == np.float32:
        return out
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return np.clip(np.rint(out), info.min, info.max).astype(dt)
    return out.astype(dt)


def _restore_plane_iter(
    model: ModelFiles,
    raw: np.ndarray,
    imap: IntensityMap,
    M: np.ndarray,
    device: torch.device,
    tiles: list[tuple[slice, slice, slice, slice]],
    extend: tuple[np.ndarray, float] | None = None,
    body_dtype: torch.dtype | None = None,
) -> Generator[int, None, np.ndarray]:
    """Restore one raw plane tile by tile; yields the tile index, returns the float32 result.

    With ``extend=(kernel, noise_level)`` the plane is first extended beyond its border
    by :func:`border_extension` (``tiles`` then index the extended plane, ``border_pad``
    wider per side, and their cores cover its observed part); the network is told which
    pixels are observed and only the observed ones are restored.
    """
    _check_finite(raw)
    plane = imap.forward(raw).astype(np.float32, copy=False)
    p, obs = 0, None
    if extend is not None:  # blur-consistent extension beyond the border
        p = border_pad(extend[0].shape)
        plane = border_extension(plane, extend[0], extend[1])
        obs = np.zeros(plane.shape, np.float32)
        obs[p:-p, p:-p] = 1.0
    if len(tiles) == 1:
        out = restore_batch(
            model,
            plane[None],
            M,
            device,
            context=p,
            observed=None if obs is None else obs[None],
            body_dtype=body_dtype,
        )[0]
        yield 0
        return imap.inverse(out)
    out = np.empty((plane.shape[0] - 2 * p, plane.shape[1] - 2 * p), np.float32)
    for t, (rows, cols, crop_r, crop_c) in enumerate(tiles):
        win = None if obs is None else np.ascontiguousarray(obs[rows, cols])[None]
        hh, ww = rows.stop - rows.start, cols.stop - cols.start
        # Only the tile's core is restored: the overlap is context for the network.
        ctx = (crop_r.start, hh - crop_r.stop, crop_c.start, ww - crop_c.stop)
        res = restore_batch(
            model,
            np.ascontiguousarray(plane[rows, cols])[None],
            M,
            device,
            context=ctx,
            observed=win,
            body_dtype=body_dtype,
        )[0]
        r0 = rows.start + crop_r.start - p
        c0 = cols.start + crop_c.start - p
        out[r0 : r0 + res.shape[0], c0 : c0 + res.shape[1]] = res
        yield t
    return imap.inverse(out)


def _drain(gen: Generator[Any, None, Any]) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _finish(job: _Job, out: Any) -> Any:
    """Canonical ``(lead..., H, W, C)`` (or ``(n, H, W, C)`` for selected planes) back to the input layout."""
    if job.channel_axis is None:
        return out[..., 0]
    if job.selected is None:
        return _moveaxis(out, -1, job.channel_axis, job.is_dask)
    # Selected planes: each item keeps the spatial and channel axes in their original order.
    ax = job.channel_axis
    spatial = [a for a in range(len(job.shape)) if a != ax][-2:]
    rel = sorted([ax, *spatial]).index(ax)
    return _moveaxis(out, -1, 1 + rel, job.is_dask)


def _moveaxis(a: Any, src: int, dst: int, is_dask: bool) -> Any:
    if is_dask:
        import dask.array as da

        return da.moveaxis(a, src, dst)
    return np.moveaxis(a, src, dst)


def deconvolve_iter(
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
) -> Generator[tuple[float, str], None, DeconvResult]:
    """Deconvolve an image, yielding progress; the generator's return value is a :class:`DeconvResult`.

    Parameters are those of :func:`napari_glra.api.deconvolve` (see there for
    the intensity and noise contract), plus:

    plane_indices : sequence, optional
        Restore only these planes: indices (tuples, or ints for a single
        leading axis / flat indices) into the leading axes.  The result then
        stacks ``deconvolve(image[idx])`` for each index along a new first
        axis, and the intensity map and noise level come from those planes.
    precision : {"auto", "float32", "bfloat16"}
        See :func:`napari_glra.api.deconvolve`.

    Yields
    ------
    tuple of (float, str)
        ``(fraction_done, message)``: once when the work is planned, then after
        each plane or tile.  Closing the generator between two yields cancels
        the run (nothing is returned, no work is left running).

    Returns
    -------
    DeconvResult
        ``data`` and ``info`` (``StopIteration.value``).

    Examples
    --------
    >>> gen = deconvolve_iter(image, kernel)            # doctest: +SKIP
    >>> try:                                              # doctest: +SKIP
    ...     while True:
    ...         fraction, message = next(gen)
    ... except StopIteration as stop:
    ...     result = stop.value
    """
    t0 = time.perf_counter()
    job = _analyse_image(image, channel_axis=channel_axis, plane_indices=plane_indices)
    out_dtype = _resolve_output_dtype(output_dtype, job.dtype)
    tile = _check_tile_size(tile_size)
    sigma_given = None if noise_level is None else _check_noise_level(noise_level)
    mf = load_model(model)
    dev = resolve_device(device)
    body_dtype = resolve_precision(precision, dev)
    k = prepare_kernel(kernel, mf, image_ndim=len(job.shape))
    h, w = job.plane_shape
    if k.shape[0] > h or k.shape[1] > w:
        raise ValueError(
            f"the kernel ({k.shape[0]}x{k.shape[1]} px after preparation) is larger than the image planes "
            f"({h}x{w} px); use a larger image or a smaller (cropped) kernel"
        )
    imap = job.intensity_map()
    sigma = job.estimate_noise(k) if sigma_given is None else sigma_given
    M, fit_err = kernel_coefficients(mf, k, sigma)
    notes: list[str] = []
    threshold = fit_warning_threshold(mf)
    if fit_err > threshold:
        msg = (
            f"the kernel is poorly represented by the basis of model {mf.name!r}: relative error "
            f"{100 * fit_err:.1f} % (> {100 * threshold:.0f} %); the result may show artifacts. The model "
            f"was trained for kernels of {_families_text(mf)}; a smaller or smoother kernel fits better"
        )
        notes.append(msg)
        warnings.warn(msg, KernelFitWarning, stacklevel=2)
    net_model = model_on_device(mf, dev)
    overlap = mf.net.pad_amount()
    core = tile if tile is not None else _auto_tile(mf, (h, w), memory_budget(dev))
    extend = (k, float(sigma))
    bp = border_pad(k.shape)
    # Tiles restore the observed part of the extended plane only (cores aligned to the model's
    # artifact-block cells, so that tiled and untiled runs agree).
    tiles = plan_tiles(
        (h + 2 * bp, w + 2 * bp),
        core,
        overlap,
        region=((bp, bp + h), (bp, bp + w)),
        align=mf.net.config.scale,
    )
    units = job.units()
    info: dict[str, Any] = {
        "noise_level": float(sigma),
        "noise_estimated": sigma_given is None,
        "device": str(dev),
        "precision": "float32" if body_dtype is None else str(body_dtype).removeprefix("torch."),
        "model": mf.name,
        "model_version": mf.version,
        "model_path": str(mf.path) if mf.path else None,
        "kernel_fit_error": float(fit_err),
        "kernel_shape": tuple(int(s) for s in k.shape),
        "intensity_map": imap.to_dict(),
        "channel_axis": job.channel_axis,
        "n_planes": len(units),
        "tile_size": core,
        "tiles_per_plane": len(tiles),
        "overlap": overlap if len(tiles) > 1 else 0,
        "lazy": job.is_dask,
        "warnings": notes,
    }

    if job.is_dask:
        data = _lazy_result(job, net_model, imap, M, dev, tiles, out_dtype, extend, body_dtype)
        info["seconds"] = time.perf_counter() - t0
        yield 1.0, "built the lazy (dask) result; it is computed when read"
        return DeconvResult(data, info)

    total = len(units) * len(tiles)
    yield 0.0, f"restoring {len(units)} plane(s) of {h}x{w} px on {dev} ({len(tiles)} tile(s) per plane)"
    leads = job.leads
    lead_shape = (len(leads),) if job.selected is not None else job.lead_shape
    out = np.empty(lead_shape + (h, w, job.n_channels), np.float32)
    done = 0
    i = 0
    for li, lead in enumerate(leads):
        o_lead = (li,) if job.selected is not None else lead
        for c in job.channels:
            i += 1
            gen = _restore_plane_iter(net_model, job.plane(lead, c), imap, M, dev, tiles, extend, body_dtype)
            while True:
                try:
                    t = next(gen)
                except StopIteration as stop:
                    out[o_lead + (slice(None), slice(None), c)] = stop.value
                    break
                done += 1
                where = f"plane {i}/{len(units)}" + (f", tile {t + 1}/{len(tiles)}" if len(tiles) > 1 else "")
                yield done / total, where
        for c in job.passthrough:
            out[o_lead + (slice(None), slice(None), c)] = job.plane(lead, c)
    data = _cast(np.ascontiguousarray(_finish(job, out)), out_dtype)
    info["seconds"] = time.perf_counter() - t0
    return DeconvResult(data, info)


def _lazy_result(
    job: _Job,
    model: ModelFiles,
    imap: IntensityMap,
    M: np.ndarray,
    device: torch.device,
    tiles: list[tuple[slice, slice, slice, slice]],
    out_dtype: np.dtype,
    extend: tuple[np.ndarray, float] | None = None,
    body_dtype: torch.dtype | None = None,
) -> Any:
    import dask.array as da

    src = job.canon
    if job.selected is not None:
        src = da.stack([src[lead] for lead in job.selected])
    nd = src.ndim
    src = src.rechunk({nd - 3: -1, nd - 2: -1, nd - 1: -1})
    passthrough = job.passthrough

    def block(x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape, np.float32)
        for lead in np.ndindex(*x.shape[:-3]):
            for c in range(x.shape[-1]):
                sl = lead + (slice(None), slice(None), c)
                if c in passthrough:
                    out[sl] = x[sl]
                else:
                    plane = np.asarray(x[sl])
                    out[sl] = _drain(
                        _restore_plane_iter(model, plane, imap, M, device, tiles, extend, body_dtype)
                    )
        return out

    res = src.map_blocks(block, dtype=np.float32)
    return _cast(_finish(job, res), out_dtype)


def run(gen: Generator[tuple[float, str], None, DeconvResult], progress: Any = None) -> DeconvResult:
    """Drain a :func:`deconvolve_iter` generator, reporting progress to a callable ``(fraction, message)``."""
    while True:
        try:
            fraction, message = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(fraction, message)
