"""The inference engine: any image, any size, any device, through one generator.

:func:`deconvolve_iter` is the one code path from a user array to a restored
array.  It validates the input, puts it on the models' [0, 1] scale
(:mod:`napari_glra.intensity`), estimates the noise if asked
(:mod:`napari_glra.noise`), computes the kernel's GLRA coefficients once,
then restores every 2D plane (tiled when large) with
:func:`napari_glra.inference.restore_batch`, yielding ``(fraction_done,
message)`` after each plane or tile, and finally *returns* a
:class:`DeconvResult` (the generator's ``StopIteration.value``).

:func:`napari_glra.api.deconvolve` drains it; the napari widget runs it in a
``thread_worker`` and cancels it by closing the generator (between planes or
tiles).  Dask input gives a lazy dask output built from the same per-plane
function.

Layout
------
A 2D image is one plane.  For nD input the planes are the last two axes that
are not the channel axis; every other axis ("leading" axes) indexes
independent planes.  ``channel_axis`` marks colour channels, each restored on
its own (default: the last axis of an image whose last axis has 3 or 4
entries, as napari's RGB(A) layers; the alpha channel of such an RGBA image is
copied unchanged).

Tiling
------
The network's output at a pixel depends on the input within
``net.pad_amount() = d // 2 + margin`` pixels (the deconvolution block's
``d × d`` support, then the valid convolutions of the artifact block), and the
border is handled by mirror padding inside the network.  A tile extended by
that overlap on every side therefore gives exactly the untiled result in its
core (up to float32 FFT round-off); tiles are stitched by cropping the
overlaps.  Tiling is automatic above a memory budget
(:func:`memory_budget`) or forced with ``tile_size`` (the side of the core).
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .inference import kernel_coefficients, restore_batch
from .intensity import IntensityMap, fit_intensity_map
from .model_io import ModelFiles, load_model_dir
from .noise import estimate_noise_plane

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

#: Relative GLRA representation error above which a kernel triggers a
#: :class:`KernelFitWarning` (raised to twice the basis' worst held-out error if larger).
FIT_ERROR_WARN = 0.10
#: Number of planes (evenly spaced) the intensity map and the noise level are estimated from.
MAX_SAMPLE_PLANES = 8
#: Smallest automatic tile core (pixels).
MIN_TILE = 64
#: Default memory budget for one network call on the CPU (bytes); see :func:`memory_budget`.
CPU_MEMORY_BUDGET = 1.5e9
#: Upper bound of a sensible noise level on the [0, 1] scale.
MAX_NOISE_LEVEL = 0.5


class KernelFitWarning(UserWarning):
    """The kernel is poorly represented by the model's GLRA basis (results may be poor)."""


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


# --------------------------------------------------------------------------- models
_MODEL_CACHE: dict[tuple[str, int, int], ModelFiles] = {}
_DEVICE_CACHE: dict[tuple[int, str], tuple[ModelFiles, ModelFiles]] = {}
_CACHE_LOCK = threading.Lock()
_MODEL_FILES = ("weights.safetensors", "config.json", "basis.safetensors")


def _builtin_model_dirs() -> dict[str, Path]:
    """Shipped models: ``napari_glra/models/<name>/config.json``."""
    from importlib import resources

    root = resources.files("napari_glra") / "models"
    out: dict[str, Path] = {}
    try:
        children = list(root.iterdir()) if root.is_dir() else []
    except (FileNotFoundError, NotADirectoryError):  # pragma: no cover - odd installs
        children = []
    for child in children:
        if child.is_dir() and (child / "config.json").is_file():
            out[child.name] = Path(str(child))
    return out


def available_models() -> list[str]:
    """Names of the shipped models (``napari_glra/models/*/config.json``), sorted, ``"default"`` first."""
    names = sorted(_builtin_model_dirs())
    if "default" in names:
        names.remove("default")
        names.insert(0, "default")
    return names


def _model_dir(name: str | os.PathLike) -> Path:
    builtin = _builtin_model_dirs()
    if isinstance(name, str) and name in builtin:
        return builtin[name]
    p = Path(name).expanduser()
    if p.is_file() and p.name in _MODEL_FILES:
        p = p.parent
    if p.is_dir():
        return p
    names = available_models()
    listed = ", ".join(repr(n) for n in names) if names else "none are installed"
    hint = ""
    if str(name) == "default" and "default" not in names:
        hint = (
            " The default model is not installed in this copy of napari-glra "
            "(napari_glra/models/default/ is missing); reinstall the package or give a model path."
        )
    raise ValueError(
        f"unknown model {str(name)!r}: available models: {listed}; or pass the path of a model "
        f"directory holding {', '.join(_MODEL_FILES)}.{hint}"
    )


def load_model(name: str | os.PathLike | ModelFiles = "default") -> ModelFiles:
    """Load a model by name or path (cached on the CPU; reloaded if its files change).

    Parameters
    ----------
    name : str, path or ModelFiles
        A shipped model's name (see :func:`available_models`), the path of a
        model directory, or an already loaded model (returned as is).

    Returns
    -------
    ModelFiles
        The network (eval mode, CPU), its basis and config.
    """
    if isinstance(name, ModelFiles):
        return name
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"model must be a name, a path or a loaded model, got {type(name).__name__}")
    directory = _model_dir(name).resolve()
    stamps = []
    for fname in ("weights.safetensors", "config.json"):
        f = directory / fname
        stamps.append(f.stat().st_mtime_ns if f.is_file() else 0)
    key = (str(directory), stamps[0], stamps[1])
    with _CACHE_LOCK:
        cached = _MODEL_CACHE.get(key)
    if cached is not None:
        return cached
    model = load_model_dir(directory)
    with _CACHE_LOCK:
        for old in [k for k in _MODEL_CACHE if k[0] == key[0]]:
            del _MODEL_CACHE[old]
        _MODEL_CACHE[key] = model
    return model


# --------------------------------------------------------------------------- devices
def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Devices usable here: ``"cpu"``, then ``"cuda:N"`` for each GPU, then ``"mps"`` if present."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        out.append("mps")
    return out


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Validate a device request and return the torch device.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the device is unknown or not available on this machine.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
    d = device.strip().lower()
    here = ", ".join(repr(x) for x in ["auto", *available_devices()])
    if d == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if d == "cpu":
        return torch.device("cpu")
    if d == "cuda" or d.startswith("cuda:"):
        index_s = d[5:] if d.startswith("cuda:") else None
        if index_s is not None and not index_s.isdigit():
            raise ValueError(f"bad device {device!r}: use 'cuda' or 'cuda:N' with N a GPU index")
        if not torch.cuda.is_available():
            why = (
                "this PyTorch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
            )
            raise ValueError(f"device {device!r} is not available ({why}); devices here: {here}")
        index = int(index_s) if index_s is not None else torch.cuda.current_device()
        n = torch.cuda.device_count()
        if index >= n:
            raise ValueError(
                f"device {device!r} does not exist: this machine has {n} CUDA device(s); use {here}"
            )
        return torch.device("cuda", index)
    if d == "mps":
        if not _mps_available():
            raise ValueError(f"device 'mps' (Apple GPU) is not available here; devices here: {here}")
        return torch.device("mps")
    raise ValueError(
        f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (here: {here})"
    )


def model_on_device(model: ModelFiles, device: torch.device) -> ModelFiles:
    """The model with its network moved to ``device`` (moved once, then cached)."""
    if device.type == "cpu":
        return model
    key = (id(model), str(device))
    with _CACHE_LOCK:
        hit = _DEVICE_CACHE.get(key)
        if hit is not None and hit[0] is model:
            return hit[1]
    net = copy.deepcopy(model.net).to(device)
    moved = ModelFiles(net=net, basis=model.basis, config=model.config, path=model.path)
    with _CACHE_LOCK:
        _DEVICE_CACHE[key] = (model, moved)  # keeps ``model`` alive: its id stays unique
    return moved


# --------------------------------------------------------------------------- memory
def _parse_bytes(text: str) -> float:
    t = text.strip().upper().replace(" ", "")
    for suffix, mult in (("GB", 1e9), ("G", 1e9), ("MB", 1e6), ("M", 1e6)):
        if t.endswith(suffix):
            return float(t[: -len(suffix)]) * mult
    return float(t)


def memory_budget(device: torch.device) -> float:
    """Bytes one network call may use: ``$NAPARI_GLRA_MEMORY_BUDGET`` if set (e.g. ``"2GB"``).

    Otherwise 1.5 GB on the CPU (at most a quarter of the RAM), half the free
    memory on a CUDA device, 1.5 GB on MPS.
    """
    env = os.environ.get("NAPARI_GLRA_MEMORY_BUDGET")
    if env:
        try:
            value = _parse_bytes(env)
        except ValueError:
            raise ValueError(
                f"NAPARI_GLRA_MEMORY_BUDGET={env!r} is not a size such as '2GB' or 2e9"
            ) from None
        if value > 0:
            return value
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.5 * float(free)
    if device.type == "cpu":
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            return min(CPU_MEMORY_BUDGET, 0.25 * float(ram))
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            return CPU_MEMORY_BUDGET
    return CPU_MEMORY_BUDGET


def estimate_memory(model: ModelFiles, shape: tuple[int, int]) -> float:
    """Estimated peak bytes of one network call on a ``shape`` plane.

    The Fourier block holds ``width`` spectra and images on the padded FFT grid,
    the artifact block a few ``width``-channel activations.  Calibrated on the
    CPU (d=151, m=50, width=16: measured 134 MB at 512², 384 MB at 1024²; this
    estimate is 10-30 % above).
    """
    from .network import _next_fast_len

    c = model.net.config
    p = model.net.pad_amount()
    h, w = int(shape[0]), int(shape[1])
    grid = _next_fast_len(h + 2 * p) * _next_fast_len(w + 2 * p)
    feat = (h + 2 * c.margin) * (w + 2 * c.margin)
    # rfft spectra (complex64, half grid) + irfft output + the cropped copy, per channel;
    # then ~3 live activations of `width` channels in the artifact block.
    return float(c.width * (4 * grid + 4 * grid + 4 * feat) + 3 * 4 * c.width * feat + 16 * grid)


def _auto_tile(model: ModelFiles, shape: tuple[int, int], budget: float) -> int | None:
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


def _tiles(n: int, core: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis: ``(in_start, in_stop, out_start, out_stop)``, cores of equal size."""
    count = max(1, math.ceil(n / core))
    edges = np.linspace(0, n, count + 1).round().astype(int)
    out = []
    for s, e in zip(edges[:-1], edges[1:]):
        out.append((max(0, int(s) - overlap), min(n, int(e) + overlap), int(s), int(e)))
    return out


def plan_tiles(
    shape: tuple[int, int], core: int | None, overlap: int
) -> list[tuple[slice, slice, slice, slice]]:
    """Tiles of a plane: ``(input rows, input cols, crop rows, crop cols)`` per tile.

    ``core=None`` is a single tile.  Cropping the tile's output with the crop
    slices gives the rows/cols ``out_start:out_stop`` of the full result.
    """
    h, w = shape
    if core is None or (core >= h and core >= w):
        return [(slice(0, h), slice(0, w), slice(0, h), slice(0, w))]
    plan = []
    for i0, i1, o0, o1 in _tiles(h, core, overlap):
        for j0, j1, p0, p1 in _tiles(w, core, overlap):
            plan.append((slice(i0, i1), slice(j0, j1), slice(o0 - i0, o1 - i0), slice(p0 - j0, p1 - j0)))
    return plan


# --------------------------------------------------------------------------- input analysis
def _is_dask(a: Any) -> bool:
    return type(a).__module__.split(".")[0] == "dask" and hasattr(a, "dask") and hasattr(a, "compute")


def _check_dtype(a: Any, what: str) -> None:
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


def _normalise_channel_axis(channel_axis: Any, shape: tuple[int, ...]) -> tuple[int | None, bool]:
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
class _Job:
    """An input image analysed into planes: the canonical view ``(lead..., H, W, C)``."""

    canon: Any  # numpy or dask, (lead..., H, W, C)
    is_dask: bool
    shape: tuple[int, ...]
    dtype: np.dtype
    channel_axis: int | None
    channel_auto: bool
    selected: list[tuple[int, ...]] | None  # lead indices, or None for all
    passthrough: tuple[int, ...] = ()  # channels copied unchanged (RGBA alpha)
    imap: IntensityMap | None = None
    _samples: list[np.ndarray] | None = None

    @property
    def lead_shape(self) -> tuple[int, ...]:
        return tuple(self.canon.shape[:-3])

    @property
    def plane_shape(self) -> tuple[int, int]:
        return (int(self.canon.shape[-3]), int(self.canon.shape[-2]))

    @property
    def n_channels(self) -> int:
        return int(self.canon.shape[-1])

    @property
    def leads(self) -> list[tuple[int, ...]]:
        if self.selected is not None:
            return self.selected
        return list(np.ndindex(*self.lead_shape)) if self.lead_shape else [()]

    @property
    def channels(self) -> list[int]:
        return [c for c in range(self.n_channels) if c not in self.passthrough]

    def units(self) -> list[tuple[tuple[int, ...], int]]:
        """(lead index, channel) of every plane to restore."""
        return [(lead, c) for lead in self.leads for c in self.channels]

    def plane(self, lead: tuple[int, ...], c: int) -> np.ndarray:
        p = self.canon[lead + (slice(None), slice(None), c)]
        return np.asarray(p.compute() if self.is_dask else p)

    def samples(self) -> list[np.ndarray]:
        """A deterministic sample of (at most MAX_SAMPLE_PLANES) raw planes."""
        if self._samples is None:
            units = self.units()
            idx = np.unique(
                np.linspace(0, len(units) - 1, min(len(units), MAX_SAMPLE_PLANES)).round().astype(int)
            )
            picked = [units[i] for i in idx]
            if self.is_dask:
                import dask

                views = [self.canon[lead + (slice(None), slice(None), c)] for lead, c in picked]
                planes = [np.asarray(v) for v in dask.compute(*views)]
            else:
                planes = [self.plane(lead, c) for lead, c in picked]
            for p in planes:
                _check_finite(p)
            self._samples = planes
        return self._samples

    def intensity_map(self) -> IntensityMap:
        if self.imap is None:
            self.imap = fit_intensity_map(self.samples(), self.dtype)
        return self.imap

    def estimate_noise(self, kernel: np.ndarray | None = None) -> float:
        imap = self.intensity_map()
        return float(np.median([estimate_noise_plane(imap.forward(p), kernel) for p in self.samples()]))


def _check_finite(a: np.ndarray) -> None:
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        n_nan = int(np.isnan(a).sum())
        n_inf = int(np.isinf(a).sum())
        raise ValueError(
            f"image contains {n_nan} NaN and {n_inf} inf values; replace them first "
            "(e.g. np.nan_to_num(image, nan=np.nanmedian(image)))"
        )


def _normalise_plane_indices(plane_indices: Any, lead_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
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


def _analyse_image(image: Any, channel_axis: Any = None, plane_indices: Any = None) -> _Job:
    """Validate an image and build its canonical plane view (no copy for numpy)."""
    if image is None:
        raise TypeError("image is None; pass a 2D (or nD) numeric array")
    is_dask = _is_dask(image)
    if not is_dask:
        if not hasattr(image, "dtype") or not hasattr(image, "shape"):
            try:
                image = np.asarray(image)
            except (ValueError, TypeError) as err:
                raise TypeError(f"image cannot be read as an array: {err}") from None
        elif not isinstance(image, np.ndarray):
            image = np.asarray(image)
    _check_dtype(image, "image")
    shape = tuple(int(s) for s in image.shape)
    if len(shape) < 2:
        raise ValueError(
            f"image must be at least 2D (rows, columns), got a {len(shape)}D array of shape {shape}; "
            "reshape a flat signal into an image first"
        )
    if 0 in shape:
        raise ValueError(f"image is empty (shape {shape}); pass an image with at least one pixel per axis")
    ax, auto = _normalise_channel_axis(channel_axis, shape)
    if ax is None:
        canon = image[..., None]
    else:
        if is_dask:
            import dask.array as da

            canon = da.moveaxis(image, ax, -1)
        else:
            canon = np.moveaxis(image, ax, -1)
    passthrough: tuple[int, ...] = ()
    if ax is not None and ax == len(shape) - 1 and shape[-1] == 4:
        passthrough = (3,)  # RGBA: alpha copied unchanged
    selected = None
    if plane_indices is not None:
        selected = _normalise_plane_indices(plane_indices, tuple(canon.shape[:-3]))
    job = _Job(
        canon=canon,
        is_dask=is_dask,
        shape=shape,
        dtype=np.dtype(image.dtype),
        channel_axis=ax,
        channel_auto=auto,
        selected=selected,
        passthrough=passthrough,
    )
    if not is_dask and np.issubdtype(job.dtype, np.floating):
        if selected is None:
            _check_finite(image)
        else:
            for lead in selected:
                _check_finite(np.asarray(canon[lead]))
    return job


# --------------------------------------------------------------------------- kernel
def _basis_size_limit(model: ModelFiles) -> int:
    """Largest kernel side the model's basis supports (``d // 2``, odd)."""
    d = int(model.basis.d)
    lim = d // 2
    return lim if lim % 2 else lim - 1


def prepare_kernel(kernel: Any, model: ModelFiles, image_ndim: int | None = None) -> np.ndarray:
    """Validate a 2D kernel and prepare it (``prepare_psf``) for a model.

    Parameters
    ----------
    kernel : array_like
        2D blur kernel / PSF (leading singleton axes are dropped).
    model : ModelFiles
        The model whose basis limits the kernel size.
    image_ndim : int, optional
        Dimensionality of the image, for the error message of a 3D kernel.

    Returns
    -------
    numpy.ndarray
        Odd, square, centred, non-negative float64 kernel summing to one.
    """
    if kernel is None:
        raise TypeError("kernel is None; pass a 2D blur kernel (e.g. make_kernel('gaussian', sigma=2))")
    if _is_dask(kernel):
        kernel = kernel.compute()
    k = np.asarray(kernel)
    _check_dtype(k, "kernel")
    if k.size == 0:
        raise ValueError(f"kernel is empty (shape {k.shape}); pass a 2D blur kernel")
    while k.ndim > 2 and k.shape[0] == 1:
        k = k[0]
    if k.ndim != 2:
        if k.ndim == 3:
            img = f" with a {image_ndim}D image" if image_ndim else ""
            raise ValueError(
                f"a 3D kernel of shape {k.shape} was given{img}; napari-glra restores 2D planes with a 2D "
                "kernel: pass one plane (prepare_psf(bead_stack) picks the in-focus plane of a bead stack)"
            )
        raise ValueError(f"kernel must be a 2D array, got {k.ndim}D with shape {k.shape}")
    kf = k.astype(np.float64)
    if not np.all(np.isfinite(kf)):
        raise ValueError("kernel contains NaN or inf values; replace them (e.g. np.nan_to_num) first")
    total = float(kf.sum())
    if not np.any(kf):
        raise ValueError(
            "kernel is all zeros; a blur kernel needs positive values summing to a positive total"
        )
    if total <= 0:
        raise ValueError(
            f"kernel has a non-positive sum ({total:.3g}); a blur kernel must be mostly positive "
            "(is it inverted, or background-subtracted twice?)"
        )
    from .psf import prepare_psf  # lazy: psf.py is the core's PSF preparation

    limit = _basis_size_limit(model)
    try:
        return prepare_psf(kf, max_size=limit)
    except ValueError as err:
        raise ValueError(f"kernel: {err}") from None


def fit_warning_threshold(model: ModelFiles) -> float:
    """Representation error above which a kernel is reported as poorly represented."""
    held = model.basis.metadata.get("heldout_error") or {}
    worst = max((float(v) for v in held.values()), default=0.0) if isinstance(held, dict) else 0.0
    return max(FIT_ERROR_WARN, 2.0 * worst)


def kernel_fit_error(kernel: Any, model: Any = "default", noise_level: float = 0.01) -> float:
    """Relative error ``‖k† - L M Rᵀ‖ / ‖k†‖`` of a kernel's representation in a model's basis."""
    mf = load_model(model)
    k = prepare_kernel(kernel, mf)
    sigma = _check_noise_level(noise_level)
    _, err = mf.basis.kernel_coefficients(k, sigma)
    return float(err)


def _check_noise_level(noise_level: Any) -> float:
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


def _check_tile_size(tile_size: Any) -> int | None:
    if tile_size is None:
        return None
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) or tile_size < 16:
        raise ValueError(
            f"tile_size must be an integer >= 16 (the side of a tile's core, in pixels), got {tile_size!r}"
        )
    return int(tile_size)


def _resolve_output_dtype(output_dtype: Any, input_dtype: np.dtype) -> np.dtype:
    if output_dtype is None:
        return np.dtype(np.float32)
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


def _cast(out: Any, dt: np.dtype) -> Any:
    """Cast float32 results; integers are rounded and clipped to the dtype's range (never wrapped)."""
    if dt == np.float32:
        return out
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return np.clip(np.rint(out), info.min, info.max).astype(dt)
    return out.astype(dt)


# --------------------------------------------------------------------------- restoration
def border_balance(noise_level: float) -> float:
    """Prior weight of the valid-data-term Wiener estimate that extends a plane beyond its border."""
    return 0.6 * max(float(noise_level), 1e-3)


def extended_shape(shape: tuple[int, int], kernel_shape: tuple[int, ...]) -> tuple[int, int]:
    """Shape of a plane after :func:`napari_glra.classical.extend_observation`."""
    from scipy import fft as sfft

    p = 2 * int(max(kernel_shape))
    return tuple(int(sfft.next_fast_len(n + 2 * p, real=True)) for n in shape)  # type: ignore[return-value]


def _restore_plane_iter(
    model: ModelFiles,
    raw: np.ndarray,
    imap: IntensityMap,
    M: np.ndarray,
    device: torch.device,
    tiles: list[tuple[slice, slice, slice, slice]],
    extend: tuple[np.ndarray, float] | None = None,
) -> Generator[int, None, np.ndarray]:
    """Restore one raw plane tile by tile; yields the tile index, returns the float32 result.

    With ``extend=(kernel, balance)`` the plane is first extended beyond its border by
    :func:`napari_glra.classical.extend_observation` (``tiles`` must then cover the
    extended plane, see :func:`extended_shape`) and the result is cropped back.
    """
    _check_finite(raw)
    plane = imap.forward(raw)
    crop = (slice(None), slice(None))
    if extend is not None:  # (kernel, balance): blur-consistent extension beyond the border
        from .classical import extend_observation

        ext, crop = extend_observation(plane, extend[0], extend[1])
        plane = ext.astype(np.float32)
    if len(tiles) == 1:
        out = restore_batch(model, plane[None], M, device)[0]
        yield 0
        return imap.inverse(np.ascontiguousarray(out[crop]))
    out = np.empty(plane.shape, np.float32)
    h, w = plane.shape
    for t, (rows, cols, crop_r, crop_c) in enumerate(tiles):
        res = restore_batch(model, np.ascontiguousarray(plane[rows, cols])[None], M, device)[0]
        r0 = rows.start + crop_r.start
        c0 = cols.start + crop_c.start
        out[r0 : r0 + crop_r.stop - crop_r.start, c0 : c0 + crop_c.stop - crop_c.start] = res[crop_r, crop_c]
        yield t
    return imap.inverse(np.ascontiguousarray(out[crop]))


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
) -> Generator[tuple[float, str], None, DeconvResult]:
    """Deconvolve an image, yielding progress; the generator's return value is a :class:`DeconvResult`.

    Parameters are those of :func:`napari_glra.api.deconvolve` (see there for
    the intensity and noise contract), plus:

    plane_indices : sequence, optional
        Restore only these planes: indices (tuples, or ints for a single
        leading axis / flat indices) into the leading axes.  The result then
        stacks ``deconvolve(image[idx])`` for each index along a new first
        axis, and the intensity map and noise level come from those planes.

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
    extend = (k, border_balance(sigma))
    tiles = plan_tiles(extended_shape((h, w), k.shape), core, overlap)
    units = job.units()
    info: dict[str, Any] = {
        "noise_level": float(sigma),
        "noise_estimated": sigma_given is None,
        "device": str(dev),
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
        data = _lazy_result(job, net_model, imap, M, dev, tiles, out_dtype, extend)
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
            gen = _restore_plane_iter(net_model, job.plane(lead, c), imap, M, dev, tiles, extend)
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


def _families_text(model: ModelFiles) -> str:
    fams = model.basis.metadata.get("families")
    if isinstance(fams, dict) and fams:
        parts = []
        for name, ranges in fams.items():
            if isinstance(ranges, dict) and ranges:
                rng = ", ".join(f"{k} {v[0]:g}-{v[1]:g}" for k, v in ranges.items() if len(v) == 2)
                parts.append(f"{name} ({rng})" if rng else str(name))
            else:
                parts.append(str(name))
        return "; ".join(parts)
    return f"at most {_basis_size_limit(model)} px"


def _lazy_result(
    job: _Job,
    model: ModelFiles,
    imap: IntensityMap,
    M: np.ndarray,
    device: torch.device,
    tiles: list[tuple[slice, slice, slice, slice]],
    out_dtype: np.dtype,
    extend: tuple[np.ndarray, float] | None = None,
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
                    out[sl] = _drain(_restore_plane_iter(model, plane, imap, M, device, tiles, extend))
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
