"""Validating the engine's inputs and viewing an image as independent 2D planes.

:func:`analyse_image` checks an image (dtype, shape, finite values, the
channel axis, the selected planes) and returns a :class:`Planes`: a canonical
view ``(lead..., H, W, C)`` of it (no copy for numpy, lazy for dask) that also
samples planes for the intensity map and the noise estimate.  The other
``check_*`` / ``resolve_*`` helpers validate the scalar arguments of
:func:`napari_glra.engine.plan.make_plan`.

Layout
------
A 2D image is one plane.  For nD input the planes are the last two axes that
are not the channel axis; every other axis ("leading" axes) indexes
independent planes.  ``channel_axis`` marks colour channels, each restored on
its own (default: the last axis of an image whose last axis has 3 or 4
entries, as napari's RGB(A) layers; the alpha channel of such an RGBA image is
copied unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Number of planes (evenly spaced) the intensity map and the noise level are estimated from.
MAX_SAMPLE_PLANES = 8
#: Planes with more pixels than this are sampled by their central crop of this many pixels for
#: the noise estimate and the outlier count, and by a strided subsample for the intensity map
#: (the same pixels the map of a whole plane uses), so that planning never holds a whole large plane.
LARGE_SAMPLE = 2048 * 2048
#: Largest number of pixels of the strided sample of large planes (as in the intensity map).
MAP_SAMPLES = 4_000_000
#: Upper bound of a sensible noise level on the [0, 1] scale.
MAX_NOISE_LEVEL = 0.5


def is_dask(a: Any) -> bool:
    """Whether ``a`` is a dask array (without importing dask)."""
    return type(a).__module__.split(".")[0] == "dask" and hasattr(a, "dask") and hasattr(a, "compute")


def check_not_masked(a: Any, what: str) -> None:
    """Refuse a numpy masked array: its mask would be silently ignored."""
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(
            f"{what} is a masked array; napari-glra cannot honour a mask (every pixel is data). Fill the "
            f"masked pixels first, e.g. np.ma.filled({what}, np.ma.median({what}))"
        )


def check_dtype(a: Any, what: str) -> None:
    """Refuse non-numeric, boolean and complex arrays with a ``TypeError`` naming ``what``."""
    dt = np.dtype(a.dtype)
    if dt.kind == "b" or not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        kind = (
            "boolean (a mask?)"
            if dt.kind == "b"
            else "complex"
            if np.issubdtype(dt, np.complexfloating)
            else ""
        )
        raise TypeError(
            f"{what} has dtype {dt}{' ' + kind if kind else ''}; napari-glra needs real-valued numbers "
            f"(integers or floats): convert it, e.g. with .astype(np.float32)"
        )


def normalise_channel_axis(channel_axis: Any, shape: tuple[int, ...]) -> tuple[int | None, bool]:
    """``(axis, auto)``: the channel axis as a non-negative index (or None)."""
    ndim = len(shape)
    if channel_axis is None:
        if ndim >= 3 and shape[-1] in (3, 4) and min(shape[-3], shape[-2]) > 4:
            return ndim - 1, True
        return None, False
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise TypeError(f"channel_axis must be an integer axis index or None, got {channel_axis!r}")
    ax = int(channel_axis)
    if ndim < 3:
        raise ValueError(
            f"channel_axis={ax} given for a {ndim}D image of shape {shape}: a channel axis needs a 3D or "
            "larger array (two image axes plus the channels); drop channel_axis for a 2D image"
        )
    if not -ndim <= ax < ndim:
        raise ValueError(f"channel_axis={ax} is out of range for an image of shape {shape} ({ndim} axes)")
    return ax % ndim, False


@dataclass
class Planes:
    """An input image analysed into planes: the canonical view ``(lead..., H, W, C)``."""

    canon: Any  # numpy or dask, (lead..., H, W, C)
    is_dask: bool
    shape: tuple[int, ...]
    dtype: np.dtype
    channel_axis: int | None
    channel_auto: bool
    selected: list[tuple[int, ...]] | None  # lead indices, or None for all
    passthrough: tuple[int, ...] = ()  # channels copied unchanged (RGBA alpha)
    _samples: list[np.ndarray] | None = None
    _map_sample: list[np.ndarray] | None = None

    @property
    def lead_shape(self) -> tuple[int, ...]:
        """Shape of the leading (plane-indexing) axes."""
        return tuple(self.canon.shape[:-3])

    @property
    def plane_shape(self) -> tuple[int, int]:
        """``(H, W)`` of every plane."""
        return (int(self.canon.shape[-3]), int(self.canon.shape[-2]))

    @property
    def n_channels(self) -> int:
        """Number of channels (1 without a channel axis)."""
        return int(self.canon.shape[-1])

    @property
    def leads(self) -> list[tuple[int, ...]]:
        """Leading indices of the planes to restore (the selected ones, or all)."""
        if self.selected is not None:
            return self.selected
        return list(np.ndindex(*self.lead_shape)) if self.lead_shape else [()]

    @property
    def channels(self) -> list[int]:
        """Channels to restore (all but the copied alpha)."""
        return [c for c in range(self.n_channels) if c not in self.passthrough]

    def units(self) -> list[tuple[tuple[int, ...], int]]:
        """(lead index, channel) of every plane to restore."""
        return [(lead, c) for lead in self.leads for c in self.channels]

    def plane(self, lead: tuple[int, ...], c: int) -> np.ndarray:
        """One raw plane as a numpy array (computed for dask)."""
        p = self.canon[lead + (slice(None), slice(None), c)]
        return np.asarray(p.compute() if self.is_dask else p)

    @property
    def large(self) -> bool:
        """Planes of more than :data:`LARGE_SAMPLE` pixels (sampled, never loaded whole while planning)."""
        h, w = self.plane_shape
        return h * w > LARGE_SAMPLE

    def sample_units(self) -> list[tuple[tuple[int, ...], int]]:
        """(lead, channel) of a deterministic sample of at most :data:`MAX_SAMPLE_PLANES` planes."""
        units = self.units()
        n = min(len(units), MAX_SAMPLE_PLANES)
        idx = np.unique(np.linspace(0, len(units) - 1, n).round().astype(int))
        return [units[i] for i in idx]

    def _read(self, index: tuple) -> list[np.ndarray]:
        """The raw arrays at ``lead + index + (c,)`` of every sampled plane (computed for dask)."""
        views = [self.canon[lead + index + (c,)] for lead, c in self.sample_units()]
        if self.is_dask:
            import dask

            return [np.asarray(v) for v in dask.compute(*views)]
        return [np.asarray(v) for v in views]

    def samples(self) -> list[np.ndarray]:
        """A deterministic sample of raw planes: whole ones, or central crops of large planes."""
        if self._samples is None:
            h, w = self.plane_shape
            if self.large:
                side = int(np.sqrt(LARGE_SAMPLE))
                ch, cw = min(h, side), min(w, LARGE_SAMPLE // min(h, side))
                index = (slice((h - ch) // 2, (h - ch) // 2 + ch), slice((w - cw) // 2, (w - cw) // 2 + cw))
            else:
                index = (slice(None), slice(None))
            planes = self._read(index)
            for p in planes:
                check_finite(p)
            self._samples = planes
        return self._samples

    def map_sample(self) -> list[np.ndarray] | None:
        """Strided subsamples of the sampled large planes for the intensity map (None for small planes).

        The stride is the one :func:`~napari_glra.engine.intensity.fit_intensity_map` takes on
        whole planes, so the map is the same, without reading more than the subsample into memory.
        """
        if not self.large:
            return None
        if self._map_sample is None:
            h, w = self.plane_shape
            total = h * w * len(self.sample_units())
            step = max(1, int(np.ceil(np.sqrt(total / MAP_SAMPLES))))
            planes = self._read((slice(None, None, step), slice(None, None, step)))
            for p in planes:
                check_finite(p)
            self._map_sample = planes
        return self._map_sample


def check_finite(a: np.ndarray) -> None:
    """Refuse a float array holding NaN or inf (``ValueError`` with the counts)."""
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        n_nan = int(np.isnan(a).sum())
        n_inf = int(np.isinf(a).sum())
        raise ValueError(
            f"image contains {n_nan} NaN and {n_inf} inf values; replace them first "
            "(e.g. np.nan_to_num(image, nan=np.nanmedian(image)))"
        )


def normalise_plane_indices(plane_indices: Any, lead_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """``plane_indices`` as a list of index tuples into the leading axes (validated)."""
    if isinstance(plane_indices, (int, np.integer)) or (
        isinstance(plane_indices, tuple)
        and all(isinstance(i, (int, np.integer)) for i in plane_indices)
        and len(lead_shape) > 1
        and len(plane_indices) == len(lead_shape)
    ):
        plane_indices = [plane_indices]
    try:
        items = list(plane_indices)
    except TypeError:
        raise TypeError(f"plane_indices must be a sequence of plane indices, got {plane_indices!r}") from None
    if not lead_shape:
        if all(tuple(np.atleast_1d(i)) == () for i in items) and items:
            return [()]
        raise ValueError("plane_indices given for an image with a single 2D plane; drop plane_indices")
    n_planes = int(np.prod(lead_shape))
    out = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            i = int(item)
            if len(lead_shape) == 1:
                if not -lead_shape[0] <= i < lead_shape[0]:
                    raise ValueError(f"plane index {i} is out of range for {lead_shape[0]} planes")
                out.append((i % lead_shape[0],))
                continue
            if not -n_planes <= i < n_planes:
                raise ValueError(f"flat plane index {i} is out of range for {n_planes} planes {lead_shape}")
            out.append(tuple(int(v) for v in np.unravel_index(i % n_planes, lead_shape)))
            continue
        idx = tuple(item)
        if len(idx) != len(lead_shape) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in idx
        ):
            raise ValueError(
                f"plane index {item!r} must be {len(lead_shape)} integers (one per leading axis {lead_shape})"
            )
        for v, n in zip(idx, lead_shape):
            if not -n <= v < n:
                raise ValueError(f"plane index {item!r} is out of range for leading axes {lead_shape}")
        out.append(tuple(int(v) % n for v, n in zip(idx, lead_shape)))
    if not out:
        raise ValueError("plane_indices is empty; give at least one plane or None for all planes")
    return out


def analyse_image(image: Any, channel_axis: Any = None, plane_indices: Any = None) -> Planes:
    """Validate an image and build its canonical plane view (no copy for numpy)."""
    if image is None:
        raise TypeError("image is None; pass a 2D (or nD) numeric array")
    check_not_masked(image, "image")
    lazy = is_dask(image)
    if not lazy:
        if not hasattr(image, "dtype") or not hasattr(image, "shape"):
            try:
                image = np.asarray(image)
            except (ValueError, TypeError) as err:
                raise TypeError(f"image cannot be read as an array: {err}") from None
        elif not isinstance(image, np.ndarray):
            image = np.asarray(image)
    check_dtype(image, "image")
    shape = tuple(int(s) for s in image.shape)
    if len(shape) < 2:
        raise ValueError(
            f"image must be at least 2D (rows, columns), got a {len(shape)}D array of shape {shape}; "
            "reshape a flat signal into an image first"
        )
    if 0 in shape:
        raise ValueError(f"image is empty (shape {shape}); pass an image with at least one pixel per axis")
    ax, auto = normalise_channel_axis(channel_axis, shape)
    if ax is None:
        canon = image[..., None]
    else:
        if lazy:
            import dask.array as da

            canon = da.moveaxis(image, ax, -1)
        else:
            canon = np.moveaxis(image, ax, -1)
    passthrough: tuple[int, ...] = ()
    if ax is not None and ax == len(shape) - 1 and shape[-1] == 4:
        passthrough = (3,)  # RGBA: alpha copied unchanged
    selected = None
    if plane_indices is not None:
        selected = normalise_plane_indices(plane_indices, tuple(canon.shape[:-3]))
    job = Planes(
        canon=canon,
        is_dask=lazy,
        shape=shape,
        dtype=np.dtype(image.dtype),
        channel_axis=ax,
        channel_auto=auto,
        selected=selected,
        passthrough=passthrough,
    )
    if not lazy and np.issubdtype(job.dtype, np.floating):
        if selected is None:
            check_finite(image)
        else:
            for lead in selected:
                check_finite(np.asarray(canon[lead]))
    return job


def check_noise_level(noise_level: Any) -> float:
    """A noise level on the [0, 1] scale: a finite number in ``[0, MAX_NOISE_LEVEL]``."""
    try:
        s = float(noise_level)
    except (TypeError, ValueError):
        raise TypeError(
            f"noise_level must be a number (0.01 = 1 % of the range) or None, got {noise_level!r}"
        ) from None
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"noise_level must be a finite number >= 0, got {noise_level!r}")
    if s > MAX_NOISE_LEVEL:
        raise ValueError(
            f"noise_level={s:g} is a standard deviation on the [0, 1] scale (0.01 = 1 % of the range); "
            f"values above {MAX_NOISE_LEVEL} are not meaningful (did you mean {s / 100:g}?)"
        )
    return s


def check_tile_size(tile_size: Any) -> int | None:
    """A tile core side (an integer >= 16) or None."""
    if tile_size is None:
        return None
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) or tile_size < 16:
        raise ValueError(
            f"tile_size must be an integer >= 16 (the side of a tile's core, in pixels), got {tile_size!r}"
        )
    return int(tile_size)


def resolve_output_dtype(output_dtype: Any, input_dtype: np.dtype) -> np.dtype:
    """The result's dtype: float32 (float64 for float64 input) by default, ``"input"``, or a numeric dtype."""
    if output_dtype is None:  # float32, or float64 for float64 input (large offsets keep their detail)
        return np.dtype(np.float64 if np.dtype(input_dtype) == np.float64 else np.float32)
    if isinstance(output_dtype, str) and output_dtype == "input":
        return np.dtype(input_dtype)
    try:
        dt = np.dtype(output_dtype)
    except TypeError:
        raise TypeError(
            f"output_dtype must be a numpy dtype, 'input' or None, got {output_dtype!r}"
        ) from None
    if dt.kind == "b" or not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise TypeError(f"output_dtype must be an integer or float dtype, got {dt}")
    return dt
