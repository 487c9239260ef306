"""The deconvolution job run in a napari ``thread_worker``, and small engine adapters.

Everything here runs without Qt; :func:`deconvolution_job` is the generator the
widget hands to ``thread_worker``.  Engine errors are *returned* (as
:class:`Failed`) instead of raised, so napari does not show a traceback: the
widget shows the engine's message as a notification.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_glra import api

__all__ = [
    "Failed",
    "Finished",
    "available_devices",
    "deconvolution_job",
    "fit_error",
    "model_identity",
    "output_metadata",
]

@dataclass
class Failed:
    """A run that raised: the exception and its one-line message."""

    error: BaseException

    @property
    def message(self) -> str:
        """The engine's message (type name when it has none)."""
        text = str(self.error).strip()
        if isinstance(self.error, MemoryError) or "out of memory" in text.lower():
            hint = " Try a smaller tile size or the CPU."
            return f"Out of memory: {text or type(self.error).__name__}.{hint}"
        return text or type(self.error).__name__


@dataclass
class Finished:
    """A successful run: the restored array, the engine's info and the time it took."""

    data: Any
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _as_progress(item: Any) -> tuple[float, str]:
    if isinstance(item, tuple) and len(item) >= 1:
        frac = float(item[0]) if isinstance(item[0], (int, float, np.floating)) else 0.0
        msg = str(item[1]) if len(item) > 1 else ""
        return min(max(frac, 0.0), 1.0), msg
    if isinstance(item, (int, float, np.floating)):
        return min(max(float(item), 0.0), 1.0), ""
    return 0.0, str(item)


def deconvolution_job(image: Any, kernel: np.ndarray, materialise: bool = False, **options: Any):
    """Generator: drive the engine, yield ``(fraction, message)``, return Finished or Failed.

    Parameters
    ----------
    image : array_like
        The data to restore (numpy or dask; a numpy array is passed read-only).
    kernel : numpy.ndarray
        2D kernel.
    materialise : bool
        Load a lazy ``image`` into memory first (one plane of a dask stack).
    **options
        Keyword arguments of :func:`napari_glra.engine.pipeline.deconvolve_iter`.
    """
    t0 = time.perf_counter()
    try:
        yield 0.0, "preparing"
        if materialise or isinstance(image, np.ndarray):
            image = np.asarray(image)
            if image.flags.writeable:
                image = image.view()
                image.flags.writeable = False
        gen = api.deconvolve_iter(image, kernel, **options)
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            yield _as_progress(item)
    except Exception as err:  # noqa: BLE001 - every engine error becomes a notification
        return Failed(err)
    data = getattr(result, "data", result)
    info = dict(getattr(result, "info", None) or {})
    return Finished(data=data, info=info, seconds=time.perf_counter() - t0)


def available_devices() -> list[str]:
    """``"auto"``, then the devices torch can use here (``"cpu"``, ``"cuda:N"``, ``"mps"``)."""
    return ["auto"] + [str(d) for d in api.available_devices() if str(d) != "auto"]


def available_model_names() -> list[str]:
    """Names from :func:`napari_glra.api.available_models` (empty when none is installed)."""
    return [str(m) for m in api.available_models()]


def model_identity(model: Any, info: dict[str, Any]) -> tuple[str, str]:
    """Model name and version for the output metadata (the engine records both in its info)."""
    return str(info["model"]), str(info["model_version"])


def fit_error(kernel: np.ndarray, model: Any, noise_level: float | None) -> tuple[float, float]:
    """Relative GLRA error of ``kernel`` in ``model``'s basis, and the engine's warning threshold."""
    noise = 0.01 if noise_level is None else float(noise_level)
    err = float(api.kernel_fit_error(kernel, model=model, noise_level=noise))
    return err, float(api.fit_warning_threshold(model))


def output_metadata(
    outcome: Finished,
    options: dict[str, Any],
    *,
    image_name: str,
    kernel_name: str,
    plane: tuple[int, ...] | None,
    started: str,
) -> dict[str, Any]:
    """``layer.metadata`` of an output layer: model, kernel layer, noise level used, device, time."""
    info = outcome.info
    name, version = model_identity(options["model"], info)
    noise = info.get("noise_level", options["noise_level"])
    return {
        "source": "napari-glra",
        "model": name,
        "model_version": version,
        "image_layer": image_name,
        "kernel_layer": kernel_name,
        "noise_level": None if noise is None else float(noise),
        "noise_estimated": options["noise_level"] is None,
        "device": str(info.get("device", options["device"])),
        "precision": info.get("precision", options.get("precision", "auto")),
        "tile_size": options["tile_size"],
        "tta": bool(options.get("tta", False)),
        "apply_to": "current plane" if plane is not None else "whole stack",
        "plane_index": plane,
        "time_s": round(outcome.seconds, 3),
        "date": started,
        "kernel_fit_error": info.get("kernel_fit_error"),
        "warnings": list(info.get("warnings") or []),
        "engine_info": {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool, type(None)))},
    }
