"""Planes restored on the device: one copy in, one copy out (the GPU path).

On a GPU the per-plane steps that run in numpy on the CPU path (the intensity map,
the outlier replacement, the windows of the extended plane, the map back) would cost
a host round trip around each step.  :func:`restore_planes_resident` does all of them
in torch on the plan's device: the raw planes go to the device once, the border
extension (:func:`~napari_glra.engine.border.border_extension_tensor`), the tiles and
the network (:func:`~napari_glra.glra.inference.run_network`) work there, and the
results come back once.  The once-per-image steps (the intensity map's percentiles and
the noise estimate on a bounded sample, the kernel's coefficients) stay in the plan.

The same code runs on the CPU (``resident=True`` in the tests): it matches the numpy
path there within float32 round-off.  Planes above
:data:`~napari_glra.engine.extended.LARGE_PLANE` pixels take the numpy path (read
window by window, never copied whole).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from napari_glra.engine.border import border_extension_tensor
from napari_glra.engine.extended import LARGE_PLANE
from napari_glra.engine.inputs import check_finite
from napari_glra.engine.intensity import IntensityMap
from napari_glra.engine.outliers import MIN_STEP, NOISE_STEPS, kernel_sharpness
from napari_glra.engine.plan import Plan
from napari_glra.glra.inference import run_network

__all__ = ["replace_outliers_tensor", "restore_planes_resident", "resident_suits", "to_unit_tensor"]

_NOISE_SAMPLES = 1_000_000


def resident_suits(plan: Plan, shape: tuple[int, int]) -> bool:
    """Whether planes of ``shape`` take the resident path: a GPU plan, planes up to LARGE_PLANE."""
    return plan.resident and shape[0] * shape[1] <= LARGE_PLANE


def to_unit_tensor(raw: np.ndarray, imap: IntensityMap, device: torch.device) -> torch.Tensor:
    """``imap.forward(raw)`` on ``device`` (float64 arithmetic for wide inputs, as the numpy map)."""
    raw = np.asarray(raw)
    check_finite(raw)
    wide = raw.dtype.itemsize > 4 or (raw.dtype.kind in "iu" and raw.dtype.itemsize == 4)
    work = torch.float64 if wide else torch.float32
    if raw.dtype.kind == "u" and raw.dtype.itemsize > 1 and raw.dtype != np.uint8:
        raw = raw.astype(np.int64 if raw.dtype.itemsize >= 4 else np.int32)  # torch lacks wide uints
    t = torch.as_tensor(raw, device=device).to(work)
    if not imap.identity:
        t = (t - imap.offset) / imap.scale
    return t.to(torch.float32)


def _noise_scale(x: torch.Tensor) -> float:
    step = max(1, int(np.ceil(np.sqrt(x.numel() / _NOISE_SAMPLES))))
    p = x[::step, ::step]
    if min(p.shape) < 3:
        return 0.0
    r = p[1:-1, 1:-1] - 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
    med = torch.quantile(r.abs().flatten().double(), 0.5)
    return float(1.4826 * med / np.sqrt(1.25))


def replace_outliers_tensor(x: torch.Tensor, kernel: np.ndarray | None) -> tuple[torch.Tensor, int]:
    """:func:`napari_glra.engine.outliers.replace_outliers` on a 2D tensor, on its device."""
    h, w = x.shape
    if h < 3 or w < 3:
        return x, 0
    pad = F.pad(x[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    shifts = [(di, dj) for di in (0, 1, 2) for dj in (0, 1, 2) if (di, dj) != (1, 1)]
    nb = pad[0:h, 0:w]
    for di, dj in shifts[1:]:
        nb = torch.maximum(nb, pad[di : di + h, dj : dj + w])
    step = x - nb
    if not bool((step > MIN_STEP).any()):
        return x, 0
    threshold = max(MIN_STEP, NOISE_STEPS * _noise_scale(x))
    rows, cols = torch.nonzero(step > threshold, as_tuple=True)
    if rows.numel() == 0:
        return x, 0
    win = torch.stack([pad[rows + di, cols + dj] for di in (0, 1, 2) for dj in (0, 1, 2)])
    centre = win[4]
    med = win.median(dim=0).values  # 9 values: the exact middle one
    height = centre - win.min(dim=0).values
    hot = (centre - med) > 0.5 * (1.0 + kernel_sharpness(kernel)) * height
    if not bool(hot.any()):
        return x, 0
    out = x.clone()
    out[rows[hot], cols[hot]] = med[hot]
    return out, int(hot.sum())


def restore_planes_resident(plan: Plan, raws: list[np.ndarray], outs: list[np.ndarray]) -> None:
    """Restore planes on the plan's device, tile by tile, several planes per network call.

    Results go into ``outs`` (arrays of the work dtype, e.g. views into the result).
    """
    dev = plan.device
    work = torch.float64 if outs[0].dtype == np.float64 else torch.float32
    p = plan.border
    exts, keep = [], []
    for raw, out in zip(raws, outs):
        x, _ = replace_outliers_tensor(to_unit_tensor(raw, plan.imap, dev), plan.kernel)
        if not bool(x.max() > x.min()):  # a constant plane restores to itself
            out[...] = raw
            continue
        exts.append(border_extension_tensor(x, plan.kernel, plan.noise_level))
        keep.append(out)
    if not exts:
        return
    stack = torch.stack(exts)
    h, w = keep[0].shape
    obs = torch.zeros(stack.shape[1:], device=dev)
    obs[p : p + h, p : p + w] = 1.0
    res = torch.empty((len(exts), h, w), device=dev)
    for rows, cols, crop_r, crop_c in plan.tiles:
        hh, ww = rows.stop - rows.start, cols.stop - cols.start
        y = run_network(
            plan.model,
            stack[:, rows, cols].contiguous(),
            plan.coefficients,
            context=(crop_r.start, hh - crop_r.stop, crop_c.start, ww - crop_c.stop),
            observed=obs[rows, cols].expand(len(exts), -1, -1).contiguous(),
            body_dtype=plan.body_dtype,
        ).float()
        r0, c0 = rows.start + crop_r.start - p, cols.start + crop_c.start - p
        res[:, r0 : r0 + y.shape[1], c0 : c0 + y.shape[2]] = y
    res = res.to(work)
    if not plan.imap.identity:
        res = res * plan.imap.scale + plan.imap.offset
    host = res.cpu().numpy()
    for r, out in zip(host, keep):
        out[...] = r
