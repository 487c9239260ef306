"""The "Deconvolve (GLRA)" dock widget: pick an image and a kernel, run the engine in a thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container
from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning

from napari_glra._qt import _layers, _run
from napari_glra._qt._forms import CURRENT_PLANE, WHOLE_STACK, deconvolve_form

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["DeconvolveWidget", "CURRENT_PLANE", "WHOLE_STACK"]

_WARN_STYLE = "color: #e5a00d;"
_OK_STYLE = ""


class DeconvolveWidget(Container):
    """Non-blind deconvolution of an Image layer with a GLRA model.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (injected by napari).

    Attributes
    ----------
    worker : napari.qt.threading.GeneratorWorker or None
        The running job, if any.
    last_error : str or None
        Message of the last failed run.
    last_output : napari.layers.Image or None
        The layer the last successful run added.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self._viewer = napari_viewer
        self.worker: Any = None
        self.last_error: str | None = None
        self.last_output: napari.layers.Image | None = None
        self._pbar: Any = None
        self._job: dict[str, Any] = {}
        self._extra_models: list[Any] = []
        super().__init__(widgets=deconvolve_form(napari_viewer, self._model_choices), labels=True)
        self.name = "Deconvolve (GLRA)"
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.browse_model.changed.connect(self._browse_model)
        for w in (self.kernel, self.model, self.noise_level):
            w.changed.connect(self.update_kernel_fit)
        self.image.changed.connect(self._update_apply_to)
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered, events.renamed):
            ev.connect(self._refresh_layers)
        self.native.destroyed.connect(self._disconnect)
        self._update_apply_to()
        self.update_kernel_fit()

    # ------------------------------------------------------------------ layers
    def _refresh_layers(self, *_: Any) -> None:
        self.image.reset_choices()
        self.kernel.reset_choices()

    def _disconnect(self, *_: Any) -> None:
        """The widget is gone: stop listening to the viewer and stop a running job."""
        events = self._viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered, events.renamed):
            ev.disconnect(self._refresh_layers)
        worker, self.worker = self.worker, None
        if worker is not None:
            for signal, slot in (
                (worker.yielded, self._on_progress),
                (worker.returned, self._on_returned),
                (worker.aborted, self._on_aborted),
                (worker.finished, self._on_finished),
            ):
                try:
                    signal.disconnect(slot)
                except (TypeError, RuntimeError):  # pragma: no cover - already disconnected
                    pass
            worker.quit()
        pbar, self._pbar = self._pbar, None
        if pbar is not None:
            pbar.close()

    def _update_apply_to(self, *_: Any) -> None:
        layer = self.image.value
        nd = layer is not None and _layers.layer_array(layer).ndim > _layers.spatial_ndim(layer)
        self.apply_to.enabled = bool(nd)

    # ------------------------------------------------------------------ models
    def _model_choices(self, *_: Any) -> list[Any]:
        names = _run.available_model_names()
        return names + [m for m in self._extra_models if m not in names]

    def add_model(self, model: Any, select: bool = True) -> Any:
        """Add a model (name, directory or loaded model) to the model list and select it."""
        if model not in self._extra_models:
            self._extra_models.append(model)
        self.model.reset_choices()
        if select:
            self.model.value = model
        return model

    def _browse_model(self, *_: Any) -> None:  # pragma: no cover - interactive
        from qtpy.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(self.native, "Model directory")
        if path:
            self.add_model(path)

    # --------------------------------------------------------------- options
    def noise_fraction(self) -> float | None:
        """The noise level on the [0, 1] scale, or ``None`` for automatic estimation."""
        pct = float(self.noise_level.value)
        return None if pct <= 0 else pct / 100.0

    def update_kernel_fit(self, *_: Any) -> None:
        """Recompute the "kernel fit" readout for the selected kernel and model."""
        layer, model = self.kernel.value, self.model.value
        label = self.kernel_fit
        if layer is None or model is None:
            label.value, label.tooltip = "–", "select a kernel layer and a model"
            label.native.setStyleSheet(_OK_STYLE)
            return
        try:
            err, threshold = _run.fit_error(_layers.kernel_array(layer), model, self.noise_fraction())
        except Exception as exc:  # noqa: BLE001 - shown in the readout
            label.value = "not usable"
            label.tooltip = str(exc)
            label.native.setStyleSheet(_WARN_STYLE)
            return
        bad = err > threshold
        label.value = f"{100 * err:.1f} % error" + (" ⚠ outside the basis' range" if bad else "")
        label.tooltip = (
            f"Relative error of this kernel's GLRA representation in the model's basis "
            f"(warning above {100 * threshold:.0f} %)."
        )
        label.native.setStyleSheet(_WARN_STYLE if bad else _OK_STYLE)

    # ------------------------------------------------------------------- run
    @property
    def running(self) -> bool:
        """True while a job is in progress."""
        return self.worker is not None

    def run(self, *_: Any) -> Any:
        """Start a deconvolution with the current settings (returns the worker, or None)."""
        if self.running:
            return None
        image, kernel_layer = self.image.value, self.kernel.value
        try:
            if image is None or kernel_layer is None:
                raise ValueError("select an image layer and a kernel layer first")
            if image is kernel_layer:
                raise ValueError("the image and the kernel must be different layers")
            if self.model.value is None:
                raise ValueError("no model is installed; add a model directory")
            kernel = _layers.kernel_array(kernel_layer)
            data = _layers.layer_array(image)
            plane = None
            if self.apply_to.enabled and self.apply_to.value == CURRENT_PLANE:
                plane = _layers.current_plane_index(image, self._viewer)
                data = data[plane]
        except Exception as exc:  # noqa: BLE001
            self._fail(str(exc))
            return None
        options = {
            "noise_level": self.noise_fraction(),
            "model": self.model.value,
            "device": self.device.value,
            "precision": self.precision.value,
            "tile_size": int(round(self.tile_size.value)) or None,
            "tta": bool(self.tta.value),
            "channel_axis": -1 if getattr(image, "rgb", False) else None,
        }
        self._job = {
            "image": image,
            "kernel": kernel_layer,
            "plane": plane,
            "options": options,
            "started": _layers.timestamp(),
        }
        worker = thread_worker(_run.deconvolution_job, start_thread=False)(
            data, kernel, materialise=plane is not None, **options
        )
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._set_running(True)
        worker.start()
        return worker

    def cancel(self, *_: Any) -> None:
        """Ask the running job to stop (it stops after the current plane or tile)."""
        if self.worker is not None:
            self.status.value = "cancelling…"
            self.worker.quit()

    def _set_running(self, running: bool) -> None:
        self.run_button.enabled = not running
        self.cancel_button.enabled = running
        self.progress_bar.visible = running
        self.progress_bar.value = 0
        if running:
            self.status.value = "running…"
            self._pbar = progress(total=1000, desc="GLRA deconvolution")
        elif self._pbar is not None:
            pbar, self._pbar = self._pbar, None
            pbar.close()

    def _on_progress(self, item: tuple[float, str]) -> None:
        frac, msg = item
        n = int(round(1000 * frac))
        self.progress_bar.value = n
        if msg:
            self.status.value = msg
        pbar = self._pbar  # napari's progress may process events (and finish the run) re-entrantly
        if pbar is not None:
            if msg:
                pbar.set_description(f"GLRA: {msg}")
            if self._pbar is pbar:
                pbar.update(max(0, n - pbar.n))

    def _on_aborted(self) -> None:
        self.status.value = "cancelled"

    def _on_finished(self) -> None:
        self.worker = None
        self._set_running(False)

    def _fail(self, message: str) -> None:
        self.last_error = message
        self.status.value = "failed"
        self.status.tooltip = message
        show_error(f"Deconvolution failed: {message}")

    def _on_returned(self, outcome: Any) -> None:
        if isinstance(outcome, _run.Failed):
            self._fail(outcome.message)
            return
        job = self._job
        image, kernel_layer, options = job["image"], job["kernel"], job["options"]
        metadata = _run.output_metadata(
            outcome,
            options,
            image_name=image.name,
            kernel_name=kernel_layer.name,
            plane=job["plane"],
            started=job["started"],
        )
        try:
            data, kwargs = _layers.output_layer_kwargs(image, outcome.data, job["plane"], metadata)
            self._add_output(data, kwargs)
        except Exception as exc:  # noqa: BLE001
            self._fail(f"could not add the result layer: {exc}")
            return
        self.last_error = None
        self.status.value = f"done in {outcome.seconds:.1f} s"
        self.status.tooltip = ""
        for message in metadata["warnings"]:  # also in the layer's metadata
            show_warning(f"{kwargs['name']}: {message}")
        show_info(f"{kwargs['name']}: done in {outcome.seconds:.1f} s")

    def _add_output(self, data: Any, kwargs: dict[str, Any]) -> None:
        from napari.layers import Image

        layers = self._viewer.layers
        layer = Image(data, **kwargs)
        prev = self.last_output
        inputs = (self._job.get("image"), self._job.get("kernel"))
        if (
            self.replace_previous.value
            and prev is not None
            and prev in layers
            and not any(prev is x for x in inputs)
        ):
            index = layers.index(prev)
            layers.remove(prev)
            layers.insert(index, layer)
        else:
            layers.append(layer)
        self.last_output = layer
