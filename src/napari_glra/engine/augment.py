"""Test-time augmentation: the restoration averaged over the 8 flips and rotations of a plane.

Blur commutes with the dihedral group of the square grid when the kernel is transformed
alike (``g(x ⊛ k) = g(x) ⊛ g(k)`` for the 4 rotations by 90° and their mirror images), so
each of the 8 transformed problems ``(g(y), g(k))`` is a valid input of the same network.
Its errors are not transformed alike (the network is not equivariant), and averaging the
8 restorations brought back (``g⁻¹``) reduces them, at 8 times the run time ("x8"
self-ensemble, Lim et al. 2017; CAREamics calls it TTA).  Measured on the model cards
(docs/inference.md): +0.14 to +0.31 dB for ``microscopy`` at 10-1000 photons, +0.03 to
+0.15 dB for ``default`` on natural images.

Each transformed plane goes through the engine's usual path (border extension, tiles,
resident GPU planes) with a plan of its own (:mod:`~napari_glra.engine.execute`): the
transformed kernel, its coefficients (computed once, in
:func:`~napari_glra.engine.plan.make_plan`) and tiles for its shape; the intensity map
and noise level are those of the whole run.
"""

from __future__ import annotations

import numpy as np

from napari_glra.glra.inference import kernel_coefficients
from napari_glra.glra.model_io import ModelFiles

__all__ = ["TRANSFORMS", "backward", "forward", "transformed_kernels"]

#: The 8 elements of the square's symmetry group as ``(flip rows first, quarter turns)``.
TRANSFORMS: tuple[tuple[bool, int], ...] = tuple((f, r) for f in (False, True) for r in range(4))


def forward(a: np.ndarray, index: int) -> np.ndarray:
    """Transform ``TRANSFORMS[index]`` of the last two axes of ``a`` (a view)."""
    flip, turns = TRANSFORMS[index]
    if flip:
        a = a[..., ::-1, :]
    return np.rot90(a, turns, axes=(-2, -1))


def backward(a: np.ndarray, index: int) -> np.ndarray:
    """The inverse of :func:`forward` (a view): ``backward(forward(a, i), i)`` equals ``a``."""
    flip, turns = TRANSFORMS[index]
    a = np.rot90(a, -turns, axes=(-2, -1))
    return a[..., ::-1, :] if flip else a


def transformed_kernels(
    model: ModelFiles, kernel: np.ndarray, noise_level: float
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``(g(kernel), M of g(kernel))`` for each transform of :data:`TRANSFORMS` (the identity first)."""
    out = []
    for i in range(len(TRANSFORMS)):
        k = np.ascontiguousarray(forward(kernel, i))
        out.append((k, kernel_coefficients(model, k, noise_level)[0]))
    return tuple(out)
