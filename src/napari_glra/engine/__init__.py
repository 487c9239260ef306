"""The inference engine: any image, any size, any device, through one generator.

Layer 3 of the package: may import :mod:`napari_glra.glra` and
:mod:`napari_glra.physics`, never :mod:`napari_glra.classical`, the API or the widgets.
:func:`deconvolve_iter` is the one code path from a user array to a restored array;
:func:`napari_glra.api.deconvolve` drains it, the napari widget runs it in a
``thread_worker``.
"""

from napari_glra.engine.kernel_fit import KernelFitWarning
from napari_glra.engine.pipeline import DeconvResult, deconvolve_iter, run

__all__ = ["DeconvResult", "KernelFitWarning", "deconvolve_iter", "run"]
