"""napari-glra: non-blind deconvolution with generalised low-rank approximation networks.

The scripting surface is :mod:`napari_glra.api`; this package imports no Qt
or napari code.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
