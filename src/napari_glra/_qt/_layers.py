"""Layer helpers shared by the widgets: which layers look like kernels, planes, output layers.

No Qt here; napari types are only named in annotations.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = [
    "KERNEL_MAX_SIDE",
    "kernel_score",
    "image_score",
    "looks_like_kernel",
    "image_layers",
    "layer_array",
    "kernel_array",
    "spatial_ndim",
    "current_plane_index",
    "output_layer_kwargs",
    "robust_limits",
    "layer_pixel_size_um",
]

#: Layers at most this wide (in their last two axes) are treated as kernel candidates.
KERNEL_MAX_SIDE = 151

_KERNEL_WORDS = ("psf", "kernel", "otf", "bead")


def image_layers(viewer: napari.viewer.Viewer | None) -> list[napari.layers.Image]:
    """Image layers of a viewer, top of the layer list first."""
    if viewer is None:
        return []
    from napari.layers import Image

    return [lyr for lyr in reversed(list(viewer.layers)) if isinstance(lyr, Image)]


def spatial_ndim(layer: napari.layers.Image) -> int:
    """Number of trailing data axes that form one plane (3 for RGB(A): rows, columns, channels)."""
    return 3 if getattr(layer, "rgb", False) else 2


def layer_array(layer: napari.layers.Image) -> Any:
    """The layer's full-resolution data (level 0 of a multiscale layer), never copied."""
    data = layer.data
    if getattr(layer, "multiscale", False):
        data = data[0]
    return data


def _is_output(layer: napari.layers.Image) -> bool:
    meta = getattr(layer, "metadata", None) or {}
    return str(layer.name).endswith("deconvolved") or (
        meta.get("source") == "napari-glra" and "model" in meta
    )


def _named_like_kernel(layer: napari.layers.Image) -> bool:
    name = str(layer.name).lower()
    return any(w in name for w in _KERNEL_WORDS)


def kernel_score(layer: napari.layers.Image) -> int:
    """How much a layer looks like a blur kernel (higher = more kernel-like; <= 0: not at all).

    Named like a PSF / kernel: +4; a 2D (non-RGB) image at most 75 px wide: +2,
    at most :data:`KERNEL_MAX_SIDE`: +1; a stack: -2; a deconvolution output: -3.
    """
    score = 4 if _named_like_kernel(layer) else 0
    data = layer_array(layer)
    shape = tuple(int(s) for s in data.shape)
    rgb = getattr(layer, "rgb", False)
    lead = [s for s in shape[: len(shape) - spatial_ndim(layer)] if s > 1]
    side = max(shape[-spatial_ndim(layer) :][:2]) if len(shape) >= 2 else 0
    if not rgb and side <= 75:
        score += 2
    elif not rgb and side <= KERNEL_MAX_SIDE:
        score += 1
    if lead:
        score -= 2
    if _is_output(layer):
        score -= 3
    return score


def image_score(layer: napari.layers.Image) -> int:
    """How much a layer looks like an image to restore (0 = fine; negative = less likely).

    Named like a PSF / kernel: -5; hidden: -1; a deconvolution output: -1.
    """
    score = -5 if _named_like_kernel(layer) else 0
    if not getattr(layer, "visible", True):
        score -= 1
    if _is_output(layer):
        score -= 1
    return score


def looks_like_kernel(layer: napari.layers.Image) -> bool:
    """True for layers that are small 2D images or are named like a PSF / kernel."""
    return kernel_score(layer) >= 2


def kernel_array(layer: napari.layers.Image) -> np.ndarray:
    """The kernel layer's data as a float64 2D copy (leading singleton axes dropped)."""
    k = np.array(layer_array(layer), dtype=np.float64, copy=True)
    while k.ndim > 2 and k.shape[0] == 1:
        k = k[0]
    if k.ndim != 2:
        raise ValueError(
            f"the kernel layer {layer.name!r} has shape {k.shape}; a kernel must be one 2D image "
            "(make one with the 'Kernel / PSF generator' widget)"
        )
    return k


def current_plane_index(layer: napari.layers.Image, viewer: napari.viewer.Viewer) -> tuple[int, ...]:
    """Data indices of the leading (non-plane) axes at the viewer's current position."""
    data = layer_array(layer)
    n_lead = data.ndim - spatial_ndim(layer)
    if n_lead <= 0:
        return ()
    coords = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)
    lead = coords[:n_lead]
    idx = np.clip(np.round(lead), 0, np.asarray(data.shape[:n_lead]) - 1).astype(int)
    return tuple(int(i) for i in idx)


def robust_limits(data: Any, fallback: tuple[float, float] | None = None) -> tuple[float, float]:
    """Display range of a result: 0.1-99.9 percentiles of the finite values (lazy data: ``fallback``)."""
    if not isinstance(data, np.ndarray):
        if fallback is not None:
            return float(fallback[0]), float(fallback[1])
        data = np.asarray(data)
    finite = data[np.isfinite(data)] if data.size else data
    if finite.size == 0:
        return 0.0, 1.0
    sample = finite.ravel()
    if sample.size > 4_000_000:
        sample = sample[:: sample.size // 4_000_000 + 1]
    lo, hi = (float(v) for v in np.percentile(sample, [0.1, 99.9]))
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def _plane_offset(layer: napari.layers.Image, index: tuple[int, ...]) -> np.ndarray:
    """Translate of a one-plane layer so that it sits where ``index`` is in ``layer``."""
    ndim = layer.ndim
    point = np.zeros(ndim)
    point[: len(index)] = index
    try:  # data -> physical (scale, rotate, shear, translate) of the input layer
        return np.asarray(layer._transforms["data2physical"](point), dtype=float)
    except Exception:  # pragma: no cover - private napari API changed
        return np.asarray(layer.translate, dtype=float) + point * np.asarray(layer.scale, dtype=float)


def output_layer_kwargs(
    layer: napari.layers.Image,
    result: Any,
    plane_index: tuple[int, ...] | None,
    metadata: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """Data and ``Image`` keyword arguments of the output layer for ``layer``'s result.

    A result for one plane of an nD layer keeps the layer's dimensionality
    (singleton leading axes) and is translated onto that plane.
    """
    data = result
    kwargs: dict[str, Any] = {
        "name": f"{layer.name} deconvolved",
        "scale": np.asarray(layer.scale, dtype=float),
        "translate": np.asarray(layer.translate, dtype=float),
        "rotate": np.asarray(layer.rotate, dtype=float),
        "shear": np.asarray(layer.shear, dtype=float),
        "affine": layer.affine.affine_matrix,
        "blending": layer.blending,
        "metadata": metadata,
    }
    for attr in ("units", "axis_labels"):
        if hasattr(layer, attr):
            kwargs[attr] = getattr(layer, attr)
    if getattr(layer, "rgb", False):
        kwargs["rgb"] = True
    else:
        kwargs["colormap"] = layer.colormap.name
    if plane_index:
        data = np.asarray(result)[(np.newaxis,) * len(plane_index)]
        kwargs["translate"] = _plane_offset(layer, plane_index)
    kwargs["contrast_limits"] = robust_limits(data, fallback=tuple(layer.contrast_limits))
    return data, kwargs


def layer_pixel_size_um(layer: napari.layers.Image) -> float | None:
    """Pixel size of a layer's last axis in µm (from its scale and units; None when unknown)."""
    scale = float(np.asarray(layer.scale)[-1])
    units = getattr(layer, "units", None)
    if units is not None:
        try:
            return float((scale * units[-1]).to("micrometer").magnitude)
        except Exception:  # noqa: BLE001 - not a length unit (e.g. "pixel")
            pass
    return scale if scale != 1.0 else None


def timestamp() -> str:
    """Local time, ISO 8601, seconds precision."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
