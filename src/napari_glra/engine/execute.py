"""Executing a :class:`~napari_glra.engine.plan.Plan`: restore every plane, tile by tile.

Each raw plane is put on the [0, 1] scale, extended beyond its border
(:func:`~napari_glra.engine.border.border_extension`), restored tile by tile by the
network (:func:`~napari_glra.glra.inference.restore_batch`; the network is told which
pixels are observed and only those are restored), stitched and mapped back to the
input's intensity scale.  Numpy input is restored eagerly with progress
(:func:`execute_iter`); dask input gives a lazy dask array built from the same
per-plane function (:func:`lazy_result`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from napari_glra.engine.border import border_extension
from napari_glra.engine.inputs import Planes, check_finite
from napari_glra.engine.outliers import replace_outliers
from napari_glra.engine.plan import Plan
from napari_glra.glra.inference import restore_batch

__all__ = ["execute_iter", "lazy_result", "restore_plane_iter"]


def _observed_mask(shape: tuple[int, int], border: int) -> np.ndarray:
    obs = np.zeros(shape, np.float32)
    obs[border:-border, border:-border] = 1.0
    return obs


def restore_plane_iter(plan: Plan, raw: np.ndarray) -> Generator[int, None, np.ndarray]:
    """Restore one raw plane tile by tile; yields the tile index, returns the result.

    The result is float32 (float64 when the plan's output is float64), on the input's
    intensity scale.  Isolated outliers are replaced first
    (:func:`~napari_glra.engine.outliers.replace_outliers`).

    The plane is first extended beyond its border by ``plan.border`` pixels per side;
    the plan's tiles index the extended plane and their cores cover its observed part.
    """
    check_finite(raw)
    work = _work_dtype(plan)
    mapped, _ = replace_outliers(plan.imap.forward(raw), plan.kernel)
    if not np.ptp(mapped) > 0:  # a constant plane restores to itself
        yield 0
        return np.asarray(raw, dtype=work).copy()
    p = plan.border
    plane = border_extension(mapped, plan.kernel, plan.noise_level)
    obs = _observed_mask(plane.shape, p)
    out = np.empty((plane.shape[0] - 2 * p, plane.shape[1] - 2 * p), np.float32)
    for t, (rows, cols, crop_r, crop_c) in enumerate(plan.tiles):
        hh, ww = rows.stop - rows.start, cols.stop - cols.start
        # Only the tile's core is restored: the overlap is context for the network.
        res = restore_batch(
            plan.model,
            np.ascontiguousarray(plane[rows, cols])[None],
            plan.coefficients,
            plan.device,
            context=(crop_r.start, hh - crop_r.stop, crop_c.start, ww - crop_c.stop),
            observed=np.ascontiguousarray(obs[rows, cols])[None],
            body_dtype=plan.body_dtype,
        )[0]
        r0 = rows.start + crop_r.start - p
        c0 = cols.start + crop_c.start - p
        out[r0 : r0 + res.shape[0], c0 : c0 + res.shape[1]] = res
        yield t
    return plan.imap.inverse(out, work)


def _work_dtype(plan: Plan) -> type:
    """float64 when the result is float64 (a float64 input), else float32."""
    return np.float64 if plan.out_dtype == np.float64 else np.float32


def _drain(gen: Generator[Any, None, Any]) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _cast(out: Any, dt: np.dtype) -> Any:
    """Cast float results; integers are rounded and clipped to the dtype's range (never wrapped)."""
    if dt == out.dtype:
        return out
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return np.clip(np.rint(out), info.min, info.max).astype(dt)
    return out.astype(dt)


def _moveaxis(a: Any, src: int, dst: int, is_dask: bool) -> Any:
    if is_dask:
        import dask.array as da

        return da.moveaxis(a, src, dst)
    return np.moveaxis(a, src, dst)


def _to_input_layout(planes: Planes, out: Any) -> Any:
    """Canonical ``(lead..., H, W, C)`` (or ``(n, H, W, C)`` for selected planes) back to the input layout."""
    if planes.channel_axis is None:
        return out[..., 0]
    if planes.selected is None:
        return _moveaxis(out, -1, planes.channel_axis, planes.is_dask)
    # Selected planes: each item keeps the spatial and channel axes in their original order.
    ax = planes.channel_axis
    spatial = [a for a in range(len(planes.shape)) if a != ax][-2:]
    rel = sorted([ax, *spatial]).index(ax)
    return _moveaxis(out, -1, 1 + rel, planes.is_dask)


def execute_iter(plan: Plan) -> Generator[tuple[float, str], None, np.ndarray]:
    """Restore every plane of a numpy image; yields ``(fraction, message)`` after each plane or tile.

    Returns the result in the input's layout and the plan's output dtype.
    """
    planes = plan.planes
    units = planes.units()
    n_tiles = len(plan.tiles)
    h, w = planes.plane_shape
    yield 0.0, f"restoring {len(units)} plane(s) of {h}x{w} px on {plan.device} ({n_tiles} tile(s) per plane)"
    lead_shape = (len(planes.leads),) if planes.selected is not None else planes.lead_shape
    out = np.empty(lead_shape + (h, w, planes.n_channels), _work_dtype(plan))
    total = len(units) * n_tiles
    done = 0
    i = 0
    for li, lead in enumerate(planes.leads):
        o_lead = (li,) if planes.selected is not None else lead
        for c in planes.channels:
            i += 1
            gen = restore_plane_iter(plan, planes.plane(lead, c))
            while True:
                try:
                    t = next(gen)
                except StopIteration as stop:
                    out[o_lead + (slice(None), slice(None), c)] = stop.value
                    break
                done += 1
                where = f"plane {i}/{len(units)}" + (f", tile {t + 1}/{n_tiles}" if n_tiles > 1 else "")
                yield done / total, where
        for c in planes.passthrough:
            out[o_lead + (slice(None), slice(None), c)] = planes.plane(lead, c)
    return _cast(np.ascontiguousarray(_to_input_layout(planes, out)), plan.out_dtype)


def lazy_result(plan: Plan) -> Any:
    """The restored image of a dask input as a lazy dask array (one task per chunk of whole planes)."""
    import dask.array as da

    planes = plan.planes
    src = planes.canon
    if planes.selected is not None:
        src = da.stack([src[lead] for lead in planes.selected])
    nd = src.ndim
    src = src.rechunk({nd - 3: -1, nd - 2: -1, nd - 1: -1})
    passthrough = planes.passthrough

    def block(x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape, _work_dtype(plan))
        for lead in np.ndindex(*x.shape[:-3]):
            for c in range(x.shape[-1]):
                sl = lead + (slice(None), slice(None), c)
                if c in passthrough:
                    out[sl] = x[sl]
                else:
                    out[sl] = _drain(restore_plane_iter(plan, np.asarray(x[sl])))
        return out

    res = src.map_blocks(block, dtype=_work_dtype(plan))
    return _cast(_to_input_layout(planes, res), plan.out_dtype)
