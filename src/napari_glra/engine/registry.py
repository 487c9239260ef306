"""Which models are installed, and loading them by name or path (cached).

:func:`available_models` lists the shipped models
(``napari_glra/models/<name>/config.json``); :func:`load_model` loads one by
name or directory path (:func:`napari_glra.glra.model_io.load_model_dir`) and keeps
it cached on the CPU until its files change; :func:`model_on_device` caches one
copy of a loaded model's network per device.  Both caches share one lock, so
the engine can be used from several threads (the napari widget runs it in a
worker thread).
"""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path

import torch

from napari_glra.glra.model_io import ModelFiles, load_model_dir

__all__ = ["available_models", "load_model", "model_on_device"]

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
