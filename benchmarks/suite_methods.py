"""The protocol's degraded inputs replayed, and the restorations the suite runs on them.

:func:`cases` draws each (family, noise) cell's kernels and noise with the generator of
:func:`glra_trainer.evaluate.run_evaluate` (:func:`~glra_trainer.evaluate.case_rng`), so the
methods added here see the evaluation's inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
from suite_settings import CLASSICAL


def cases(images: list[np.ndarray], families: list[str], fam: str, noise: float, seed: int):
    """Replay the evaluation's degraded inputs of one (family, noise) cell.

    Yields ``(i, y, sharp, k, params)`` per image, with the RNG use of ``run_evaluate``.
    """
    from glra_trainer.baselines import degrade_level
    from glra_trainer.evaluate import case_rng
    from napari_glra.physics.kernels import sample_kernel

    rng = case_rng(seed, noise, families.index(fam))
    for i, x in enumerate(images):
        k, params = sample_kernel(fam, rng)
        y, xs = degrade_level(x, k, noise, rng)
        yield i, y, xs, k, params


def tuned_params(tuned: dict, method: str, fam: str, noise: float) -> dict:
    """Tuned parameters from an evaluation summary (either layout of ``tuned_parameters``)."""
    if "results" in tuned:
        from glra_trainer.baselines import params_for

        return params_for(tuned, method, fam, noise)
    return dict(tuned[method][fam][str(noise)]["params"])


def uwiener(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """scikit-image's unsupervised Wiener-Hunt (self-tuned), on the mirror-padded observation."""
    from skimage.restoration import unsupervised_wiener

    from napari_glra.classical import pad_for_fft

    yp, crop = pad_for_fft(y, k.shape)
    out, _ = unsupervised_wiener(yp, k, clip=False, rng=0)
    return np.asarray(out[crop], dtype=np.float64)


def engine_restore(y, k, noise_level, model, device, **kwargs):
    """``napari_glra.api.deconvolve`` as users run it, its kernel-fit warning silenced.

    (The benchmark's kernels include deliberately poorly represented ones; their fit error
    is reported in the tables instead.)
    """
    from napari_glra import api

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", api.KernelFitWarning)
        return api.deconvolve(y, k, noise_level=noise_level, model=model, device=str(device), **kwargs)


def restore_all(model, y, k, noise, fam, tuned, device, methods) -> dict[str, np.ndarray]:
    """Every method's restoration of one observation (for the grid), clipped to [0, 1]."""
    from glra_trainer.baselines import run_baseline
    from napari_glra.glra.inference import restore_plane

    out = {"blurred": y}
    for m in methods:
        if m == "model":  # the engine, as in the protocol's table (border extension included)
            out[m] = engine_restore(y, k, noise, model, device)
        elif m == "linear":
            out[m] = restore_plane(model, y, k, noise, device=device, linear_only=True)
        elif m in CLASSICAL:
            out[m] = run_baseline(m, y, k, tuned_params(tuned, m, fam, noise))
        elif m == "uwiener":
            out[m] = uwiener(y, k)
        elif m == "model_est":
            out[m] = engine_restore(y, k, None, model, device)
    return {m: np.clip(v, 0, 1) for m, v in out.items()}
