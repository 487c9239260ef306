"""A layer picker (magicgui ``ComboBox``) that follows a viewer's layers and keeps its selection.

magicgui's own layer combo boxes jump to the first layer when the selected
layer is renamed; this one keeps the selected *object*, lists layers in a
preferred order (e.g. kernel-like layers first) and switches to a better
candidate only when the current choice is a poor one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox
from qtpy.QtCore import QSignalBlocker

from napari_glra._qt._layers import image_layers

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

__all__ = ["LayerCombo"]


class LayerCombo(ComboBox):
    """Combo box of a viewer's Image layers.

    Parameters
    ----------
    viewer : napari.viewer.Viewer or None
        The viewer whose layers are listed.
    score : callable, optional
        ``score(layer) -> number``: layers are listed best first, and a
        selection is replaced when a strictly better layer appears and the
        current one scores below ``replace_below`` and was not picked by the user.
    replace_below : float
        Automatic selections scoring below this are replaced by a better layer.
    **kwargs
        Passed to :class:`magicgui.widgets.ComboBox` (``name``, ``label``, ...).
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer | None,
        score: Callable[[Any], float] | None = None,
        replace_below: float = 1.0,
        **kwargs: Any,
    ) -> None:
        self._viewer = viewer
        self._score = score or (lambda layer: 0.0)
        self._replace_below = replace_below
        self._user_choice: Any = None
        self._resetting = False
        kwargs.setdefault("nullable", False)
        super().__init__(choices=self._choices, **kwargs)
        self.changed.connect(self._on_changed)

    def _on_changed(self, value: Any) -> None:
        """A layer chosen by the user (or set by code) is kept until it is removed."""
        if not self._resetting:
            self._user_choice = value

    def _choices(self, *_: Any) -> list[tuple[str, Any]]:
        layers = image_layers(self._viewer)
        order = sorted(range(len(layers)), key=lambda i: (-self._score(layers[i]), i))
        return [(layers[i].name, layers[i]) for i in order]

    def reset_choices(self, *_: Any) -> None:
        """Re-read the viewer's layers, keeping the current layer unless a better one appeared."""
        items = self._choices()
        native = self.native
        old = self.value
        layers = [lyr for _, lyr in items]
        target = old if any(old is lyr for lyr in layers) else None
        if not any(self._user_choice is lyr for lyr in layers):
            self._user_choice = None
        if layers:
            best = layers[0]
            if target is None or (
                target is not self._user_choice
                and self._score(target) < self._replace_below
                and self._score(best) > self._score(target)
            ):
                target = best
        blocker = QSignalBlocker(native)
        try:
            native.clear()
            for name, layer in items:
                native.addItem(name, layer)
            index = next((i for i, lyr in enumerate(layers) if lyr is target), -1)
            native.setCurrentIndex(index)
        finally:
            blocker.unblock()
        if self.value is not old:
            self._resetting = True
            try:
                self.changed.emit(self.value)
            finally:
                self._resetting = False

    @property
    def layer(self) -> napari.layers.Image | None:
        """The selected layer (``None`` when the viewer has no Image layer)."""
        return self.value
