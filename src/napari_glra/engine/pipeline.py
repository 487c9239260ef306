"""The engine's one code path: plan, then execute, as a generator.

:func:`deconvolve_iter` validates the input and decides everything once
(:func:`napari_glra.engine.plan.make_plan`: validate, load, kernel, intensity map,
noise, coefficients, tiles), then restores every 2D plane
(:mod:`napari_glra.engine.execute`), yielding ``(fraction_done, message)`` after
each plane or tile, and finally *returns* a :class:`DeconvResult` (the generator's
``StopIteration.value``).

:func:`napari_glra.api.deconvolve` drains it with :func:`run`; the napari widget runs
it in a ``thread_worker`` and cancels it by closing the generator (between planes or
tiles).  Dask input gives a lazy dask output built from the same per-plane function.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from napari_glra.engine.execute import execute_iter, lazy_result
from napari_glra.engine.plan import make_plan
from napari_glra.glra.model_io import ModelFiles

__all__ = ["DeconvResult", "deconvolve_iter", "run"]


@dataclass
class DeconvResult:
    """What :func:`deconvolve_iter` returns.

    Attributes
    ----------
    data : numpy.ndarray or dask.array.Array
        The restored image (float32, float64 for float64 input, or the requested
        ``output_dtype``) on the input's intensity scale; lazy for dask input.
    info : dict
        What :meth:`napari_glra.engine.plan.Plan.info` records:
        ``noise_level`` (used, on the models' scale), ``noise_estimated``, ``device``, ``precision``,
        ``model`` / ``model_version`` / ``model_path``, ``kernel_fit_error``,
        ``kernel_shape``, ``intensity_map``, ``channel_axis``, ``n_planes``,
        ``tile_size`` / ``tiles_per_plane`` / ``overlap``, ``lazy``,
        ``warnings`` and ``seconds``.
    """

    data: Any
    info: dict[str, Any] = field(default_factory=dict)


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
    tta: bool = False,
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
    tta : bool
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
    plan = make_plan(
        image,
        kernel,
        noise_level=noise_level,
        model=model,
        device=device,
        channel_axis=channel_axis,
        tile_size=tile_size,
        output_dtype=output_dtype,
        plane_indices=plane_indices,
        precision=precision,
        tta=tta,
    )
    info = plan.info()
    if plan.planes.is_dask:
        data = lazy_result(plan)
        info["seconds"] = time.perf_counter() - t0
        yield 1.0, "built the lazy (dask) result; it is computed when read"
        return DeconvResult(data, info)
    data = yield from execute_iter(plan)
    info["seconds"] = time.perf_counter() - t0
    return DeconvResult(data, info)


def run(gen: Generator[tuple[float, str], None, DeconvResult], progress: Any = None) -> DeconvResult:
    """Drain a :func:`deconvolve_iter` generator, reporting progress to a callable ``(fraction, message)``."""
    while True:
        try:
            fraction, message = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(fraction, message)
