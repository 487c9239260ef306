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

import dataclasses
from collections.abc import Generator
from typing import Any

import numpy as np

from napari_glra.engine.augment import TRANSFORMS, backward, forward
from napari_glra.engine.extended import (
    Bands,
    ExtendedPlane,
    PlaneStats,
    border_strips,
    extended_plane,
    observed_mask,
    plane_bands,
    stats_from_sample,
    strip_depth,
)
from napari_glra.engine.inputs import Planes
from napari_glra.engine.outliers import noise_sample
from napari_glra.engine.plan import Plan, plane_tiles
from napari_glra.engine.resident import resident_suits, restore_planes_resident
from napari_glra.engine.tiling import Tile, region_tiles
from napari_glra.glra.inference import restore_batch

__all__ = ["execute_iter", "lazy_result", "restore_plane_iter", "restore_planes"]


def restore_plane_iter(
    plan: Plan, raw: np.ndarray, out: np.ndarray | None = None
) -> Generator[int, None, np.ndarray]:
    """Restore one raw plane tile by tile; yields the tile index, returns the result.

    The result is float32 (float64 when the plan's output is float64), on the input's
    intensity scale: written into ``out`` when given (a plane-shaped array of that
    dtype, e.g. a view into the whole result, so that no plane-sized copy is made),
    else into a new array.  Isolated outliers are replaced first
    (:func:`~napari_glra.engine.outliers.replace_outliers`).

    The plane is read through its :class:`~napari_glra.engine.extended.ExtendedPlane`
    (extended beyond its border by ``plan.border`` pixels per side); the plan's tiles
    index the extended plane and their cores cover its observed part.

    With test-time augmentation (``plan.augment``) the 8 flips and rotations of the plane
    are restored in turn (:func:`passes` tiles in all) and their results averaged.
    """
    work = _work_dtype(plan)
    if out is None:
        out = np.empty(raw.shape, work)
    elif out.shape != raw.shape or out.dtype != work:
        raise ValueError(f"out must be a {raw.shape} {np.dtype(work)} array, got {out.shape} {out.dtype}")
    if plan.augment:
        return (yield from _augmented_plane_iter(plan, raw, out))
    if resident_suits(plan, raw.shape):  # on the device from end to end, all tiles at once
        restore_planes_resident(plan, [raw], [out])
        yield from range(len(plan.tiles))
        return out
    src = extended_plane(
        raw, plan.imap, plan.kernel, noise_level=plan.noise_level, pad=plan.border, device=plan.device
    )
    if src is None:  # a constant plane restores to itself
        yield 0
        out[...] = raw
        return out
    for t, tile in enumerate(plan.tiles):
        _restore_tile(plan, src, tile, out, (0, 0))
        yield t
    return plan.imap.inverse(out, work)  # in place (out has the work dtype)


def passes(plan: Plan) -> int:
    """Tiles restored per plane: the plan's tiles, times 8 with test-time augmentation."""
    return len(plan.tiles) * (len(TRANSFORMS) if plan.augment else 1)


def _augmented_plane_iter(plan: Plan, raw: np.ndarray, out: np.ndarray) -> Generator[int, None, np.ndarray]:
    """Restore the 8 flips and rotations of a plane and average them back into ``out``."""
    acc = np.zeros(raw.shape, np.float64)
    done = 0
    for i in range(len(TRANSFORMS)):
        sub = _transformed_plan(plan, i, raw.shape)
        gen = restore_plane_iter(sub, np.ascontiguousarray(forward(raw, i)))
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                acc += backward(stop.value, i)
                break
            yield done
            done += 1
    np.divide(acc, len(TRANSFORMS), out=out, casting="unsafe")
    return out


def _transformed_plan(plan: Plan, index: int, shape: tuple[int, int]) -> Plan:
    """The plan that restores ``forward(plane, index)`` of a ``shape`` plane, without augmentation."""
    k, M = plan.augment[index]
    tiles = plane_tiles(plan.model, forward(np.empty(shape, bool), index).shape, plan.tile_core, plan.border)
    return dataclasses.replace(plan, kernel=k, coefficients=M, tiles=tiles, augment=())


def _restore_tile(plan: Plan, src: ExtendedPlane, tile: Tile, out: np.ndarray, at: tuple[int, int]) -> None:
    """Restore one tile's core into ``out``, whose pixel (0, 0) is the plane's pixel ``at``."""
    rows, cols, crop_r, crop_c = tile
    hh, ww = rows.stop - rows.start, cols.stop - cols.start
    p = plan.border
    # Only the tile's core is restored: the overlap is context for the network.
    res = restore_batch(
        plan.model,
        src.window(rows, cols)[None],
        plan.coefficients,
        plan.device,
        context=(crop_r.start, hh - crop_r.stop, crop_c.start, ww - crop_c.stop),
        observed=observed_mask(rows, cols, p, src.shape)[None],
        body_dtype=plan.body_dtype,
    )[0]
    r0 = rows.start + crop_r.start - p - at[0]
    c0 = cols.start + crop_c.start - p - at[1]
    out[r0 : r0 + res.shape[0], c0 : c0 + res.shape[1]] = res


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

    Planes go through the network one by one, or ``plan.batch`` at a time (untiled planes
    of a stack on a GPU: one network call per batch).  Returns the result in the input's
    layout and the plan's output dtype.
    """
    planes = plan.planes
    units = planes.units()
    n_tiles, n_passes = len(plan.tiles), passes(plan)
    h, w = planes.plane_shape
    batched = f", {plan.batch} planes per network call" if plan.batch > 1 else ""
    batched += ", its 8 flips/rotations averaged" if plan.augment else ""
    yield (
        0.0,
        (
            f"restoring {len(units)} plane(s) of {h}x{w} px on {plan.device} "
            f"({n_tiles} tile(s) per plane{batched})"
        ),
    )
    lead_shape = (len(planes.leads),) if planes.selected is not None else planes.lead_shape
    out = np.empty(lead_shape + (h, w, planes.n_channels), _work_dtype(plan))
    index = {lead: li for li, lead in enumerate(planes.leads)}

    def view(lead: tuple[int, ...], c: int) -> np.ndarray:
        o_lead = (index[lead],) if planes.selected is not None else lead
        return out[o_lead + (slice(None), slice(None), c)]

    for lead in planes.leads:
        for c in planes.passthrough:
            view(lead, c)[...] = planes.plane(lead, c)
    total = len(units) * n_passes
    done = 0
    grouped = restore_planes_resident if resident_suits(plan, (h, w)) else restore_planes
    if not plan.augment and (plan.batch > 1 or grouped is restore_planes_resident):
        where = f" (on {plan.device})" if grouped is restore_planes_resident else ""
        for start in range(0, len(units), plan.batch):
            group = units[start : start + plan.batch]
            grouped(plan, [planes.plane(lead, c) for lead, c in group], [view(lead, c) for lead, c in group])
            done += len(group) * n_tiles
            yield done / total, f"planes {start + 1}-{start + len(group)}/{len(units)}{where}"
    else:
        for i, (lead, c) in enumerate(units, 1):
            for t in restore_plane_iter(plan, planes.plane(lead, c), view(lead, c)):
                done += 1
                where = f"plane {i}/{len(units)}"
                if plan.augment:
                    where += f", flip/rotation {t // n_tiles + 1}/{n_passes // n_tiles}"
                if n_tiles > 1:
                    where += f", tile {t % n_tiles + 1}/{n_tiles}"
                yield done / total, where
    return _cast(np.ascontiguousarray(_to_input_layout(planes, out)), plan.out_dtype)


def restore_planes(plan: Plan, raws: list[np.ndarray], outs: list[np.ndarray]) -> None:
    """Restore untiled planes in one network call (a batch); results into ``outs``.

    Each plane is mapped, cleaned and extended on its own (as :func:`restore_plane_iter`
    does); constant planes are copied.  The plan must have a single tile.
    """
    if len(plan.tiles) != 1:
        raise ValueError("restore_planes needs an untiled plan (one tile per plane)")
    rows, cols, crop_r, crop_c = plan.tiles[0]
    hh, ww = rows.stop - rows.start, cols.stop - cols.start
    work = _work_dtype(plan)
    srcs, keep = [], []
    for raw, o in zip(raws, outs):
        src = extended_plane(
            raw, plan.imap, plan.kernel, noise_level=plan.noise_level, pad=plan.border, device=plan.device
        )
        if src is None:
            o[...] = raw
        else:
            srcs.append(src)
            keep.append(o)
    if not srcs:
        return
    res = restore_batch(
        plan.model,
        np.stack([s.window(rows, cols) for s in srcs]),
        plan.coefficients,
        plan.device,
        context=(crop_r.start, hh - crop_r.stop, crop_c.start, ww - crop_c.stop),
        observed=np.stack([observed_mask(rows, cols, plan.border, s.shape) for s in srcs]),
        body_dtype=plan.body_dtype,
    )
    for r, o in zip(res, keep):
        o[...] = r
        plan.imap.inverse(o, work)


def lazy_result(plan: Plan) -> Any:
    """The restored image of a dask input as a lazy dask array.

    Planes stored whole in their chunks give one task per chunk (of whole planes).
    Planes chunked along their own axes restore block-parallel (:func:`_blocked_plane`):
    the result keeps the input's chunks.  With test-time augmentation every plane is
    restored whole (it is rotated) and the result is rechunked to the input's chunks.
    """
    import dask.array as da

    planes = plan.planes
    src = planes.canon
    if planes.selected is not None:
        src = da.stack([src[lead] for lead in planes.selected])
    nd = src.ndim
    # With test-time augmentation the planes are restored whole (rotated), one task per chunk.
    if not plan.augment and (len(src.chunks[nd - 3]) > 1 or len(src.chunks[nd - 2]) > 1):
        return _cast(_to_input_layout(planes, _blocked(plan, src)), plan.out_dtype)
    chunks = src.chunks
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
                    _drain(restore_plane_iter(plan, np.asarray(x[sl]), out[sl]))
        return out

    res = src.map_blocks(block, dtype=_work_dtype(plan))
    if plan.augment and res.chunks != chunks:
        res = res.rechunk(chunks)
    return _cast(_to_input_layout(planes, res), plan.out_dtype)


def _blocked(plan: Plan, src: Any) -> Any:
    """Block-parallel restoration of every plane of ``src`` (``(lead..., H, W, C)``, chunked in-plane)."""
    import dask.array as da

    nd = src.ndim
    lead_shape = src.shape[: nd - 3]
    per_lead = []
    for lead in np.ndindex(*lead_shape):
        chans = []
        for c in range(src.shape[-1]):
            plane = src[lead + (slice(None), slice(None), c)]
            if c in plan.planes.passthrough:
                chans.append(plane.astype(_work_dtype(plan)))
            else:
                chans.append(_blocked_plane(plan, plane))
        per_lead.append(da.stack(chans, axis=-1))
    if not lead_shape:
        return per_lead[0]
    out = da.stack(per_lead)
    if len(lead_shape) > 1:
        out = out.reshape(lead_shape + out.shape[-3:])
    return out.rechunk(src.chunks) if out.chunks != src.chunks else out


def _block_edges(chunks: tuple[int, ...], align: int) -> list[int]:
    """Block edges along one axis: the chunk edges, moved down to a multiple of ``align``."""
    edges = np.cumsum((0,) + tuple(chunks))
    inner = sorted({int(e) // align * align for e in edges[1:-1]} - {0})
    return [0, *[e for e in inner if e < edges[-1]], int(edges[-1])]


def _blocked_plane(plan: Plan, plane: Any) -> Any:
    """One dask plane restored block by block, each block a task with its overlap.

    A block reads its chunk plus the network's reach (``pad_amount``) and one pixel for
    the outlier test; blocks at the plane's border also get the extension bands, solved
    once per plane on its border strips (:func:`~napari_glra.engine.extended.plane_bands`).
    Block edges are moved to multiples of the artifact block's cell (``NetConfig.cell``), so that
    every block's tiles fall on the untiled grid.
    """
    import dask
    import dask.array as da

    h, w = plane.shape
    p = plan.border
    stats = dask.delayed(stats_from_sample)(da.min(plane), da.max(plane), noise_sample(plane), plan.imap)
    bands = dask.delayed(plane_bands)(
        border_strips(plane, strip_depth(p)),
        (h, w),
        imap=plan.imap,
        kernel=plan.kernel,
        noise_level=plan.noise_level,
        stats=stats,
        device=plan.device,
    )
    # one key that every task refers to, pickled once (by its __reduce__: without the input, the model
    # by reference); traverse=False, or dask would rebuild the dataclass from all its fields
    shared = dask.delayed(plan, pure=True, traverse=False)
    reach = plan.model.net.pad_amount() + 1
    align = plan.model.net.config.cell
    rows = _block_edges(plane.chunks[0], align)
    cols = _block_edges(plane.chunks[1], align)
    grid = []
    for r0, r1 in zip(rows[:-1], rows[1:]):
        line = []
        for c0, c1 in zip(cols[:-1], cols[1:]):
            wr0, wr1 = max(0, r0 - reach), min(h, r1 + reach)
            wc0, wc1 = max(0, c0 - reach), min(w, c1 + reach)
            task = dask.delayed(_restore_block)(
                shared,
                plane[wr0:wr1, wc0:wc1],
                (wr0, wc0),
                shape=(h, w),
                bands=bands,
                stats=stats,
                core=((r0, r1), (c0, c1)),
            )
            line.append(da.from_delayed(task, shape=(r1 - r0, c1 - c0), dtype=_work_dtype(plan)))
        grid.append(line)
    out = da.block(grid)
    return out.rechunk(plane.chunks) if out.chunks != plane.chunks else out


def _restore_block(
    plan: Plan,
    data: np.ndarray,
    origin: tuple[int, int],
    *,
    shape: tuple[int, int],
    bands: Bands,
    stats: PlaneStats,
    core: tuple[tuple[int, int], tuple[int, int]],
) -> np.ndarray:
    """Restore the block ``core`` (plane coordinates) of a plane from its window ``data``."""
    work = _work_dtype(plan)
    (r0, r1), (c0, c1) = core
    if stats.constant:
        return np.asarray(data[r0 - origin[0] : r1 - origin[0], c0 - origin[1] : c1 - origin[1]], work).copy()
    p = plan.border
    src = ExtendedPlane(
        shape, p, data=data, origin=origin, bands=bands, imap=plan.imap, kernel=plan.kernel, stats=stats
    )
    out = np.empty((r1 - r0, c1 - c0), work)
    h, w = shape
    core_side = plan.tile_core or max(r1 - r0, c1 - c0)
    for tile in region_tiles(
        (h + 2 * p, w + 2 * p),
        core_side,
        plan.model.net.pad_amount(),
        region=((r0 + p, r1 + p), (c0 + p, c1 + p)),
        align=plan.model.net.config.cell,
    ):
        _restore_tile(plan, src, tile, out, (r0, c0))
    return plan.imap.inverse(out, work)  # (in place)
