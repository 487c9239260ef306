"""The image formation model: blur kernels, microscope optics, PSF preparation, degradation.

Layer 1 of the package: imports nothing of napari_glra except the shared private helpers
(``napari_glra._checks``, ``napari_glra._fft``).

- :mod:`~napari_glra.physics.kernels`: Gaussian, disk, motion and defocus kernels, and
  the random kernels the trainer samples;
- :mod:`~napari_glra.physics.optics`: widefield microscope PSFs (defocus, Gibson-Lanni);
- :mod:`~napari_glra.physics.psf`: turning a measured or generated PSF into a kernel;
- :mod:`~napari_glra.physics.degrade`: blur, saturation and noise;
- :mod:`~napari_glra.physics.synthetic`: procedural fluorescence images.
"""
