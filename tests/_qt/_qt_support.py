"""Helpers shared by the Qt / napari tests (widget, kernel widget, sample data, manifest).

The napari *canvas* needs OpenGL.  Headless, that means a virtual X display
(``xvfb``, started by the pytest-xvfb plugin or ``xvfb-run``) with
``QT_QPA_PLATFORM=offscreen``; the widget logic itself is tested on a
``ViewerModel`` (no canvas), which works everywhere.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_glra.physics.kernels import make_kernel


def has_gl_display() -> bool:
    """True when Qt can create OpenGL contexts (a display, or not the offscreen platform)."""
    if sys.platform != "linux":
        return True
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    return os.environ.get("QT_QPA_PLATFORM", "") not in ("offscreen", "minimal")


needs_gl = pytest.mark.skipif(
    not has_gl_display(),
    reason="the napari canvas needs OpenGL: install Xvfb (apt-get install xvfb) and pytest-xvfb",
)


def save_tiny_model(directory: Path, basis) -> Path:
    """A tiny (untrained) GLRA model over ``basis``, for tests: fast and deterministic."""
    from napari_glra.glra.model_io import save_model
    from napari_glra.glra.network import GLRANet, NetConfig

    cfg = NetConfig(d=basis.d, m=basis.m, width=4, first_kernel=3, depth=1, mid_kernel=3, last_kernel=3)
    net = GLRANet(cfg, basis.L, basis.R, seed=0)
    return save_model(directory, net, basis, name="tiny-widget-test", version="0.0.1")


def blurred_pair(shape=(48, 48), sigma: float = 1.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random image blurred by a Gaussian (float32 in [0, 1]) and its 9x9 kernel."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    sharp = ndimage.gaussian_filter(rng.random(shape), 2.0)
    sharp = (sharp - sharp.min()) / np.ptp(sharp)
    k = make_kernel("gaussian", sigma=sigma, size=9)
    blurred = ndimage.convolve(sharp, k, mode="reflect") + rng.normal(0, 0.01, shape)
    return np.clip(blurred, 0, 1).astype(np.float32), k.astype(np.float32)


def wait_idle(qtbot, widget, timeout: int = 60_000) -> None:
    """Wait until the widget's worker has finished (and its signals were delivered)."""
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)
    qtbot.wait(10)


def slow_engine(monkeypatch, steps: int = 200, delay: float = 0.02) -> dict:
    """Make ``api.deconvolve_iter`` yield ``steps`` slow steps before the real work; returns counters."""
    from napari_glra import api as engine

    real = engine.deconvolve_iter
    state = {"steps": 0, "closed": False}

    def slow(*args, **kwargs):
        try:
            for i in range(steps):
                time.sleep(delay)
                state["steps"] += 1
                yield i / (2 * steps), f"slow step {i + 1}/{steps}"
            result = yield from real(*args, **kwargs)
        except GeneratorExit:
            state["closed"] = True
            raise
        return result

    monkeypatch.setattr(engine, "deconvolve_iter", slow)
    return state
