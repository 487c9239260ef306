"""Is a kernel like the kernels a model was trained on?  A shape check for parametric families.

A model restores the blur it has seen.  The `microscopy` model, trained on Gaussian and
widefield defocus PSFs, brings back a disk blur of radius 10 with its mean 5 % off and
worse than the blurred input from radius 14 (``benchmarks/kernel_limits.py``), although
such a kernel is well inside its size limit and its basis represents it.  The engine
therefore compares the kernel's shape with the model's training families when all of them
are *parametric* (a few numbers describe every member): the distance to a family is the
smallest relative L2 difference ``‖k − f‖ / ‖k‖`` between the kernel and a bank of the
family's kernels (centred, same support, unit sum).

Measured (the banks below): random members of the families 0.00-0.03 (Gaussian) and
0.03-0.16 (defocus); disks of radius 3-13 0.32-0.41, boxes 0.44-0.46, motion paths
0.81-0.96 from the Gaussian/defocus banks; the bead PSF of ``../shared/data/microscopy``
0.12.  Above :data:`FAMILY_TOLERANCE` the engine warns.  A model trained on a
non-parametric family (``motion``: random camera paths) is not checked.
"""

from __future__ import annotations

import functools

import numpy as np

from napari_glra.engine.registry import available_models, load_model
from napari_glra.glra.model_io import ModelFiles
from napari_glra.physics.kernels import defocus_kernel, make_kernel, pad_to

__all__ = ["FAMILY_TOLERANCE", "PARAMETRIC", "family_distance", "family_warning", "training_families"]

#: Relative difference above which a kernel is unlike a family (see the module's measurements).
FAMILY_TOLERANCE = 0.25


@functools.cache
def _bank(family: str) -> tuple[np.ndarray, ...]:
    """Kernels spanning a parametric family (built once per process; defocus ~1 s)."""
    if family == "gaussian":
        return tuple(make_kernel("gaussian", sigma=s) for s in np.geomspace(0.5, 12.0, 60))
    if family == "disk":
        return tuple(make_kernel("disk", radius=r) for r in np.arange(1.0, 25.5, 0.5))
    if family == "defocus":
        return tuple(
            defocus_kernel(na, sampling, radius)[0]
            for na in (0.8, 1.1, 1.4)
            for sampling in (0.6, 0.8, 1.0, 1.3)
            for radius in (0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10)
        )
    raise ValueError(f"no bank for kernel family {family!r}; parametric families: {PARAMETRIC}")


#: Families whose members a bank spans (the others are not checked).
PARAMETRIC: tuple[str, ...] = ("gaussian", "disk", "defocus")


def family_distance(kernel: np.ndarray, family: str) -> float:
    """Smallest relative L2 difference between ``kernel`` and the members of ``family``'s bank.

    Parameters
    ----------
    kernel : numpy.ndarray
        A prepared kernel (odd, square, centred, unit sum).
    family : str
        One of :data:`PARAMETRIC`.

    Returns
    -------
    float
        ``min ‖k − f‖ / ‖k‖`` over the bank (0: a member).
    """
    k = np.asarray(kernel, np.float64)
    norm = float(np.linalg.norm(k))
    best = np.inf
    for member in _bank(family):
        n = max(k.shape[0], member.shape[0])
        a, b = pad_to(k, n), pad_to(member, n)
        best = min(best, float(np.linalg.norm(a - b / b.sum())) / norm)
    return best


def training_families(model: ModelFiles) -> list[str]:
    """The kernel families a model was trained on (its training record, else its basis's)."""
    t = model.config.get("training")
    fams = t.get("families") if isinstance(t, dict) else None
    if not fams:
        fams = list((model.basis.metadata.get("families") or {}).keys())
    return [str(f) for f in fams]


def family_warning(model: ModelFiles, kernel: np.ndarray) -> str | None:
    """The warning text when ``kernel`` is unlike every training family of ``model`` (else None).

    Only models trained on parametric families only are checked; then the other shipped
    models are looked at to suggest one trained on a family the kernel is like, or on
    motion blur (any path) when it is like none of the parametric ones.
    """
    fams = training_families(model)
    if not fams or any(f not in PARAMETRIC for f in fams):
        return None
    dist = {f: family_distance(kernel, f) for f in fams}
    if min(dist.values()) <= FAMILY_TOLERANCE:
        return None
    others = {f: family_distance(kernel, f) for f in PARAMETRIC if f not in dist}
    like = [f for f, d in sorted(others.items(), key=lambda kv: kv[1]) if d <= FAMILY_TOLERANCE]
    wanted = like[0] if like else "motion"
    covering = [
        name
        for name in available_models()
        if name != model.name and wanted in training_families(load_model(name))
    ]
    shape = f"like a {wanted} kernel" if like else "like none of the Gaussian, disk and defocus kernels"
    advice = (
        f"model {covering[0]!r} was trained on {wanted} kernels"
        if covering
        else "no shipped model was trained on such kernels"
    )
    closest = ", ".join(f"{f} {d:.2f}" for f, d in dist.items())
    return (
        f"the kernel is unlike the {'/'.join(fams)} kernels model {model.name!r} was trained on "
        f"(relative difference to the closest: {closest}; above {FAMILY_TOLERANCE:g} the results may be "
        f"wrong); it is {shape}: {advice}"
    )
