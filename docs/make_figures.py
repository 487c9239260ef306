"""Screenshots of the napari plugin for the docs, made by driving a real viewer offscreen.

Writes to ``docs/figures/``:

- ``deconvolve_widget.png``: the viewer with the "Deconvolve (GLRA)" widget after a run on the
  blurred-camera sample (blurred and restored side by side);
- ``kernel_widget.png``: the "Kernel / PSF generator" widget with a motion kernel and its preview;
- ``before_after_camera.png`` and ``before_after_fluorescence.png``: canvas-only grids
  blurred | napari-glra | sharp original of the two sample data sets;
- ``figures.json``: PSNR of each panel against the sharp image and the run times.

Usage::

    python docs/make_figures.py [--model default|PATH] [--out docs/figures] [--device cpu]

Needs OpenGL: on Linux without a display it starts ``Xvfb`` itself (``apt-get install xvfb``)
and uses ``QT_QPA_PLATFORM=offscreen``.  ``make docs-figures`` runs it.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WINDOW = (1500, 950)


def ensure_display() -> None:
    """Start a virtual X display when there is none (Linux), so the canvas gets OpenGL."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if sys.platform != "linux" or os.environ.get("DISPLAY"):
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("no display and no Xvfb: install it (apt-get install xvfb) or run under xvfb-run")
    for n in range(90, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen(
        [xvfb, f":{n}", "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(proc.terminate)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"


def new_viewer(size=WINDOW):
    """A hidden napari viewer of the given window size."""
    import napari

    viewer = napari.Viewer(show=False, title="napari-glra")
    viewer.window.resize(*size)
    return viewer


def grab(viewer, path: Path | None = None, canvas_only: bool = False):
    """The viewer's window (or the drawn part of its canvas) as an RGB array, saved to ``path``.

    Headless (Qt's offscreen platform on Xvfb), only the *first* grab of a hidden
    window draws the OpenGL canvas reliably, and ``viewer.screenshot(canvas_only=True)``
    comes out black; so each figure uses a fresh viewer and one window grab, and a
    canvas-only figure is that grab cropped to the canvas' drawn content.
    """
    import numpy as np
    from skimage import io

    img = np.asarray(viewer.screenshot(canvas_only=False, flash=False))[..., :3]
    if canvas_only:
        window = getattr(viewer.window, "_qt_window", None)
        native = getattr(getattr(getattr(viewer.window, "_qt_viewer", None), "canvas", None), "native", None)
        if window is not None and native is not None:
            from qtpy.QtCore import QPoint

            ratio = img.shape[1] / max(window.width(), 1)
            pos = native.mapTo(window, QPoint(0, 0))
            y0, x0 = round(pos.y() * ratio), round(pos.x() * ratio)
            img = img[y0 : y0 + round(native.height() * ratio), x0 : x0 + round(native.width() * ratio)]
        ys, xs = np.nonzero(img.max(axis=2) > 0)
        if ys.size:
            m = 6
            img = img[max(ys.min() - m, 0) : ys.max() + m + 1, max(xs.min() - m, 0) : xs.max() + m + 1]
    if path is not None:
        io.imsave(str(path), np.ascontiguousarray(img), check_contrast=False)
    return img


def wait_for(widget, app, timeout: float = 600.0) -> None:
    """Process events until the widget's run is over."""
    t0 = time.time()
    while widget.running and time.time() - t0 < timeout:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(10):
        app.processEvents()
    if widget.last_error:
        sys.exit(f"deconvolution failed: {widget.last_error}")


def _grid(viewer):
    """The grid settings (``viewer.canvas.grid`` from napari 0.9, ``viewer.grid`` before)."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


def show_only(viewer, names) -> None:
    """Make exactly the layers ``names`` visible; in a grid they appear left to right."""
    for layer in viewer.layers:
        layer.visible = layer.name in names
    for name in names:  # the grid runs from the bottom of the layer list to its top
        viewer.layers.move(viewer.layers.index(name), len(viewer.layers))


def restore_sample(viewer, app, sample: str, model, device: str):
    """Open a sample, dock the deconvolution widget, run it; returns (widget, names of the 3 layers)."""
    viewer.layers.clear()
    viewer.open_sample("napari-glra", sample)
    _, widget = viewer.window.add_plugin_dock_widget("napari-glra", "Deconvolve (GLRA)")
    widget.add_model(model)
    widget.device.value = device
    blurred = next(ly for ly in viewer.layers if ly.name.endswith("(blurred)"))
    widget.image.value = blurred
    widget.noise_level.value = 0  # auto: the widget estimates it
    widget.run()
    wait_for(widget, app)
    sharp = next(ly for ly in viewer.layers if ly.name.endswith(("(sharp)", "(ground truth)")))
    return widget, [blurred.name, widget.last_output.name, sharp.name]


def panels(viewer, images, path: Path, limits, gap: int = 4) -> None:
    """``images`` side by side (one strip layer, white gaps) in ``viewer`` at zoom 1, grabbed canvas-only."""
    import numpy as np

    arrays = [
        np.clip((np.asarray(a, np.float32) - limits[0]) / (limits[1] - limits[0]), 0, 1)
        for a in images.values()
    ]
    h = max(a.shape[0] for a in arrays)
    sep = np.ones((h, gap), np.float32)
    strip = np.concatenate([x for a in arrays for x in (a, sep)][:-1], axis=1)
    viewer.add_image(strip, name=" | ".join(images), contrast_limits=(0, 1), colormap="gray")
    viewer.reset_view()
    viewer.camera.zoom = 1.0  # native resolution, whatever the canvas size turns out to be
    grab(viewer, path, canvas_only=True)


def crop(a, box):
    """``a[y0:y1, x0:x1]`` for ``box = (y0, y1, x0, x1)``."""
    return a[box[0] : box[1], box[2] : box[3]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model name or directory (default: default)")
    parser.add_argument("--out", type=Path, default=HERE / "figures", help="output folder")
    parser.add_argument("--device", default="auto", help="device for the runs (default: auto)")
    args = parser.parse_args(argv)
    ensure_display()

    from qtpy.QtWidgets import QApplication

    from napari_glra import api
    from napari_glra.metrics import psnr

    try:
        loaded = api.load_model(args.model)
    except Exception as err:  # noqa: BLE001
        print(f"cannot make the figures: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.model if args.model in api.available_models() else str(Path(args.model).resolve())
    report: dict = {"model": loaded.name, "model_version": loaded.version, "samples": {}}
    results = {}

    # 1. the deconvolution widget after a run on each sample (blurred | restored in a grid)
    for sample, figure in (("blurred_camera", "deconvolve_widget.png"), ("blurred_fluorescence", None)):
        viewer = new_viewer()
        app = QApplication.instance()
        widget, names = restore_sample(viewer, app, sample, model, args.device)
        data = {n: viewer.layers[n].data for n in names}
        results[sample] = [data[n] for n in names]
        report["samples"][sample] = {
            "psnr_blurred": psnr(data[names[0]], data[names[2]], border=16),  # 16 px borders excluded
            "psnr_glra": psnr(data[names[1]], data[names[2]], border=16),
            "seconds": widget.last_output.metadata["time_s"],
            "noise_level": widget.last_output.metadata["noise_level"],
        }
        if figure:
            show_only(viewer, names[:2])
            _grid(viewer).enabled = True
            viewer.reset_view()
            grab(viewer, args.out / figure)
        viewer.close()

    # 2. before / after (canvas only): blurred | napari-glra | sharp, on a detail of each sample
    titles = ("blurred", "napari-glra", "sharp")  # left to right
    for sample, box, limits in (
        ("blurred_camera", (60, 316, 160, 416), (0.0, 1.0)),
        ("blurred_fluorescence", (0, 192, 32, 224), (0.0, 0.6)),
    ):
        viewer = new_viewer((1500, 700))
        images = {t: crop(a, box) for t, a in zip(titles, results[sample])}
        panels(viewer, images, args.out / f"before_after_{sample.split('_')[1]}.png", limits)
        viewer.close()

    # 3. the kernel generator with a motion kernel and its preview, and the kernel layer it added
    viewer = new_viewer()
    viewer.open_sample("napari-glra", "blurred_camera")
    _, kw = viewer.window.add_plugin_dock_widget("napari-glra", "Kernel / PSF generator")
    kw.family.value = "motion"
    kw.motion_length.value = 21
    kw.motion_seed.value = 3
    kw.add_kernel()
    show_only(viewer, ["camera (blurred)"])
    viewer.reset_view()
    grab(viewer, args.out / "kernel_widget.png")
    viewer.close()

    (args.out / "figures.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
