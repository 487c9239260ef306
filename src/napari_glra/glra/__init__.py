"""The method: pseudo-inverse kernels, the GLRA basis, the network and the model files.

Layer 2 of the package: may import :mod:`napari_glra.physics` and the shared helpers,
never the engine, the API or the widgets.

- :mod:`~napari_glra.glra.pseudo_inverse`: the regularised inverse ``k†`` of a kernel;
- :mod:`~napari_glra.glra.basis`: fitting (GLRAM) and storing the basis ``L``, ``R``;
- :mod:`~napari_glra.glra.network`: :class:`~napari_glra.glra.network.GLRANet`, a bare
  ``nn.Module``, and its :class:`~napari_glra.glra.network.NetConfig`;
- :mod:`~napari_glra.glra.model_io`: a model folder (weights, config, basis) on disk;
- :mod:`~napari_glra.glra.inference`: a kernel's coefficients and one network call.
"""
