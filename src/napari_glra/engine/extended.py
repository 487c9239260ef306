"""A plane on the models' scale, extended beyond its border, read window by window.

The network restores a tile from the border-extended plane
(:mod:`napari_glra.engine.border`).  :class:`ExtendedPlane` gives any window of that
extended plane, in its coordinates (the plane's pixel ``(i, j)`` is at
``(i + p, j + p)``, ``p = plan.border``): the plane's pixels mapped onto the [0, 1]
scale with their isolated outliers replaced, and beyond its border the blur-consistent
extension.

- A plane of at most :data:`LARGE_PLANE` pixels is mapped, cleaned and extended whole
  (one solve over the plane) and kept in memory: windows are slices of it.
- A larger plane is never copied whole.  Its extension is solved on four strips along
  its borders (:data:`STRIP_DEPTH` pixels deep: the extension only depends on the
  observation near the border it continues), kept as four bands ``p`` pixels wide, and
  each window maps and cleans only the raw pixels it needs.  Memory then follows the
  tile size, not the plane size, and a window can be made from a block of the plane
  (with the bands) on a dask worker: the extension depends only on the plane, never on
  how it is tiled or chunked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_glra.engine.border import border_extension
from napari_glra.engine.inputs import check_finite
from napari_glra.engine.intensity import IntensityMap
from napari_glra.engine.outliers import noise_sample, plane_noise_scale, replace_outliers

__all__ = [
    "LARGE_PLANE",
    "STRIP_DEPTH",
    "Bands",
    "ExtendedPlane",
    "PlaneStats",
    "border_strips",
    "extended_plane",
    "observed_mask",
    "plane_bands",
    "plane_stats",
    "stats_from_sample",
    "strip_depth",
]

#: Planes with more pixels than this are extended from strips and read window by window.
LARGE_PLANE = 2048 * 2048
#: Depth of the strips the extension of a large plane is solved on (at least 6 border widths).
STRIP_DEPTH = 512


@dataclass(frozen=True)
class PlaneStats:
    """What a window of a large plane needs to know about the whole plane."""

    constant: bool  # every pixel has the same value
    outlier_scale: float  # robust noise scale of the outlier test (outliers.plane_noise_scale)


@dataclass(frozen=True)
class Bands:
    """The extension of an ``H x W`` plane by ``p`` pixels per side, as four bands.

    ``top``/``bottom``: ``(p, W + 2p)`` (corners included); ``left``/``right``: ``(H, p)``.
    """

    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray

    @property
    def pad(self) -> int:
        """``p``: pixels per side."""
        return int(self.top.shape[0])


def strip_depth(border: int) -> int:
    """Depth of the strips of :func:`plane_bands` for a border extension of ``border`` px."""
    return max(STRIP_DEPTH, 6 * int(border))


def plane_stats(raw: Any, imap: IntensityMap) -> PlaneStats:
    """:class:`PlaneStats` of a raw plane (numpy; reads it, copies only a strided sample)."""
    return stats_from_sample(np.min(raw), np.max(raw), noise_sample(raw), imap, raw)


def stats_from_sample(lo: Any, hi: Any, sample: Any, imap: IntensityMap, whole: Any = None) -> PlaneStats:
    """:class:`PlaneStats` from a plane's min and max and its :func:`noise_sample`.

    Non-finite extremes raise the ``ValueError`` of ``check_finite`` (with the counts, from
    ``whole`` when given: a dask block task has only the sample).
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        check_finite(np.asarray(sample if whole is None else whole))
        raise ValueError("image contains NaN or inf values; replace them first (e.g. np.nan_to_num)")
    constant = not bool(hi > lo)
    return PlaneStats(constant, 0.0 if constant else plane_noise_scale(np.asarray(sample), imap))


def clean_window(raw: Any, imap: IntensityMap, kernel: np.ndarray, stats: PlaneStats) -> np.ndarray:
    """Raw pixels mapped to [0, 1] with their outliers replaced (the plane's outlier threshold)."""
    raw = np.asarray(raw)
    check_finite(raw)
    mapped, _ = replace_outliers(imap.forward(raw), kernel, noise_scale=stats.outlier_scale)
    return mapped


def plane_bands(
    strips: tuple[Any, Any, Any, Any],
    shape: tuple[int, int],
    *,
    imap: IntensityMap,
    kernel: np.ndarray,
    noise_level: float,
    stats: PlaneStats,
    device: Any = "cpu",
) -> Bands:
    """The extension bands of a large plane from its four border strips.

    ``strips`` are the raw ``top, bottom, left, right`` strips (rows ``[0, D)``,
    ``[H - D, H)``, columns ``[0, D)``, ``[W - D, W)``, ``D`` = :func:`strip_depth`
    clipped to the plane).  Each is mapped, cleaned and extended like a plane
    (:func:`~napari_glra.engine.border.border_extension`, on ``device``); the band along
    the strip's outer side is kept.
    """
    h, w = shape
    if all(tuple(np.shape(s)) == (h, w) for s in strips):  # a small plane: one solve over it
        whole = clean_window(strips[0], imap, kernel, stats)
        ext = [border_extension(whole, kernel, noise_level, device=device)] * 4
    else:
        ext = [
            border_extension(clean_window(s, imap, kernel, stats), kernel, noise_level, device=device)
            for s in strips
        ]
    p = (ext[0].shape[0] - np.asarray(strips[0]).shape[0]) // 2
    return Bands(
        top=np.ascontiguousarray(ext[0][:p]),
        bottom=np.ascontiguousarray(ext[1][-p:]),
        left=np.ascontiguousarray(ext[2][p : p + h, :p]),
        right=np.ascontiguousarray(ext[3][p : p + h, -p:]),
    )


def border_strips(raw: Any, depth: int) -> tuple[Any, Any, Any, Any]:
    """The ``top, bottom, left, right`` strips of ``raw`` (views; ``depth`` clipped to the plane)."""
    h, w = raw.shape
    dr, dc = min(depth, h), min(depth, w)
    return raw[:dr, :], raw[h - dr :, :], raw[:, :dc], raw[:, w - dc :]


class ExtendedPlane:
    """Windows of a mapped, cleaned plane extended by ``p`` pixels per side.

    Make one with :func:`extended_plane` (a whole plane) or directly from a block of a
    large plane: ``data`` holds the raw pixels of rows/cols ``origin[0] ...`` of an
    ``H x W`` plane and ``bands`` its extension.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        pad: int,
        *,
        whole: np.ndarray | None = None,
        data: Any = None,
        origin: tuple[int, int] = (0, 0),
        bands: Bands | None = None,
        imap: IntensityMap | None = None,
        kernel: np.ndarray | None = None,
        stats: PlaneStats | None = None,
    ) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.pad = int(pad)
        self.whole = whole
        self.data = data
        self.origin = (int(origin[0]), int(origin[1]))
        self.bands = bands
        self.imap = imap
        self.kernel = kernel
        self.stats = stats

    def window(self, rows: slice, cols: slice) -> np.ndarray:
        """The window ``[rows, cols]`` of the extended plane (float32, C-contiguous)."""
        if self.whole is not None:
            return np.ascontiguousarray(self.whole[rows, cols])
        p, (h, w) = self.pad, self.shape
        r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
        out = np.empty((r1 - r0, c1 - c0), np.float32)
        b = self.bands
        # the bands, in extended coordinates: top rows [0, p), bottom [h + p, h + 2p) (all columns);
        # left/right rows [p, h + p), columns [0, p) and [w + p, w + 2p)
        for band, (br, bc) in (
            (b.top, (0, 0)),
            (b.bottom, (h + p, 0)),
            (b.left, (p, 0)),
            (b.right, (p, w + p)),
        ):
            _paste(out, (r0, c0), band, (br, bc))
        # the plane's own pixels (with one more pixel per side for the outlier test's 3x3 window)
        pr0, pr1 = max(r0 - p, 0), min(r1 - p, h)
        pc0, pc1 = max(c0 - p, 0), min(c1 - p, w)
        if pr0 < pr1 and pc0 < pc1:
            er0, er1, ec0, ec1 = max(pr0 - 1, 0), min(pr1 + 1, h), max(pc0 - 1, 0), min(pc1 + 1, w)
            o0, o1 = self.origin
            raw = self.data[er0 - o0 : er1 - o0, ec0 - o1 : ec1 - o1]
            if raw.shape != (er1 - er0, ec1 - ec0):
                raise ValueError(f"block data does not cover rows {er0}:{er1}, cols {ec0}:{ec1}")
            clean = clean_window(raw, self.imap, self.kernel, self.stats)
            out[pr0 + p - r0 : pr1 + p - r0, pc0 + p - c0 : pc1 + p - c0] = clean[
                pr0 - er0 : pr1 - er0, pc0 - ec0 : pc1 - ec0
            ]
        return out


def _paste(out: np.ndarray, at: tuple[int, int], src: np.ndarray, src_at: tuple[int, int]) -> None:
    """Copy the part of ``src`` (placed at ``src_at``) that overlaps ``out`` (placed at ``at``)."""
    r0 = max(at[0], src_at[0])
    r1 = min(at[0] + out.shape[0], src_at[0] + src.shape[0])
    c0 = max(at[1], src_at[1])
    c1 = min(at[1] + out.shape[1], src_at[1] + src.shape[1])
    if r0 < r1 and c0 < c1:
        out[r0 - at[0] : r1 - at[0], c0 - at[1] : c1 - at[1]] = src[
            r0 - src_at[0] : r1 - src_at[0], c0 - src_at[1] : c1 - src_at[1]
        ]


def observed_mask(rows: slice, cols: slice, pad: int, shape: tuple[int, int]) -> np.ndarray:
    """1 on the plane's own pixels, 0 on the extension, for a window of the extended plane."""
    obs = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
    r0, r1 = max(pad - rows.start, 0), min(pad + shape[0] - rows.start, obs.shape[0])
    c0, c1 = max(pad - cols.start, 0), min(pad + shape[1] - cols.start, obs.shape[1])
    if r0 < r1 and c0 < c1:
        obs[r0:r1, c0:c1] = 1.0
    return obs


def extended_plane(
    raw: np.ndarray,
    imap: IntensityMap,
    kernel: np.ndarray,
    *,
    noise_level: float,
    pad: int,
    device: Any = "cpu",
) -> ExtendedPlane | None:
    """The :class:`ExtendedPlane` of a whole raw plane (None when the plane is constant).

    The extension is computed on ``device`` (the plan's: next to the network).
    """
    h, w = raw.shape
    if h * w <= LARGE_PLANE:
        check_finite(raw)
        mapped, _ = replace_outliers(imap.forward(raw), kernel)
        if not np.ptp(mapped) > 0:
            return None
        return ExtendedPlane((h, w), pad, whole=border_extension(mapped, kernel, noise_level, device=device))
    stats = plane_stats(raw, imap)
    if stats.constant:
        return None
    strips = border_strips(raw, strip_depth(pad))
    bands = plane_bands(
        strips, (h, w), imap=imap, kernel=kernel, noise_level=noise_level, stats=stats, device=device
    )
    return ExtendedPlane((h, w), pad, data=raw, bands=bands, imap=imap, kernel=kernel, stats=stats)
