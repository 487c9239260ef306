"""A tiny kernel preview: a 2D array shown in a ``QLabel`` as a nearest-neighbour enlarged QImage."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel

__all__ = ["KernelPreview", "to_qimage"]

# A short "inferno"-like ramp (black -> purple -> orange -> yellow), interpolated to 256 entries.
_STOPS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=float,
)
_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_STOPS)), _STOPS[:, c]) for c in range(3)],
    axis=1,
).astype(np.uint8)


def to_qimage(array: np.ndarray, gamma: float = 0.5) -> QImage:
    """Colour-mapped QImage of a 2D array (max -> brightest; ``gamma`` < 1 lifts faint tails)."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"preview needs a non-empty 2D array, got shape {a.shape}")
    a = np.clip(np.nan_to_num(a), 0, None)
    peak = a.max()
    a = (a / peak) ** gamma if peak > 0 else a
    rgb = np.ascontiguousarray(_LUT[np.round(a * 255).astype(np.uint8)])
    h, w = a.shape
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888)
    return img.copy()  # detach from the numpy buffer


class KernelPreview(QLabel):
    """Square label showing a kernel (``set_kernel``), enlarged without smoothing."""

    def __init__(self, side: int = 128, parent=None) -> None:
        super().__init__(parent)
        self._side = side
        self.setFixedSize(side, side)
        self.setAlignment(Qt.AlignCenter)
        self.setStyleSheet("background: black;")
        self.kernel: np.ndarray | None = None

    def set_kernel(self, kernel: np.ndarray | None) -> None:
        """Show ``kernel`` (``None`` clears the preview)."""
        self.kernel = None if kernel is None else np.asarray(kernel)
        if kernel is None:
            self.clear()
            return
        pix = QPixmap.fromImage(to_qimage(kernel))
        self.setPixmap(pix.scaled(self._side, self._side, Qt.KeepAspectRatio, Qt.FastTransformation))
