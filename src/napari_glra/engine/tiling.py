"""Tiling a plane so that one network call stays within a memory budget.

The network's output at a pixel depends on the input within
``net.pad_amount() = d // 2 + margin`` pixels (the deconvolution block's
``d × d`` support, then the valid convolutions of the artifact block; plus the reach of
the feature maps' convolutions and the cell alignment where the network has them).  The
engine tiles the border-extended plane (:mod:`napari_glra.engine.border`): tile
cores cover its observed part only, aligned to the artifact block's cells, and
reach that overlap beyond (within the extended plane).  A tile therefore gives
the untiled result in its core (up to float32 FFT round-off); tiles are
stitched by cropping the overlaps.  Tiling is automatic above a memory budget
(:func:`napari_glra.engine.devices.memory_budget`, compared with
:func:`estimate_memory`) or forced with ``tile_size`` (the side of the core).
"""

from __future__ import annotations

import math

import numpy as np

from napari_glra._fft import next_fast_len
from napari_glra.glra.model_io import ModelFiles

__all__ = ["Tile", "auto_tile", "estimate_memory", "plan_tiles", "region_tiles"]

#: One tile: ``(input rows, input cols, crop rows, crop cols)``.
Tile = tuple[slice, slice, slice, slice]

#: Smallest automatic tile core (pixels).
MIN_TILE = 64


def estimate_memory(model: ModelFiles, shape: tuple[int, int]) -> float:
    """Estimated peak bytes of one network call on a ``shape`` plane.

    The Fourier block holds the image spectrum and, one feature map at a time, a
    spectrum and an inverse transform on the padded FFT grid, then the cropped
    feature maps; the artifact block a (channels-last or pixel-unshuffled) copy
    of them and about three ``width``-channel activations at ``1/scale``
    resolution.  All in float32 (with the block in bfloat16 the estimate is on
    the safe side).  Measured on the CPU for the default model (version 4) at
    2048²: 1,223 MB in float32, 792 MB in bfloat16; estimated 1,327 MB.
    """
    c = model.net.config
    p = model.net.pad_amount()
    h, w = int(shape[0]), int(shape[1])
    grid = next_fast_len(h + 2 * p) * next_fast_len(w + 2 * p)
    feat = (h + 2 * c.margin) * (w + 2 * c.margin)
    fourier = 16 * grid  # spectrum of the image + per-map temporaries (complex half grids, output)
    fourier += 8 * c.feature_maps * grid  # the feature maps and their first convolution, on the grid
    maps = 2 * 4 * c.in_channels * feat  # cropped feature maps + the artifact block's copy
    # A U-Net block (levels > 0) also keeps its encoder's features for the skips (~2 width).
    body = (3 + 2 * (c.levels > 0)) * 4 * c.width * feat / c.scale**2
    r = c.refiner
    if r is not None:  # its inputs (the first block's image beside the features) and activations
        maps += 2 * 4 * c.refiner_in_channels * feat
        body = max(body, (3 + 2 * (r.levels > 0)) * 4 * r.width * feat / r.scale**2)
    return float(fourier + maps + body)


def auto_tile(model: ModelFiles, shape: tuple[int, int], budget: float) -> int | None:
    """Core tile side keeping one call under ``budget`` (None: no tiling needed)."""
    if estimate_memory(model, shape) <= budget:
        return None
    p = model.net.pad_amount()
    lo, hi = MIN_TILE, max(shape)
    while lo < hi:  # largest core side whose tile fits
        mid = (lo + hi + 1) // 2
        if estimate_memory(model, (mid + 2 * p, mid + 2 * p)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _tiles(
    n: int, core: int, overlap: int, *, lo: int, hi: int, align: int
) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis: ``(in_start, in_stop, out_start, out_stop)``, cores covering ``[lo, hi)``.

    Cores are of about equal size; inner core edges sit at ``lo`` plus a multiple of ``align``.
    """
    count = max(1, math.ceil((hi - lo) / core))
    edges = lo + (np.linspace(0, hi - lo, count + 1) / align).round().astype(int) * align
    edges[0], edges[-1] = lo, hi
    edges = np.unique(np.clip(edges, lo, hi))
    out = []
    for s, e in zip(edges[:-1], edges[1:]):
        out.append((max(0, int(s) - overlap), min(n, int(e) + overlap), int(s), int(e)))
    return out


def plan_tiles(
    shape: tuple[int, int],
    core: int | None,
    overlap: int,
    region: tuple[tuple[int, int], tuple[int, int]] | None = None,
    align: int = 1,
) -> list[Tile]:
    """Tiles of a plane: ``(input rows, input cols, crop rows, crop cols)`` per tile.

    The tiles' cores cover ``region = ((row0, row1), (col0, col1))`` (default: the
    whole plane); inputs reach ``overlap`` pixels beyond their core (within the
    plane).  Inner core edges are ``region``'s start plus a multiple of ``align``
    (the artifact block of a model with ``scale > 1`` works on ``scale × scale``
    cells, which must fall alike in every tile).  ``core=None`` is a single tile.
    Cropping a tile's output with its crop slices gives the rows/cols
    ``out_start:out_stop`` of the full result.
    """
    h, w = shape
    (r0, r1), (c0, c1) = region if region is not None else ((0, h), (0, w))
    if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
        raise ValueError(f"region {region} is not inside the plane {shape}")
    if core is None or (core >= r1 - r0 and core >= c1 - c0):
        return [(slice(0, h), slice(0, w), slice(r0, r1), slice(c0, c1))]
    plan = []
    for i0, i1, o0, o1 in _tiles(h, core, overlap, lo=r0, hi=r1, align=align):
        for j0, j1, p0, p1 in _tiles(w, core, overlap, lo=c0, hi=c1, align=align):
            plan.append((slice(i0, i1), slice(j0, j1), slice(o0 - i0, o1 - i0), slice(p0 - j0, p1 - j0)))
    return plan


def region_tiles(
    shape: tuple[int, int],
    core: int,
    overlap: int,
    region: tuple[tuple[int, int], tuple[int, int]],
    align: int = 1,
) -> list[Tile]:
    """Tiles whose cores cover ``region`` of a plane, inputs at most ``overlap`` beyond them.

    As :func:`plan_tiles`, but a region that fits in one core is still one tile reaching
    only ``overlap`` beyond it (never the whole plane): a block of a plane restored on
    its own (:func:`napari_glra.engine.execute.lazy_result`) reads its neighbourhood only.
    """
    (r0, r1), (c0, c1) = region
    h, w = shape
    if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
        raise ValueError(f"region {region} is not inside the plane {shape}")
    plan = []
    for i0, i1, o0, o1 in _tiles(h, core, overlap, lo=r0, hi=r1, align=align):
        for j0, j1, p0, p1 in _tiles(w, core, overlap, lo=c0, hi=c1, align=align):
            plan.append((slice(i0, i1), slice(j0, j1), slice(o0 - i0, o1 - i0), slice(p0 - j0, p1 - j0)))
    return plan
