"""The "Kernel / PSF generator" dock widget: synthetic kernels with a live preview, and measured PSFs."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, PushButton, SpinBox
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt

from napari_glra import api
from napari_glra._qt import _layers
from napari_glra._qt._forms import special_spin
from napari_glra._qt._pickers import LayerCombo
from napari_glra._qt._preview import KernelPreview

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["KernelWidget", "kernel_families", "kernel_layer_name"]

#: Spin boxes of the shape families: name -> (label, min, max, step); their defaults are
#: :func:`napari_glra.api.kernel_defaults`.
_SHAPE_SPECS: dict[str, dict[str, tuple[str, float, float, float]]] = {
    "gaussian": {"sigma": ("σ (px)", 0.3, 30.0, 0.1)},
    "disk": {"radius": ("radius (px)", 0.5, 37.0, 0.5)},
    "motion": {"length": ("length (px)", 2.0, 73.0, 1.0), "seed": ("seed", 0, 99999, 1)},
}
_SYMBOLS = {"sigma": "σ", "radius": "r", "length": "L"}


def kernel_families() -> list[str]:
    """Families offered by the widget (:data:`napari_glra.api.KERNEL_FAMILIES`)."""
    return list(api.KERNEL_FAMILIES)


#: Spin boxes of the optics parameters of ``defocus_psf`` (others get a generic one).
_DEFOCUS_SPECS: dict[str, tuple[str, float, float, float]] = {
    "na": ("NA", 0.05, 1.7, 0.05),
    "wavelength": ("λ (µm)", 0.2, 2.0, 0.01),
    "pixel_size": ("pixel (µm)", 0.001, 5.0, 0.005),
    "defocus": ("defocus (µm)", 0.0, 100.0, 0.1),
    "n_immersion": ("n immersion", 1.0, 2.0, 0.01),
}
_SYMBOLS.update({"na": "NA", "wavelength": "λ", "pixel_size": "px", "defocus": "z", "n_immersion": "n"})


def _defocus_params() -> dict[str, tuple[str, float, float, float, float]]:
    """Spin-box specs of ``defocus_psf``'s optics (:func:`napari_glra.api.kernel_defaults`)."""
    out = {}
    for name, d in api.kernel_defaults("defocus").items():
        generic = (name.replace("_", " "), 0.0, 10 * abs(d) or 10.0, 0.01)
        label, lo, hi, step = _DEFOCUS_SPECS.get(name, generic)
        out[name] = (label, lo, hi, float(d), step)
    return out


def kernel_layer_name(family: str, params: dict[str, Any]) -> str:
    """Layer name such as ``"kernel gaussian σ=2"`` or ``"kernel motion L=15 seed=3"``."""
    parts = [
        f"{_SYMBOLS.get(k, k)}={v:g}" if isinstance(v, float) else f"{_SYMBOLS.get(k, k)}={v}"
        for k, v in params.items()
        if k != "size"
    ]
    return " ".join(["kernel", family, *parts])


class KernelWidget(Container):
    """Make blur kernels (Gaussian, disk, motion, defocus) and prepare measured PSFs as layers.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (injected by napari).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        self._viewer = napari_viewer
        families = kernel_families()
        specs = {
            fam: {
                name: (label, lo, hi, api.kernel_defaults(fam)[name], step)
                for name, (label, lo, hi, step) in spec.items()
            }
            for fam, spec in _SHAPE_SPECS.items()
        }
        specs["defocus"] = _defocus_params()
        self._specs = specs
        family = ComboBox(name="family", label="family", choices=families, value=families[0])
        params: dict[str, Any] = {}
        for fam, fam_specs in specs.items():
            for pname, (label, lo, hi, default, step) in fam_specs.items():
                key = f"{fam}_{pname}"
                cls = SpinBox if isinstance(default, int) and isinstance(step, int) else FloatSpinBox
                params[key] = cls(name=key, label=label, min=lo, max=hi, value=default, step=step)
                if fam == "defocus":
                    params[key].native.setDecimals(3)
                    params[key].value = default
        size = special_spin(
            "auto",
            0,
            name="size",
            label="size (px)",
            value=0,
            min=0,
            max=151,
            step=2,
            tooltip="Odd side of the kernel; 'auto' uses the family's natural size",
        )
        image = LayerCombo(
            napari_viewer,
            score=_layers.image_score,
            replace_below=0,
            name="image",
            label="pixel size from",
            tooltip="Image layer whose pixel size (scale) a defocus PSF or a resampled PSF uses",
        )
        add = PushButton(name="add_button", text="Add kernel layer")
        head = Label(name="psf_header", label=" ", value="<b>Measured PSF</b>")
        psf = LayerCombo(
            napari_viewer, score=_layers.kernel_score, replace_below=4, name="psf", label="PSF layer"
        )
        background = CheckBox(
            name="subtract_background", text="subtract background (border median)", value=True
        )
        crop = special_spin(
            "off",
            3,
            name="crop_energy",
            label="keep energy",
            value=0.0,
            min=0.0,
            max=1.0,
            step=0.001,
            tooltip="Crop to the smallest square holding this fraction of the energy ('off': no crop)",
        )
        resample = CheckBox(name="resample", text="resample to the image's pixel size", value=False)
        prepare = PushButton(name="prepare_button", text="Prepare PSF")
        super().__init__(
            widgets=[
                family,
                *params.values(),
                size,
                image,
                add,
                head,
                psf,
                background,
                crop,
                resample,
                prepare,
            ],
            labels=True,
        )
        self.name = "Kernel / PSF generator"
        self.preview = KernelPreview(128)
        self.native.layout().insertWidget(len(params) + 3, self.preview, 0, Qt.AlignHCenter)
        self._params = params
        for w in (family, size, *params.values()):
            w.changed.connect(self.update_preview)
        family.changed.connect(self._show_family_params)
        image.changed.connect(self._pixel_size_from_layer)
        add.changed.connect(self.add_kernel)
        prepare.changed.connect(self.prepare_psf)
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered, events.renamed):
            ev.connect(self._refresh_layers)
        self.native.destroyed.connect(self._disconnect)
        self._show_family_params()
        self._pixel_size_from_layer()
        self.update_preview()

    # ------------------------------------------------------------------ state
    def _refresh_layers(self, *_: Any) -> None:
        self.image.reset_choices()
        self.psf.reset_choices()

    def _disconnect(self, *_: Any) -> None:
        events = self._viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered, events.renamed):
            ev.disconnect(self._refresh_layers)

    def _show_family_params(self, *_: Any) -> None:
        fam = self.family.value
        for key, w in self._params.items():
            w.visible = key.startswith(f"{fam}_")
        self.image.visible = True

    def _pixel_size_from_layer(self, *_: Any) -> None:
        layer = self.image.value
        if layer is None:
            return
        px = _layers.layer_pixel_size_um(layer)
        if px is None:
            return
        for key, w in self._params.items():
            if key.startswith("defocus_") and "pixel" in key:
                w.value = px

    def kernel_params(self) -> dict[str, Any]:
        """Keyword arguments of ``make_kernel`` for the current settings."""
        fam = self.family.value
        params: dict[str, Any] = {}
        for pname in self._specs.get(fam, {}):
            v = self._params[f"{fam}_{pname}"].value
            params[pname] = int(v) if isinstance(v, int) else float(v)
        size = int(round(self.size.value))
        if size:
            params["size"] = size if size % 2 else size + 1
        return params

    def make_kernel(self) -> np.ndarray:
        """The kernel for the current settings."""
        return api.make_kernel(self.family.value, **self.kernel_params())

    def update_preview(self, *_: Any) -> None:
        """Recompute the live preview (warnings go to its tooltip, not to notifications)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                k = self.make_kernel()
            except Exception as exc:  # noqa: BLE001 - shown on the preview
                self.preview.set_kernel(None)
                self.preview.setToolTip(str(exc))
                return
        self.preview.set_kernel(k)
        tip = f"{self.family.value} kernel, {k.shape[0]}×{k.shape[1]} px"
        self.preview.setToolTip("\n".join([tip, *(f"⚠ {w.message}" for w in caught)]))

    # ---------------------------------------------------------------- actions
    def add_kernel(self, *_: Any) -> napari.layers.Image | None:
        """Add the current kernel as a new Image layer (returns it, or None on error)."""
        try:
            k = self.make_kernel()
        except Exception as exc:  # noqa: BLE001
            show_error(f"Could not make the kernel: {exc}")
            return None
        params = self.kernel_params()
        meta = {"source": "napari-glra", "kernel": {"family": self.family.value, **params}}
        return self._viewer.add_image(
            k, name=kernel_layer_name(self.family.value, params), colormap="magma", metadata=meta
        )

    def prepare_psf(self, *_: Any) -> napari.layers.Image | None:
        """Turn the selected measured PSF layer into a normalised, centred kernel layer."""
        layer = self.psf.value
        if layer is None:
            show_error("Select a PSF layer (e.g. a bead image) first.")
            return None
        kwargs: dict[str, Any] = {}
        if self.subtract_background.value:
            kwargs["background"] = "auto"
        if float(self.crop_energy.value) > 0:
            kwargs["crop_energy"] = float(self.crop_energy.value)
        target = self.image.value
        if self.resample.value and target is not None and target is not layer:
            kwargs["psf_pixel_size"] = float(np.asarray(layer.scale)[-1])
            kwargs["image_pixel_size"] = float(np.asarray(target.scale)[-1])
        try:
            data = np.asarray(_layers.layer_array(layer))
            while data.ndim > 3 and data.shape[0] == 1:
                data = data[0]
            k = api.prepare_psf(data, **kwargs)
        except Exception as exc:  # noqa: BLE001
            show_error(f"Could not prepare the PSF {layer.name!r}: {exc}")
            return None
        self.preview.set_kernel(k)
        meta = {
            "source": "napari-glra",
            "prepared_from": layer.name,
            **{k_: v for k_, v in kwargs.items() if not isinstance(v, np.ndarray)},
        }
        return self._viewer.add_image(k, name=f"kernel from {layer.name}", colormap="magma", metadata=meta)
