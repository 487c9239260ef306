"""The form (magicgui widgets) of the deconvolution widget, and a spin box with a special value."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Label, ProgressBar, PushButton, Widget

from napari_glra import api
from napari_glra._qt import _layers, _run
from napari_glra._qt._pickers import LayerCombo

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["WHOLE_STACK", "CURRENT_PLANE", "special_spin", "deconvolve_form"]

WHOLE_STACK = "whole stack"
CURRENT_PLANE = "current plane"


def special_spin(special: str, decimals: int, **kwargs: Any) -> FloatSpinBox:
    """A ``FloatSpinBox`` that shows ``special`` (e.g. "auto") at its minimum, with ``decimals`` digits."""
    spin = FloatSpinBox(**kwargs)
    spin.native.setDecimals(decimals)
    spin.native.setSpecialValueText(special)
    return spin


def deconvolve_form(viewer: napari.viewer.Viewer, model_choices: Callable[..., list]) -> list[Widget]:
    """Widgets of "Deconvolve (GLRA)", in display order (names are the widget's attributes)."""
    return [
        LayerCombo(
            viewer,
            score=_layers.image_score,
            replace_below=0,
            name="image",
            label="image",
            tooltip="Blurred Image layer to restore",
        ),
        LayerCombo(
            viewer,
            score=_layers.kernel_score,
            replace_below=4,
            name="kernel",
            label="kernel",
            tooltip="Image layer holding the blur kernel (PSF); small layers named psf/kernel come first",
        ),
        special_spin(
            "auto",
            2,
            name="noise_level",
            label="noise (%)",
            value=0.0,
            min=0.0,
            max=50.0,
            step=0.1,
            tooltip="Noise standard deviation in % of the intensity range; 'auto' estimates it",
        ),
        ComboBox(
            name="model",
            label="model",
            choices=model_choices,
            tooltip="Trained model (napari_glra.api.available_models(), or a model directory)",
        ),
        PushButton(name="browse_model", text="Model from folder…"),
        ComboBox(name="device", label="device", choices=_run.available_devices(), value="auto"),
        ComboBox(
            name="precision",
            label="precision",
            choices=list(api.PRECISIONS),
            value="auto",
            tooltip="Arithmetic of the network's artifact block: 'auto' is bfloat16 on CPUs with native "
            "bfloat16 (the block 2-3x faster, within about 0.01 dB), float32 elsewhere",
        ),
        special_spin(
            "auto",
            0,
            name="tile_size",
            label="tile size",
            value=0,
            min=0,
            max=16384,
            step=64,
            tooltip="Side of the tiles a plane is processed in; 'auto' picks one from the memory",
        ),
        ComboBox(
            name="apply_to",
            label="apply to",
            choices=[WHOLE_STACK, CURRENT_PLANE],
            tooltip="For stacks: every plane (lazy for dask data) or only the plane on screen",
        ),
        CheckBox(
            name="tta",
            text="test-time augmentation (8x time)",
            value=False,
            tooltip="Restore the 8 flips and rotations of each plane and average them: a small gain "
            "(measured +0.14 to +0.31 dB for 'microscopy', +0.03 to +0.15 dB for 'default') for 8 times "
            "the run time",
        ),
        CheckBox(name="replace_previous", text="replace previous output", value=False),
        Label(name="kernel_fit", label="kernel fit", value="–"),
        PushButton(name="run_button", text="Run"),
        PushButton(name="cancel_button", text="Cancel", enabled=False),
        ProgressBar(name="progress_bar", value=0, min=0, max=1000, visible=False),
        Label(name="status", label="status", value=""),
    ]
