"""Qt / napari front end of napari-glra (the only package that imports Qt or napari).

- :class:`~napari_glra._qt.deconvolve_widget.DeconvolveWidget`: "Deconvolve (GLRA)"
- :class:`~napari_glra._qt.kernel_widget.KernelWidget`: "Kernel / PSF generator"

Both are magicgui ``Container`` subclasses taking the viewer as ``napari_viewer``,
as npe2 widget contributions expect.
"""

from napari_glra._qt.deconvolve_widget import DeconvolveWidget
from napari_glra._qt.kernel_widget import KernelWidget

__all__ = ["DeconvolveWidget", "KernelWidget"]
